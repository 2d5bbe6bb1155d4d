//! A topic handler's `match` expression at run time: compiled once by
//! `dsl::compile_match`, evaluated per event against the event's tags (then
//! its fields) and its `level()`, `changed()`, `name()`, `taskName()` and
//! `alertDuration()`.

use dsl::{EvalState, EvalValue, Lambda, PointScope};
use pipeline::nodes::alert::{AlertEvent, Level};

/// A compiled match expression and what its functions keep.
pub(crate) struct Matcher {
    lambda: Lambda,
    state: EvalState,
}

/// What a match expression reads of one event.
struct EventScope<'a> {
    event: &'a AlertEvent,
    changed: bool,
}

impl PointScope for EventScope<'_> {
    /// Tags first (Kapacitor's match expressions read tags), then fields.
    fn lookup(&self, name: &str) -> Option<EvalValue> {
        let tags = &self.event.tags;
        if let Ok(i) = tags.binary_search_by(|(k, _)| (**k).cmp(name)) {
            return Some(EvalValue::String(tags[i].1.to_string()));
        }
        self.event.fields.get(name).map(pipeline::lambda::to_eval)
    }

    fn time(&self) -> i64 {
        self.event.time
    }

    fn function(&self, name: &str) -> Option<EvalValue> {
        Some(match name {
            "changed" => EvalValue::Bool(self.changed),
            "level" => EvalValue::Int(
                Level::ALL
                    .iter()
                    .position(|l| *l == self.event.level)
                    .unwrap_or(0) as i64,
            ),
            "name" => EvalValue::String(self.event.name.to_string()),
            "taskName" => EvalValue::String(self.event.task_name.clone()),
            "alertDuration" => EvalValue::Duration(self.event.duration),
            _ => return None,
        })
    }
}

impl Matcher {
    /// Compiles `source`; the error is rendered with `match:LINE:COL`.
    pub fn new(source: &str, limits: &dsl::Limits) -> Result<Matcher, String> {
        let lambda = dsl::compile_match(source, limits).map_err(|d| {
            d.render("match", source)
                .lines()
                .next()
                .unwrap_or("invalid match expression")
                .replacen(": error: ", ": ", 1)
        })?;
        let state = EvalState::for_lambda(&lambda).map_err(|e| format!("match: {e}"))?;
        Ok(Matcher { lambda, state })
    }

    /// Whether `event` matches; `changed` says whether its level differs
    /// from the id's previous event in the topic.
    pub fn matches(&mut self, event: &AlertEvent, changed: bool) -> Result<bool, String> {
        let scope = EventScope { event, changed };
        match self.lambda.eval_with(&scope, &mut self.state) {
            Ok(EvalValue::Bool(b)) => Ok(b),
            Ok(other) => Err(format!(
                "match expression returned {}, not bool",
                other.type_name()
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}
