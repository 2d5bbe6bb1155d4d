//! `from`: selects points of the stream by database, retention policy,
//! measurement and `where` lambdas, puts each in its group (`groupBy`), and
//! truncates or rounds its time.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::Arc;

use dsl::{NodeSpec, Value};

use crate::batch::Message;
use crate::group::{Dimensions, GroupKey};
use crate::idle::{Epoch, IdleGroups};
use crate::lambda::{LambdaRunner, Scope};
use crate::node::{Node, NodeError, Prefetch, process_by_edit};
use crate::point::{DbRp, Name, Point, Series};
use crate::spec::{BuildError, SpecExt, names_or_star};
use crate::table::Table;

/// How points are grouped: by named tags, or by every tag (`groupBy(*)`).
#[derive(Clone, Debug)]
pub enum GroupBy {
    Tags(Dimensions),
    AllTags { by_measurement: bool },
}

impl GroupBy {
    /// Reads `.groupBy(...)` and `.groupByMeasurement()` of a node.
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        let by_measurement = spec.has_prop("groupByMeasurement") || spec.has_prop("byMeasurement");
        let mut names = Vec::new();
        if names_or_star(
            spec,
            "groupBy",
            spec.prop_args("groupBy").unwrap_or(&[]),
            &mut names,
        )? {
            return Ok(GroupBy::AllTags { by_measurement });
        }
        Ok(GroupBy::Tags(Dimensions::new(by_measurement, names)))
    }

    pub fn group(&self, point: &Point) -> GroupKey {
        match self {
            GroupBy::Tags(dims) => GroupKey::for_series(dims, &point.series),
            GroupBy::AllTags { by_measurement } => {
                let names = point.tags().iter().map(|(k, _)| k.clone()).collect();
                GroupKey::for_series(&Dimensions::new(*by_measurement, names), &point.series)
            }
        }
    }
}

/// `.database()` and `.retentionPolicy()`: points do not carry their
/// database, so the task applies this where points enter, not the node.
#[derive(Clone, Debug, Default)]
pub struct DbRpFilter {
    database: Option<String>,
    retention_policy: Option<String>,
}

impl DbRpFilter {
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        Ok(DbRpFilter {
            database: spec.prop_string("database")?,
            retention_policy: spec.prop_string("retentionPolicy")?,
        })
    }

    /// Whether points written to `dbrp` pass.
    pub fn accepts(&self, dbrp: &DbRp) -> bool {
        self.database.as_deref().is_none_or(|d| d == &*dbrp.db)
            && self
                .retention_policy
                .as_deref()
                .is_none_or(|r| r == &*dbrp.rp)
    }
}

pub struct FromNode {
    measurement: Option<Name>,
    /// Run before grouping, so (as in Kapacitor's stream node) one state
    /// serves every series: they all count as the nil group.
    wheres: Vec<LambdaRunner>,
    nil: GroupKey,
    group_by: GroupBy,
    truncate: i64,
    round: i64,
    /// The group of each series seen lately. The decoder shares one
    /// `Series` among all points of a series, so this turns grouping into a
    /// pointer lookup, and points of a group share one `GroupKey` (which
    /// makes every later per-group lookup a pointer comparison).
    groups: Table<NonZeroUsize, SeriesEntry>,
    /// Most series remembered before the cache starts over.
    cap: usize,
    idle: Option<IdleGroups>,
    /// With idle expiry: groups whose series left the cache when it
    /// started over, with when they were last seen, so they still expire.
    evicted: HashMap<GroupKey, Epoch>,
}

/// What `from` knows of a series it has seen.
struct SeriesEntry {
    /// Keeps the series alive, so that no other series can take the
    /// address the entry is keyed by.
    _series: Arc<Series>,
    /// The series' group, unless `!wanted`.
    group: GroupKey,
    /// Whether the series is of the wanted measurement.
    wanted: bool,
    /// With idle expiry, when the series was last seen.
    seen: Epoch,
}

impl SeriesEntry {
    fn group(&self) -> Option<&GroupKey> {
        self.wanted.then_some(&self.group)
    }
}

