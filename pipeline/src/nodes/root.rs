//! `stream` and `batch`: the root of a task. What arrives here was already
//! routed to the task (points) or queried for it (batches); the root passes
//! it on, points in the nil group for `from` to regroup.

use crate::batch::Message;
use crate::node::{Node, NodeError};

pub struct RootNode;

impl Node for RootNode {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        out.push(msg);
        Ok(())
    }
}
