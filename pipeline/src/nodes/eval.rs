//! `eval`: computes new fields (or tags) from lambdas, named by `.as()`.
//!
//! Lambdas run in order and a later one may read an earlier one's result by
//! its name, unless the point itself has a field or tag of that name (the
//! point wins, as in Kapacitor). Without `.keep()` the point keeps only the
//! results; `.keep()` keeps every field, `.keep('a', 'b')` just those.
//! `.tags()` names results that become tags (they must be strings). A point
//! whose lambdas fail is dropped; `.quiet()` drops it without an error.

use std::collections::HashMap;

use dsl::{EvalState, EvalValue, Lambda, NodeSpec, PointScope, Value};

use crate::batch::Message;
use crate::group::GroupKey;
use crate::lambda::{Scope, to_field};
use crate::node::{Node, NodeError};
use crate::point::{FieldValue, Fields, Name, Tags};
use crate::spec::{BuildError, SpecExt, names};

/// What `.keep()` asked for.
enum Keep {
    Nothing,
    All,
    Only(Vec<Name>),
}

pub struct EvalNode {
    lambdas: Vec<Lambda>,
    /// Compiled regexes of each lambda; a group's states start as forks.
    templates: Vec<EvalState>,
    /// Per group, one state per lambda, for stateful functions (`sigma()`,
    /// `count()`, ...), as Kapacitor copies the expressions per group.
    states: HashMap<GroupKey, Vec<EvalState>>,
    stateful: bool,
    names: Vec<Name>,
    tags: Vec<Name>,
    keep: Keep,
    quiet: bool,
}

/// A point's fields and tags, then the results computed so far.
struct EvalScope<'a> {
    point: Scope<'a>,
    results: &'a [(Name, EvalValue)],
}

impl PointScope for EvalScope<'_> {
    fn lookup(&self, name: &str) -> Option<EvalValue> {
        self.point.lookup(name).or_else(|| {
            self.results
                .iter()
                .find(|(k, _)| &**k == name)
                .map(|(_, v)| v.clone())
        })
    }

    fn time(&self) -> i64 {
        self.point.time
    }
}

impl EvalNode {
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        let mut lambdas = Vec::new();
        for v in &spec.args {
            match v {
                Value::Lambda(l) => lambdas.push(l.clone()),
                other => {
                    return Err(BuildError::invalid(
                        spec,
                        format!("eval() takes lambda expressions, not {}", other.type_name()),
                    ));
                }
            }
        }
        let (mut as_names, mut tags) = (Vec::new(), Vec::new());
        let mut keep = Keep::Nothing;
        for p in &spec.properties {
            match p.name.as_str() {
                "as" => names(spec, "as", &p.args, &mut as_names)?,
                "tags" => names(spec, "tags", &p.args, &mut tags)?,
                "keep" => {
                    let mut list = Vec::new();
                    names(spec, "keep", &p.args, &mut list)?;
                    keep = if list.is_empty() {
                        Keep::All
                    } else {
                        Keep::Only(list)
                    };
                }
                _ => {}
            }
        }
        if as_names.len() != lambdas.len() {
            return Err(BuildError::unchecked(spec, ".as()"));
        }
        let mut templates = Vec::with_capacity(lambdas.len());
        for l in &lambdas {
            templates.push(
                EvalState::for_lambda(l).map_err(|e| BuildError::invalid(spec, e.to_string()))?,
            );
        }
        Ok(EvalNode {
            stateful: lambdas.iter().any(Lambda::is_stateful),
            templates,
            states: HashMap::new(),
            lambdas,
            names: as_names,
            tags,
            keep,
            quiet: spec.has_prop("quiet"),
        })
    }

    /// The new fields and tags of one point.
    fn eval(
        &mut self,
        group: &GroupKey,
        fields: &Fields,
        tags: &Tags,
        time: i64,
    ) -> Result<(Fields, Option<Tags>), NodeError> {
        let mut results: Vec<(Name, EvalValue)> = Vec::with_capacity(self.lambdas.len());
        let states = if self.stateful {
            let templates = &self.templates;
            self.states
                .entry(group.clone())
                .or_insert_with(|| templates.iter().map(EvalState::fork).collect())
        } else {
            &mut self.templates
        };
        for ((lambda, name), state) in self.lambdas.iter().zip(&self.names).zip(states.iter_mut()) {
            let scope = EvalScope {
                point: Scope { fields, tags, time },
                results: &results,
            };
            let value = lambda
                .eval_with(&scope, state)
                .map_err(|e| NodeError::new(e.to_string()))?;
            results.retain(|(k, _)| k != name);
            results.push((name.clone(), value));
        }
        let result = |name: &Name| results.iter().find(|(k, _)| k == name).map(|(_, v)| v);

        let new_tags = if self.tags.is_empty() {
            None
        } else {
            let mut out: Vec<(Name, Name)> = tags
                .iter()
                .filter(|(k, _)| !self.tags.contains(k))
                .cloned()
                .collect();
            for t in &self.tags {
                match result(t) {
                    Some(EvalValue::String(s)) => out.push((t.clone(), Name::from(s.as_str()))),
                    other => {
                        return Err(NodeError::new(format!(
                            "result of a tag expression must be of type string, got {}",
                            other.map_or_else(|| "nothing".to_string(), |v| format!("{v:?}"))
                        )));
                    }
                }
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Some(out.into())
        };

        let as_field = |name: &Name| result(name).cloned().map(to_field);
        let new_fields = match &self.keep {
            Keep::Only(list) => {
                let mut pairs: Vec<(Name, FieldValue)> = Vec::with_capacity(list.len());
                for f in list {
                    let v = as_field(f)
                        .or_else(|| fields.get(f).cloned())
                        .ok_or_else(|| {
                            NodeError::new(format!("cannot keep field {f:?}, field does not exist"))
                        })?;
                    pairs.push((f.clone(), v));
                }
                Fields::from_pairs(pairs)
            }
            // Kapacitor keeps the results named in .tags() as fields too here.
            Keep::All => fields.with(
                self.names
                    .iter()
                    .filter_map(|n| Some((n.clone(), as_field(n)?))),
            ),
            Keep::Nothing => Fields::from_pairs(
                self.names
                    .iter()
                    .filter(|n| !self.tags.contains(n))
                    .filter_map(|n| Some((n.clone(), as_field(n)?))),
            ),
        };
        Ok((new_fields, new_tags))
    }

    fn failed(&self, e: NodeError) -> Result<(), NodeError> {
        if self.quiet { Ok(()) } else { Err(e) }
    }
}

