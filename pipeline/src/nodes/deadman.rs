//! `deadman(threshold, interval, [lambda...])`: alerts when a node emits
//! `threshold` points per interval or fewer. As in Kapacitor it is
//! `stats(interval).align()`, then `derivative('emitted').nonNegative()`
//! with unit `interval`, then an alert critical when `emitted <= threshold`
//! (and every extra lambda holds). One node here rather than three, so the
//! plan, its DOT and its counters show what the user wrote; the alert
//! properties chained after it (`.id()`, `.message()`, `.stateChangesOnly()`,
//! handlers) apply to the inner alert.
//!
//! The ID and message default to Kapacitor's: `{{ .Group }}:NODE for task
//! '{{ .TaskName }}'`, naming the watched node, and `{{ .ID }} is alive|dead:
//! N points/INTERVAL.`.

use std::sync::Arc;

use dsl::{Lambda, NodeSpec, Value};

use super::alert::{AlertNode, AlertSink, AlertSpec, EvalInput, go_duration};
use super::derivative::DerivativeNode;
use super::stats::StatsNode;
use crate::batch::Message;
use crate::lambda::{Scope, eval_bool};
use crate::node::{Node, NodeError};
use crate::point::FieldValue;
use crate::spec::{BuildError, SpecExt};

/// Kapacitor's `[deadman]` defaults; `NODE_NAME` and `INTERVAL` are
/// replaced when the node is built.
pub const DEFAULT_ID: &str = "{{ .Group }}:NODE_NAME for task '{{ .TaskName }}'";
pub const DEFAULT_MESSAGE: &str = "{{ .ID }} is {{ if eq .Level \"OK\" }}alive{{ else }}dead{{ end }}: {{ index .Fields \"emitted\" | printf \"%0.3f\" }} points/INTERVAL.";

pub struct DeadmanNode {
    stats: StatsNode,
    rate: DerivativeNode,
    alert: AlertNode,
    counts: Vec<Message>,
    rates: Vec<Message>,
}

impl DeadmanNode {
    /// The deadman `spec` watching the node named `source`; its alert's ID
    /// and message default to `id` and `message` (`None`: Kapacitor's).
    pub fn from_spec(
        spec: &NodeSpec,
        source: &str,
        task_name: &str,
        sink: Arc<dyn AlertSink>,
        id: Option<&str>,
        message: Option<&str>,
    ) -> Result<Self, BuildError> {
        let threshold = match spec.arg(0) {
            Some(Value::Float(f)) => *f,
            Some(Value::Int(i)) => *i as f64,
            _ => return Err(BuildError::invalid(spec, "deadman needs a threshold")),
        };
        let interval = match spec.arg(1) {
            Some(Value::Duration(d)) if *d > 0 => *d,
            _ => return Err(BuildError::unchecked(spec, "the interval")),
        };
        let extra: Vec<Lambda> = spec.args[2..]
            .iter()
            .map(|v| match v {
                Value::Lambda(l) => Ok(l.clone()),
                other => Err(BuildError::invalid(
                    spec,
                    format!(
                        "deadman takes lambdas after its interval, not {}",
                        other.type_name()
                    ),
                )),
            })
            .collect::<Result<_, _>>()?;
        let mut alert = AlertSpec::from_plan(spec, task_name)?;
        if !spec.has_prop("id") {
            alert.id = id.unwrap_or(DEFAULT_ID).replacen("NODE_NAME", source, 1);
        }
        if !spec.has_prop("message") {
            alert.message =
                message
                    .unwrap_or(DEFAULT_MESSAGE)
                    .replacen("INTERVAL", &go_duration(interval), 1);
        }
        if !spec.has_prop("crit") {
            alert = alert.crit(move |input: &EvalInput<'_>| dead(threshold, &extra, input));
        }
        let stats = StatsNode::new(interval, true).map_err(|e| BuildError::invalid(spec, e.0))?;
        let emitted = crate::point::Name::from("emitted");
        let rate = DerivativeNode::new(emitted.clone(), emitted, interval, true);
        let alert = AlertNode::new(alert, sink).map_err(|e| BuildError::invalid(spec, e.0))?;
        Ok(DeadmanNode {
            stats,
            rate,
            alert,
            counts: Vec::new(),
            rates: Vec::new(),
        })
    }

    /// Keeps the alert's states in `store` (see [`AlertNode::with_state_store`]).
    pub fn with_state_store(mut self, store: Arc<dyn super::alert::AlertStateStore>) -> Self {
        self.alert = self.alert.with_state_store(store);
        self
    }

    /// Inhibits and is inhibited as its `.inhibit()` and `.category()`
    /// say (see [`AlertNode::with_inhibitions`]).
    pub fn with_inhibitions(mut self, inhibitions: Arc<super::alert::Inhibitions>) -> Self {
        self.alert = self.alert.with_inhibitions(inhibitions);
        self
    }

    /// Runs what the stats part emitted through the rate and the alert.
    fn drain(&mut self, out: &mut Vec<Message>) -> Result<(), NodeError> {
        let mut first_error = None;
        for msg in self.counts.drain(..) {
            if let Err(e) = self.rate.process(msg, &mut self.rates) {
                first_error.get_or_insert(e);
            }
        }
        for msg in self.rates.drain(..) {
            if let Err(e) = self.alert.process(msg, out) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// The default critical condition: at most `threshold` points per interval,
/// and every extra lambda true.
fn dead(threshold: f64, extra: &[Lambda], input: &EvalInput<'_>) -> Result<bool, NodeError> {
    let rate = match input.fields.get("emitted") {
        Some(FieldValue::Float(f)) => *f,
        Some(FieldValue::Integer(i)) => *i as f64,
        _ => return Err(NodeError::new("deadman: no \"emitted\" rate")),
    };
    if rate > threshold {
        return Ok(false);
    }
    let scope = Scope {
        fields: input.fields,
        tags: input.tags,
        time: input.time,
    };
    for lambda in extra {
        if !eval_bool(lambda, &scope)? {
            return Ok(false);
        }
    }
    Ok(true)
}

impl Node for DeadmanNode {
    fn alerts_triggered(&self) -> Option<[u64; 4]> {
        Some(self.alert.sent_by_level())
    }

    fn groups(&self) -> usize {
        self.alert.groups()
    }

    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        self.stats.process(msg, &mut self.counts)?;
        self.drain(out)
    }

    fn tick(&mut self, now: i64, out: &mut Vec<Message>) -> Option<i64> {
        let next = self.stats.tick(now, &mut self.counts);
        if let Err(e) = self.drain(out) {
            tracing::debug!("deadman: {e}");
        }
        next
    }
}
