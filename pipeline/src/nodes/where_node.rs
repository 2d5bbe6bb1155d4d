//! `where`: keeps the points for which a lambda is true. On a batch edge it
//! filters the points inside each batch and keeps the batch. Each group has
//! its own copy of the lambda's state (`sigma`, `count`, …), as in
//! Kapacitor; a point whose lambda fails is dropped and the error counted.

use dsl::{NodeSpec, Value};

use crate::batch::Message;
use crate::lambda::{LambdaRunner, Scope};
use crate::node::{Node, NodeError, process_by_edit};
use crate::spec::BuildError;

pub struct WhereNode {
    lambda: LambdaRunner,
}

impl WhereNode {
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        match spec.args.first() {
            Some(Value::Lambda(l)) => Ok(WhereNode {
                lambda: LambdaRunner::new(l.clone())
                    .map_err(|e| BuildError::invalid(spec, e.to_string()))?,
            }),
            _ => Err(BuildError::invalid(
                spec,
                "where() takes a lambda expression",
            )),
        }
    }
}

impl Node for WhereNode {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        process_by_edit(self, msg, out)
    }

    fn edits_in_place(&self) -> bool {
        true
    }

    fn edit(&mut self, msg: &mut Message) -> (bool, Result<(), NodeError>) {
        match msg {
            Message::Point(point, group) => {
                let scope = Scope {
                    fields: &point.fields,
                    tags: point.tags(),
                    time: point.time,
                };
                match self.lambda.eval_bool(group, &scope) {
                    Ok(keep) => (keep, Ok(())),
                    Err(e) => (false, Err(e)),
                }
            }
            Message::Batch(batch) => {
                let mut first_error = None;
                let lambda = &mut self.lambda;
                let group = &batch.group;
                batch.points.retain(|p| {
                    let scope = Scope {
                        fields: &p.fields,
                        tags: &p.tags,
                        time: p.time,
                    };
                    match lambda.eval_bool(group, &scope) {
                        Ok(keep) => keep,
                        Err(e) => {
                            first_error.get_or_insert(e);
                            false
                        }
                    }
                });
                (true, first_error.map_or(Ok(()), Err))
            }
            Message::DeleteGroup(group) => {
                self.lambda.forget(group);
                (true, Ok(()))
            }
            Message::Barrier { .. } => (true, Ok(())),
        }
    }
}