impl Node for EvalNode {
    fn groups(&self) -> usize {
        self.states.len()
    }

    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        match msg {
            Message::Point(mut point, group) => {
                match self.eval(&group, &point.fields, point.tags(), point.time) {
                    Ok((fields, tags)) => {
                        point.fields = fields;
                        if let Some(tags) = tags {
                            let series = crate::point::Series::new(
                                point.measurement().clone(),
                                tags.to_vec(),
                            )
                            .map_err(|e| NodeError::new(e.to_string()))?;
                            point.series = series.into();
                        }
                        out.push(Message::Point(point, group));
                    }
                    Err(e) => return self.failed(e),
                }
            }
            Message::Batch(mut batch) => {
                let mut error = None;
                let points = std::mem::take(&mut batch.points);
                for mut p in points {
                    match self.eval(&batch.group, &p.fields, &p.tags, p.time) {
                        Ok((fields, tags)) => {
                            p.fields = fields;
                            if let Some(tags) = tags {
                                p.tags = tags;
                            }
                            batch.points.push(p);
                        }
                        Err(e) => {
                            error.get_or_insert(e);
                        }
                    }
                }
                out.push(Message::Batch(batch));
                if let Some(e) = error {
                    return self.failed(e);
                }
            }
            Message::DeleteGroup(group) => {
                self.states.remove(&group);
                out.push(Message::DeleteGroup(group));
            }
            other => out.push(other),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::group::GroupKey;
    use crate::point::{Point, Series};

    fn node(script: &str) -> EvalNode {
        let spec = &crate::testing::node_spec(script, "eval");
        EvalNode::from_spec(spec).unwrap()
    }

    fn run(node: &mut EvalNode) -> Result<Vec<Message>, NodeError> {
        let series = Series::new("m".into(), vec![("host".into(), "a".into())]).unwrap();
        let p = Point {
            series: Arc::new(series),
            fields: Fields::from_pairs([
                ("value0".into(), FieldValue::Float(0.0)),
                ("value1".into(), FieldValue::Float(1.0)),
            ]),
            time: 1,
        };
        let mut out = Vec::new();
        node.process(Message::Point(p, GroupKey::nil()), &mut out)?;
        Ok(out)
    }

    fn fields(out: &[Message]) -> Vec<(String, FieldValue)> {
        match out {
            [Message::Point(p, _)] => p
                .fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn keep_all_adds_results_to_the_fields() {
        let mut n = node(
            "stream|from()|eval(lambda: \"value0\" + \"value1\", lambda: \"value0\" - \"value1\").as('pos', 'neg').keep()",
        );
        let got = fields(&run(&mut n).unwrap());
        assert_eq!(
            got,
            [
                ("value0".into(), FieldValue::Float(0.0)),
                ("value1".into(), FieldValue::Float(1.0)),
                ("pos".into(), FieldValue::Float(1.0)),
                ("neg".into(), FieldValue::Float(-1.0)),
            ]
        );
    }

    #[test]
    fn later_lambdas_see_earlier_results_and_tags_and_keep_lists() {
        let mut n = node(
            "stream|from()|eval(lambda: \"value1\" * 2.0, lambda: \"double\" + 1.0, lambda: 'x')
                .as('double', 'plus', 't').tags('t').keep('plus', 'value0')",
        );
        let out = run(&mut n).unwrap();
        assert_eq!(
            fields(&out),
            [
                ("plus".into(), FieldValue::Float(3.0)),
                ("value0".into(), FieldValue::Float(0.0))
            ]
        );
        let Message::Point(p, _) = &out[0] else {
            unreachable!()
        };
        assert_eq!(p.series.tag("t").map(|v| &**v), Some("x"));
        assert_eq!(p.series.tag("host").map(|v| &**v), Some("a"));
    }

    #[test]
    fn failures_drop_the_point_loudly_or_quietly() {
        let mut loud = node("stream|from()|eval(lambda: \"missing\" + 1.0).as('x')");
        assert!(run(&mut loud).is_err());
        let mut quiet = node("stream|from()|eval(lambda: \"missing\" + 1.0).as('x').quiet()");
        assert!(run(&mut quiet).unwrap().is_empty());
    }
}
