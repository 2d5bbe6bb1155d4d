//! Which databases and retention policies a task reads, and the refusal of
//! a stream task that does not say.
//!
//! As in Kapacitor, the dbrps given with the task (the API's `dbrps`, the
//! CLI's `-dbrp`, the YAML's `dbrp`) come first; without them the script's
//! `dbrp "db"."rp"` statements say. A stream task with neither reads
//! nothing in Kapacitor and is refused; here the seed's forms, the YAML's
//! (or `define streamer`'s) `from` and `where`, also say what a task reads,
//! and with them and no dbrp the task reads every database.

use pipeline::DbRp;

use super::{TaskDefinition, TaskError};

/// The dbrps the task reads: those given with it, else its script's
/// statements, without repeats. Empty: every database and retention policy.
pub(super) fn resolve(def: &TaskDefinition, plan: &dsl::Plan) -> Vec<DbRp> {
    let given = if def.dbrps.is_empty() {
        &plan.dbrps
    } else {
        &def.dbrps
    };
    let mut dbrps: Vec<DbRp> = Vec::with_capacity(given.len());
    for d in given {
        if !dbrps.contains(d) {
            dbrps.push(d.clone());
        }
    }
    dbrps
}

/// Refuses a stream task that says nothing of what it reads, which would
/// otherwise see every database without a word (Kapacitor: "must specify
/// dbrp").
pub(super) fn require_source(def: &TaskDefinition, dbrps: &[DbRp]) -> Result<(), TaskError> {
    let seed_form = def.measurement.is_some() || def.meta.contains_key("where");
    if def.task_type == dsl::TaskType::Stream && dbrps.is_empty() && !seed_form {
        return Err(TaskError::NoDbrp(def.id.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use pipeline::DbRp;

    use super::{TaskDefinition, require_source, resolve};

    fn def(script: &str, dbrps: Vec<DbRp>) -> (TaskDefinition, dsl::Plan) {
        let def = TaskDefinition {
            id: "t".into(),
            task_type: dsl::TaskType::Stream,
            dbrps,
            script: script.into(),
            measurement: None,
            meta: BTreeMap::new(),
        };
        let plan = dsl::compile(script, dsl::TaskType::Stream).unwrap();
        (def, plan)
    }

    #[test]
    fn the_script_says_when_nothing_is_given() {
        let (d, plan) = def(
            "dbrp \"telegraf\".\"autogen\"\ndbrp \"telegraf\".\"autogen\"\ndbrp \"x\".\"y\"\nstream|from()",
            vec![],
        );
        assert_eq!(
            resolve(&d, &plan),
            vec![DbRp::new("telegraf", "autogen"), DbRp::new("x", "y")]
        );
    }

    #[test]
    fn what_is_given_wins_over_the_script() {
        let (d, plan) = def(
            "dbrp \"telegraf\".\"autogen\"\nstream|from()",
            vec![DbRp::new("other", "rp")],
        );
        assert_eq!(resolve(&d, &plan), vec![DbRp::new("other", "rp")]);
    }

    #[test]
    fn a_stream_task_reading_nothing_named_is_refused() {
        let (mut d, plan) = def("stream|from()", vec![]);
        let e = require_source(&d, &resolve(&d, &plan)).unwrap_err();
        assert!(e.to_string().starts_with("must specify dbrp"), "{e}");
        // The seed's forms say what it reads.
        d.measurement = Some("cpu".into());
        require_source(&d, &[]).unwrap();
        d.measurement = None;
        d.meta.insert("where".into(), "cpu = 'cpu-total'".into());
        require_source(&d, &[]).unwrap();
        // A batch task's queries name their databases.
        d.meta.clear();
        d.task_type = dsl::TaskType::Batch;
        require_source(&d, &[]).unwrap();
    }
}
