//! `where`: keeps the points for which a lambda is true. On a batch edge it
//! filters the points inside each batch and keeps the batch.

use dsl::{Lambda, NodeSpec, Value};

use crate::batch::Message;
use crate::lambda::{Scope, eval_bool};
use crate::node::{Node, NodeError};
use crate::spec::BuildError;

pub struct WhereNode {
    lambda: Lambda,
}

impl WhereNode {
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        match spec.args.first() {
            Some(Value::Lambda(l)) => Ok(WhereNode { lambda: l.clone() }),
            _ => Err(BuildError::invalid(
                spec,
                "where() takes a lambda expression",
            )),
        }
    }
}

impl Node for WhereNode {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        match msg {
            Message::Point(point, group) => {
                let scope = Scope {
                    fields: &point.fields,
                    tags: point.tags(),
                    time: point.time,
                };
                if eval_bool(&self.lambda, &scope)? {
                    out.push(Message::Point(point, group));
                }
            }
            Message::Batch(mut batch) => {
                let mut first_error = None;
                batch.points.retain(|p| {
                    let scope = Scope {
                        fields: &p.fields,
                        tags: &p.tags,
                        time: p.time,
                    };
                    match eval_bool(&self.lambda, &scope) {
                        Ok(keep) => keep,
                        Err(e) => {
                            first_error.get_or_insert(e);
                            false
                        }
                    }
                });
                out.push(Message::Batch(batch));
                if let Some(e) = first_error {
                    return Err(e);
                }
            }
            other => out.push(other),
        }
        Ok(())
    }
}
