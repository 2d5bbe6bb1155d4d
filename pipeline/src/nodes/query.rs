//! `query`: the source of a batch task's batches. The scheduler that runs
//! the query against InfluxDB comes with batch tasks; until then batches are
//! fed to this node directly (replays, tests) and it passes them on.

use crate::batch::Message;
use crate::node::{Node, NodeError};

pub struct QueryNode;

impl Node for QueryNode {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        out.push(msg);
        Ok(())
    }
}