/// Series whose group is remembered before the cache starts over, so
/// memory stays bounded under tag churn.
const GROUP_CACHE: usize = 100_000;

impl FromNode {
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        let mut wheres = Vec::new();
        for p in spec.properties.iter().filter(|p| p.name == "where") {
            match p.args.first() {
                Some(Value::Lambda(l)) => wheres.push(
                    LambdaRunner::new(l.clone())
                        .map_err(|e| BuildError::invalid(spec, e.to_string()))?,
                ),
                _ => {
                    return Err(BuildError::invalid(
                        spec,
                        ".where() takes a lambda expression",
                    ));
                }
            }
        }
        Ok(FromNode {
            measurement: spec.prop_string("measurement")?.map(Name::from),
            wheres,
            nil: GroupKey::nil(),
            group_by: GroupBy::from_spec(spec)?,
            truncate: spec.prop_duration("truncate")?.unwrap_or(0),
            round: spec.prop_duration("round")?.unwrap_or(0),
            groups: Table::default(),
            cap: GROUP_CACHE,
            idle: None,
            evicted: HashMap::new(),
        })
    }

    /// Deletes groups that got no point for `timeout` ns of the task's
    /// clock (see [`crate::idle`]).
    pub fn with_idle_timeout(mut self, timeout: Option<i64>) -> Self {
        self.idle = IdleGroups::new(timeout);
        self
    }

    /// Forgets the series not seen lately and deletes the groups none of
    /// the remaining series belongs to.
    fn sweep(&mut self, out: &mut Vec<Message>) {
        let Some(idle) = &self.idle else {
            return;
        };
        let mut gone: Vec<GroupKey> = Vec::new();
        self.groups.retain(|_, entry| {
            let keep = !idle.expired(entry.seen);
            if let (false, Some(g)) = (keep, entry.group()) {
                gone.push(g.clone());
            }
            keep
        });
        self.evicted.retain(|group, seen| {
            let keep = !idle.expired(*seen);
            if !keep {
                gone.push(group.clone());
            }
            keep
        });
        if gone.is_empty() {
            return;
        }
        let live: HashSet<&GroupKey> = self
            .groups
            .values()
            .filter_map(SeriesEntry::group)
            .chain(self.evicted.keys())
            .collect();
        gone.retain(|g| !live.contains(g));
        gone.sort_by(|a, b| a.id().cmp(b.id()));
        gone.dedup();
        out.extend(gone.into_iter().map(Message::DeleteGroup));
    }
}

/// What the series cache is keyed by: the address of the shared `Series`.
fn series_key(series: &Arc<Series>) -> NonZeroUsize {
    NonZeroUsize::new(Arc::as_ptr(series) as usize).expect("an Arc is never null")
}

/// The later of two epochs (they wrap).
fn seen_later(a: Epoch, b: Epoch) -> Epoch {
    if b.wrapping_sub(a) < Epoch::MAX / 2 {
        b
    } else {
        a
    }
}

/// Rounds half away from zero, as Go's `time.Time.Round` does.
fn round_to(t: i64, d: i64) -> i64 {
    let r = t.rem_euclid(d);
    if r * 2 >= d { t - r + d } else { t - r }
}

