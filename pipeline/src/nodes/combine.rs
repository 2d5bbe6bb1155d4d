//! `combine(lambda, lambda, ...)`: within a group, the points that share a
//! time (rounded to `.tolerance()`) are combined: for each set of as many
//! distinct points as there are lambdas, taken in order of arrival, where
//! each lambda matches its own point, one point is emitted with every
//! field (and every tag outside the group) named `AS<delimiter>name`, after
//! `.as()`. As in Kapacitor, a time's points are combined when a point of a
//! later time arrives (or a batch ends), and more than `.max()` candidate
//! sets (default 1,000,000) is an error rather than a stall.

use std::collections::HashMap;
use std::sync::Arc;

use dsl::{NodeSpec, Value};

use crate::batch::Message;
use crate::group::GroupKey;
use crate::lambda::{LambdaRunner, Scope};
use crate::node::{Node, NodeError};
use crate::point::{FieldValue, Fields, Name, Point, Series, Tags};
use crate::spec::{BuildError, SpecExt};

struct Pending {
    name: Name,
    time: i64,
    points: Vec<(Fields, Tags)>,
}

pub struct CombineNode {
    lambdas: Vec<LambdaRunner>,
    names: Vec<String>,
    delimiter: String,
    tolerance: i64,
    max: i64,
    groups: HashMap<GroupKey, Pending>,
}

