//! `barrier()`: emits a barrier for a group that goes quiet, so windows and
//! other nodes below it close what they hold without waiting for the next
//! point. As in Kapacitor, per group:
//!
//! - `.idle(d)`: when no point came for `d` on the task's clock, a barrier
//!   at the last point's time plus `d`; it repeats every `d` while the group
//!   stays quiet.
//! - `.period(d)`: a barrier every `d`, at the clock's time.
//! - `.delete(TRUE)`: after its barrier the group is deleted, here and in
//!   every node below, so a group that stopped sending costs nothing.
//!
//! Points (and barriers) older than the group's last barrier are dropped:
//! the nodes below have closed that time already.

use std::collections::HashMap;

use dsl::{NodeSpec, Value};

use crate::batch::Message;
use crate::group::GroupKey;
use crate::node::{Node, NodeError};
use crate::runtime::Clock;
use crate::spec::{BuildError, SpecExt};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Idle(i64),
    Period(i64),
}

struct GroupTimer {
    /// Data time of the last point; a new idle barrier comes `idle` after.
    last_point: i64,
    /// Data time of the last barrier sent; older data is dropped.
    last_barrier: i64,
    /// Clock time when the next barrier is due.
    due: i64,
}

pub struct BarrierNode {
    mode: Mode,
    delete: bool,
    clock: Clock,
    groups: HashMap<GroupKey, GroupTimer>,
}

impl BarrierNode {
    pub fn from_spec(spec: &NodeSpec, clock: Clock) -> Result<Self, BuildError> {
        let idle = spec.prop_duration("idle")?.unwrap_or(0);
        let period = spec.prop_duration("period")?.unwrap_or(0);
        let mode = match (idle, period) {
            (i, 0) if i > 0 => Mode::Idle(i),
            (0, p) if p > 0 => Mode::Period(p),
            _ => return Err(BuildError::unchecked(spec, ".idle() or .period()")),
        };
        let delete = match spec.prop("delete") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(BuildError::invalid(
                    spec,
                    format!(".delete() takes TRUE or FALSE, not {}", other.type_name()),
                ));
            }
        };
        Ok(BarrierNode {
            mode,
            delete,
            clock,
            groups: HashMap::new(),
        })
    }

    /// Whether data at `time` of `group` still passes, noting it.
    fn admit(&mut self, group: &GroupKey, time: i64) -> bool {
        let now = self.clock.now();
        let mode = self.mode;
        let timer = self
            .groups
            .entry(group.clone())
            .or_insert_with(|| GroupTimer {
                last_point: time,
                last_barrier: i64::MIN,
                due: now
                    + match mode {
                        Mode::Idle(d) | Mode::Period(d) => d,
                    },
            });
        if time < timer.last_barrier {
            return false;
        }
        if let Mode::Idle(d) = mode {
            timer.last_point = time;
            timer.due = now + d;
        }
        true
    }
}

impl Node for BarrierNode {
    fn groups(&self) -> usize {
        self.groups.len()
    }

    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        let pass = match &msg {
            Message::Point(p, group) => self.admit(group, p.time),
            Message::Batch(b) => self.admit(&b.group, b.tmax),
            Message::Barrier {
                group: Some(group),
                time,
            } => {
                let pass = self.admit(group, *time);
                if let Some(timer) = self.groups.get_mut(group).filter(|_| pass) {
                    timer.last_barrier = *time;
                }
                pass
            }
            Message::Barrier { group: None, .. } => true,
            Message::DeleteGroup(group) => {
                self.groups.remove(group);
                true
            }
        };
        if pass {
            out.push(msg);
        }
        Ok(())
    }

    fn tick(&mut self, now: i64, out: &mut Vec<Message>) -> Option<i64> {
        // In group order, so that runs are reproducible.
        let mut due: Vec<GroupKey> = (self.groups.iter())
            .filter(|(_, t)| t.due <= now)
            .map(|(g, _)| g.clone())
            .collect();
        due.sort_by(|a, b| a.id().cmp(b.id()));
        for group in due {
            let Some(timer) = self.groups.get_mut(&group) else {
                continue;
            };
            let time = match self.mode {
                Mode::Idle(d) => {
                    timer.due = now + d;
                    timer.last_point += d;
                    timer.last_point
                }
                Mode::Period(d) => {
                    timer.due += d * ((now - timer.due) / d + 1);
                    now
                }
            };
            timer.last_barrier = time;
            out.push(Message::Barrier {
                group: Some(group.clone()),
                time,
            });
            if self.delete {
                self.groups.remove(&group);
                out.push(Message::DeleteGroup(group));
            }
        }
        let next = self.groups.values().map(|t| t.due).min();
        Some(next.unwrap_or(
            now + match self.mode {
                Mode::Idle(d) | Mode::Period(d) => d,
            },
        ))
    }
}