impl Node for FromNode {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        process_by_edit(self, msg, out)
    }

    fn edits_in_place(&self) -> bool {
        true
    }

    fn edit(&mut self, msg: &mut Message) -> (bool, Result<(), NodeError>) {
        let Message::Point(point, group_of_point) = msg else {
            // Barriers and deletes pass through unchanged.
            return (true, Ok(()));
        };
        // Keyed by address, kept alive by the stored Arc so no other series
        // can take the address while the entry exists. The entry also says
        // whether the series has the wanted measurement, so that check is
        // made once per series, not once per point.
        let key = series_key(&point.series);
        let now = self.idle.as_ref().map(IdleGroups::epoch);
        let group = match self.groups.get_mut(&key) {
            Some(entry) => {
                if let Some(now) = now {
                    entry.seen = now;
                }
                entry.group().cloned()
            }
            None => {
                let wanted = self
                    .measurement
                    .as_ref()
                    .is_none_or(|m| m == point.measurement());
                let group = wanted.then(|| self.group_by.group(point));
                // The cache starts over now and then, so that series that
                // stopped do not stay alive in it; with idle expiry their
                // groups are remembered until they expire.
                if self.groups.len() >= self.cap {
                    let forgotten = self.groups.drain();
                    if self.idle.is_some() {
                        for (_, entry) in forgotten {
                            if let Some(g) = entry.group() {
                                let at = self.evicted.entry(g.clone()).or_insert(entry.seen);
                                *at = seen_later(*at, entry.seen);
                            }
                        }
                    }
                }
                let entry = SeriesEntry {
                    _series: point.series.clone(),
                    group: group.clone().unwrap_or_else(GroupKey::nil),
                    wanted,
                    seen: now.unwrap_or(0),
                };
                self.groups.insert(key, entry);
                group
            }
        };
        let Some(group) = group else {
            return (false, Ok(()));
        };
        for lambda in &mut self.wheres {
            let scope = Scope {
                fields: &point.fields,
                tags: point.tags(),
                time: point.time,
            };
            match lambda.eval_bool(&self.nil, &scope) {
                Ok(true) => {}
                Ok(false) => return (false, Ok(())),
                Err(e) => return (false, Err(e)),
            }
        }
        if self.truncate > 0 {
            point.time -= point.time.rem_euclid(self.truncate);
        } else if self.round > 0 {
            point.time = round_to(point.time, self.round);
        }
        *group_of_point = group;
        (true, Ok(()))
    }

    fn prefetch(&self, msg: &Message, stage: Prefetch) {
        let Message::Point(point, _) = msg else {
            return;
        };
        // Only the slot: a second look for the group key, whose count of
        // references goes up as the point joins it, measured no faster
        // (BENCHMARKS.md, session 4) and costs a lookup per point.
        if stage == Prefetch::Table {
            self.groups.prefetch(&series_key(&point.series));
        }
    }

    fn tick(&mut self, now: i64, out: &mut Vec<Message>) -> Option<i64> {
        let (sweep, next) = self.idle.as_mut()?.tick(now);
        if sweep {
            self.sweep(out);
        }
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::point::{FieldValue, Fields};

    fn series(host: &str) -> Arc<Series> {
        Arc::new(Series::new("cpu".into(), vec![(Name::from("host"), Name::from(host))]).unwrap())
    }

    /// A point of `series`: the decoder hands all points of a series the
    /// same `Series`, which is what the cache is keyed by.
    fn point(series: &Arc<Series>) -> Message {
        Message::Point(
            Point {
                series: series.clone(),
                fields: Fields::from_pairs([("v".into(), FieldValue::Float(1.0))]),
                time: 0,
            },
            GroupKey::nil(),
        )
    }

    fn deleted(out: &[Message]) -> Vec<String> {
        out.iter()
            .filter_map(|m| match m {
                Message::DeleteGroup(g) => Some(g.id().to_string()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn groups_whose_series_left_the_cache_still_expire() {
        let spec = crate::testing::node_spec("stream|from().groupBy('host')", "from");
        let mut from = FromNode::from_spec(&spec)
            .unwrap()
            .with_idle_timeout(Some(10));
        from.cap = 2;
        let mut out = Vec::new();
        let mut now = 0;
        let mut next = from.tick(now, &mut out).unwrap();
        // a, b, then c: the cache (2 series) starts over, a and b move out.
        let c = series("c");
        for s in [series("a"), series("b"), c.clone()] {
            from.process(point(&s), &mut out).unwrap();
        }
        assert!(from.groups.len() <= 2 && !from.evicted.is_empty());
        // c goes on sending; a and b stop.
        while now < 40 {
            now += 1;
            from.process(point(&c), &mut out).unwrap();
            if now >= next {
                next = from.tick(now, &mut out).unwrap();
            }
        }
        assert_eq!(deleted(&out), ["host=a", "host=b"]);
        assert!(
            from.evicted.keys().all(|g| g.id() == "host=c"),
            "a and b are forgotten once deleted"
        );
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(round_to(14, 10), 10);
        assert_eq!(round_to(15, 10), 20);
        assert_eq!(round_to(19, 10), 20);
    }
}