impl CombineNode {
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        let lambdas = spec
            .args
            .iter()
            .map(|a| match a {
                Value::Lambda(l) => LambdaRunner::new(l.clone())
                    .map_err(|e| BuildError::invalid(spec, e.to_string())),
                other => Err(BuildError::invalid(
                    spec,
                    format!("combine takes lambdas, not {}", other.type_name()),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let names: Vec<String> = spec
            .prop_args("as")
            .unwrap_or_default()
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        if names.len() != lambdas.len() {
            return Err(BuildError::unchecked(spec, ".as()"));
        }
        let delimiter = spec.prop_string("delimiter")?.unwrap_or_else(|| ".".into());
        let tolerance = spec.prop_duration("tolerance")?.unwrap_or(0);
        Ok(CombineNode {
            lambdas,
            names,
            delimiter,
            tolerance,
            max: spec.prop_int("max")?.unwrap_or(1_000_000),
            groups: HashMap::new(),
        })
    }

    fn round(&self, t: i64) -> i64 {
        if self.tolerance <= 1 {
            return t;
        }
        // Half away from zero, as Go's time.Round.
        let r = t.rem_euclid(self.tolerance);
        if r * 2 >= self.tolerance {
            t - r + self.tolerance
        } else {
            t - r
        }
    }

    /// Adds a point to its group's set, combining the set before when the
    /// point's time is another.
    fn add(
        &mut self,
        group: &GroupKey,
        name: &Name,
        time: i64,
        point: (Fields, Tags),
        out: &mut Vec<Message>,
    ) -> Result<(), NodeError> {
        let time = self.round(time);
        let mut result = Ok(());
        match self.groups.get_mut(group) {
            Some(p) if p.time == time && p.name == *name => p.points.push(point),
            _ => {
                if let Some(done) = self.groups.remove(group) {
                    result = self.combine(group, done, out);
                }
                self.groups.insert(
                    group.clone(),
                    Pending {
                        name: name.clone(),
                        time,
                        points: vec![point],
                    },
                );
            }
        }
        result
    }

    fn combine(
        &mut self,
        group: &GroupKey,
        set: Pending,
        out: &mut Vec<Message>,
    ) -> Result<(), NodeError> {
        let (n, k) = (set.points.len(), self.lambdas.len());
        if n < k || k == 0 {
            return Ok(());
        }
        let count = combinations(n as i64, k as i64);
        if count > self.max {
            return Err(NodeError::new(format!(
                "combine: refusing {count} combinations, more than .max({})",
                self.max
            )));
        }
        let mut error = None;
        // matches[l][i]: lambda l holds for point i.
        let mut matches = vec![vec![false; n]; k];
        for (i, (fields, tags)) in set.points.iter().enumerate() {
            let scope = Scope {
                fields,
                tags,
                time: set.time,
            };
            for (l, lambda) in self.lambdas.iter_mut().enumerate() {
                match lambda.eval_bool(group, &scope) {
                    Ok(m) => matches[l][i] = m,
                    Err(e) => {
                        error.get_or_insert(e);
                    }
                }
            }
        }
        let mut indices: Vec<usize> = (0..k).collect();
        loop {
            // Each lambda takes the first point of the set it matches that
            // no earlier lambda took.
            let mut left = indices.clone();
            let mut chosen = Vec::with_capacity(k);
            for lambda_matches in &matches {
                match left.iter().position(|&i| lambda_matches[i]) {
                    Some(pos) => chosen.push(left.remove(pos)),
                    None => break,
                }
            }
            if chosen.len() == k {
                out.push(self.merged(group, &set, &chosen)?);
            }
            // The next k-combination of 0..n, in lexicographic order.
            let Some(i) = (0..k).rev().find(|&i| indices[i] != i + n - k) else {
                break;
            };
            indices[i] += 1;
            for j in i + 1..k {
                indices[j] = indices[j - 1] + 1;
            }
        }
        error.map_or(Ok(()), Err)
    }

    fn merged(
        &self,
        group: &GroupKey,
        set: &Pending,
        chosen: &[usize],
    ) -> Result<Message, NodeError> {
        let mut fields: Vec<(Name, FieldValue)> = Vec::new();
        let mut tags: Vec<(Name, Name)> = Vec::new();
        for (as_name, &i) in self.names.iter().zip(chosen) {
            let (f, t) = &set.points[i];
            for (k, v) in f.iter() {
                fields.push((
                    Name::from(format!("{as_name}{}{k}", self.delimiter)),
                    v.clone(),
                ));
            }
            for (k, v) in t.iter() {
                let key = if group.tags().iter().any(|(g, _)| g == k) {
                    k.clone()
                } else {
                    Name::from(format!("{as_name}{}{k}", self.delimiter))
                };
                if !tags.iter().any(|(have, _)| *have == key) {
                    tags.push((key, v.clone()));
                }
            }
        }
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        let series =
            Series::new(set.name.clone(), tags).map_err(|e| NodeError::new(e.to_string()))?;
        Ok(Message::Point(
            Point {
                series: Arc::new(series),
                fields: Fields::from_pairs(fields),
                time: set.time,
            },
            group.clone(),
        ))
    }
}

/// C(n, k), or -1 when n < k (as Kapacitor counts).
fn combinations(n: i64, k: i64) -> i64 {
    if n < k {
        return -1;
    }
    let mut count: i64 = 1;
    for i in 0..k {
        count = count.saturating_mul(n - i) / (i + 1);
    }
    count
}

impl Node for CombineNode {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        match msg {
            Message::Point(p, group) => {
                let point = (p.fields.clone(), p.tags().clone());
                self.add(&group, p.measurement(), p.time, point, out)
            }
            Message::Batch(b) => {
                // A batch is combined on its own: what is pending for the
                // group was a batch before, complete when it ended.
                self.groups.remove(&b.group);
                let mut result = Ok(());
                for bp in b.points {
                    if let Err(e) = self.add(&b.group, &b.name, bp.time, (bp.fields, bp.tags), out)
                    {
                        result = Err(e);
                    }
                }
                if let Some(last) = self.groups.remove(&b.group)
                    && let Err(e) = self.combine(&b.group, last, out)
                {
                    result = Err(e);
                }
                result
            }
            Message::DeleteGroup(group) => {
                self.groups.remove(&group);
                for l in &mut self.lambdas {
                    l.forget(&group);
                }
                out.push(Message::DeleteGroup(group));
                Ok(())
            }
            barrier @ Message::Barrier { .. } => {
                out.push(barrier);
                Ok(())
            }
        }
    }

    fn groups(&self) -> usize {
        self.groups.len()
    }
}

#[cfg(test)]
mod tests {
    use super::combinations;

    #[test]
    fn counts_combinations_as_kapacitor() {
        assert_eq!(combinations(2, 3), -1);
        assert_eq!(combinations(4, 2), 6);
        assert_eq!(combinations(10, 3), 120);
    }
}
