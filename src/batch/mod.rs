//! Batch tasks against InfluxDB 1.x: what each query node of a task asks
//! for ([`QuerySpec`], read from the script's `|query()` or the YAML/API
//! `query`, `period`, `cron`, `group_by`), the query text for each run
//! ([`query`]), the HTTP client that runs it ([`client`]), and the
//! scheduler that runs it on time and feeds the results to the task
//! ([`scheduler`]).

pub mod client;
pub mod query;
pub mod scheduler;

use std::collections::BTreeMap;

use dsl::plan::Value;

pub use query::{GroupTag, Grouping, QueryError, QueryTemplate, TimeBucket};
pub use scheduler::{BatchRun, BatchStats, BatchStatus};

use config::Cron;

/// The database of a batch task's unqualified names when it has no dbrp.
pub const DEFAULT_DB: &str = "telegraf";

/// When a query runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// Every `every` ns; with `align`, on multiples of it since the epoch.
    Every {
        every: i64,
        align: bool,
    },
    Cron(Cron),
}

impl Schedule {
    /// The first run strictly after `after` (ns); `anchor` is when the
    /// schedule started (unaligned intervals count from it).
    pub fn next_after(&self, after: i64, anchor: i64) -> Option<i64> {
        match self {
            Schedule::Every { every, align: true } => {
                Some((after.div_euclid(*every) + 1).saturating_mul(*every))
            }
            Schedule::Every {
                every,
                align: false,
            } => {
                let k = (after - anchor).div_euclid(*every) + 1;
                Some(anchor.saturating_add(k.saturating_mul(*every)))
            }
            Schedule::Cron(c) => c.next_after(after),
        }
    }
}

/// One query of a batch task: what to run, when, and where its results go.
#[derive(Clone, Debug, PartialEq)]
pub struct QuerySpec {
    /// The node (by plan id) its batches are fed to.
    pub node: usize,
    /// The node's name for messages (`query1`).
    pub name: String,
    pub template: QueryTemplate,
    pub grouping: Grouping,
    pub by_measurement: bool,
    /// How far back each run looks (ns).
    pub period: i64,
    pub offset: i64,
    pub align_group: bool,
    pub schedule: Schedule,
    /// `.cluster(NAME)`: the `influxdb` connection; `None`: the default.
    pub cluster: Option<String>,
    /// The task's first dbrp: the database and retention policy for names
    /// the query does not qualify ([`DEFAULT_DB`] without one).
    pub db: Option<String>,
    pub rp: Option<String>,
}

impl QuerySpec {
    /// The range `[start, stop)` the run scheduled at `tick` queries.
    pub fn window(&self, tick: i64) -> (i64, i64) {
        let mut stop = tick.saturating_sub(self.offset);
        let mut start = stop.saturating_sub(self.period);
        if self.align_group
            && let Some(b) = self.grouping.time
            && b.every > 0
        {
            start -= (start - b.offset).rem_euclid(b.every);
            stop -= (stop - b.offset).rem_euclid(b.every);
        }
        (start, stop)
    }

    /// Whether the query groups its results in time buckets.
    pub fn grouped_by_time(&self) -> bool {
        self.grouping.time.is_some()
            || (self.grouping.tags.is_none()
                && self
                    .template
                    .own_group_by()
                    .is_some_and(|g| g.to_ascii_lowercase().contains("time(")))
    }

    /// The statement a run at `tick` sends.
    pub fn render(&self, tick: i64) -> String {
        let (start, stop) = self.window(tick);
        self.template.render(start, stop, &self.grouping)
    }

    /// The runs the schedule makes from `start` to `stop` (ns), as
    /// Kapacitor's `record batch` counts them: each tick after `start` up to
    /// `stop`, but none whose range ends after `now`.
    pub fn ticks(&self, start: i64, stop: i64, now: i64) -> impl Iterator<Item = i64> + '_ {
        let mut next = self.schedule.next_after(start, start);
        std::iter::from_fn(move || {
            let tick = next.filter(|&t| t <= stop && t.saturating_sub(self.offset) <= now)?;
            next = self.schedule.next_after(tick, start);
            Some(tick)
        })
    }

    /// Runs the query of the run at `tick` ([`QuerySpec::render`]) on
    /// `client`: its series as batches with Kapacitor's batch times (the
    /// range's end, unless the series comes in time buckets). Must run on
    /// the effects runtime.
    pub async fn run_at(
        &self,
        client: &client::QueryClient,
        tick: i64,
    ) -> Result<Vec<pipeline::Batch>, String> {
        let (_, stop) = self.window(tick);
        let q = self.render(tick);
        let result = client
            .query(
                &q,
                self.db.as_deref(),
                self.rp.as_deref(),
                self.by_measurement,
            )
            .await;
        let grouped_by_time = self.grouped_by_time();
        let result = result.map(|mut batches| {
            for b in &mut batches {
                if !grouped_by_time || b.points.is_empty() {
                    b.tmax = stop;
                }
            }
            batches
        });
        result.map_err(|e| format!("{}: {e}", self.name))
    }
}

/// The queries of a batch task, checked: each `|query()` node of its
/// script, or, for a script without one, the `query` of its definition.
pub fn specs(
    plan: &dsl::Plan,
    meta: &BTreeMap<String, String>,
    dbrps: &[pipeline::DbRp],
) -> Result<Vec<QuerySpec>, String> {
    // Without a dbrp, unqualified names are Telegraf's database (under its
    // default retention policy), where the daemon's own listeners write.
    let (db, rp) = match dbrps.first() {
        Some(d) => (Some(d.db.to_string()), Some(d.rp.to_string())),
        None => (Some(DEFAULT_DB.to_string()), None),
    };
    if let Some(n) = plan.nodes.iter().find(|n| n.kind == "queryFlux") {
        return Err(format!(
            "{}: queryFlux is not supported; use query() with InfluxQL",
            n.name
        ));
    }
    let mut out = Vec::new();
    for node in plan.nodes.iter().filter(|n| n.kind == "query") {
        let err = |e: String| format!("{}: {e}", node.name);
        let text = match node.args.first() {
            Some(Value::String(s)) => s,
            _ => return Err(err("query() needs the InfluxQL text".into())),
        };
        let template = QueryTemplate::parse(text).map_err(|e| err(e.to_string()))?;
        let duration = |name: &str| match node.property(name).and_then(|p| p.args.first()) {
            Some(Value::Duration(d)) => Some(*d),
            _ => None,
        };
        let string = |name: &str| match node.property(name).and_then(|p| p.args.first()) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        let period = duration("period").filter(|&p| p > 0).ok_or_else(|| {
            err("a query needs a positive .period(), how far back each run looks".into())
        })?;
        let every = duration("every");
        let cron = string("cron");
        let schedule = match (every, cron) {
            (Some(_), Some(_)) => return Err(err("give .every() or .cron(), not both".into())),
            (Some(e), None) if e <= 0 => return Err(err(".every() must be positive".into())),
            (Some(e), None) => Schedule::Every {
                every: e,
                align: node.property("align").is_some(),
            },
            (None, Some(c)) => Schedule::Cron(Cron::parse(&c).map_err(err)?),
            (None, None) => Schedule::Every {
                every: period,
                align: node.property("align").is_some(),
            },
        };
        let mut grouping = Grouping::default();
        if let Some(p) = node.property("groupBy") {
            let mut tags = Vec::new();
            for arg in &p.args {
                match arg {
                    Value::Call { name, args } if name == "time" => {
                        if grouping.time.is_some() {
                            return Err(err("groupBy has more than one time()".into()));
                        }
                        let every = match args.first() {
                            Some(Value::Duration(d)) if *d > 0 => *d,
                            _ => return Err(err("time() needs a positive duration".into())),
                        };
                        let offset = match args.get(1) {
                            Some(Value::Duration(d)) => *d,
                            None => 0,
                            _ => return Err(err("time()'s offset must be a duration".into())),
                        };
                        grouping.time = Some(TimeBucket { every, offset });
                    }
                    Value::String(t) | Value::Reference(t) => tags.push(GroupTag::Tag(t.clone())),
                    Value::Star => tags.push(GroupTag::Star),
                    other => {
                        return Err(err(format!(
                            "groupBy takes time(d) and tag names, not {}",
                            other.type_name()
                        )));
                    }
                }
            }
            grouping.tags = Some(tags);
        }
        if let Some(p) = node.property("fill") {
            grouping.fill = Some(match p.args.first() {
                Some(Value::String(s) | Value::Reference(s))
                    if ["null", "none", "previous", "linear"].contains(&s.as_str()) =>
                {
                    s.clone()
                }
                Some(Value::Int(i)) => i.to_string(),
                Some(Value::Float(f)) => f.to_string(),
                _ => {
                    return Err(err(
                        "fill takes null, none, previous, linear or a number".into()
                    ));
                }
            });
        }
        out.push(QuerySpec {
            node: node.id,
            name: node.name.clone(),
            template,
            grouping,
            by_measurement: node.property("groupByMeasurement").is_some(),
            period,
            offset: duration("offset").unwrap_or(0),
            align_group: node.property("alignGroup").is_some(),
            schedule,
            cluster: string("cluster"),
            db: db.clone(),
            rp: rp.clone(),
        });
    }
    if !out.is_empty() {
        return Ok(out);
    }
    // The seed's form: the query and its schedule beside the script, whose
    // root takes the batches.
    let Some(text) = meta.get("query") else {
        return Err(
            "a batch task needs a query: `|query('SELECT …')` in the script, or `query`".into(),
        );
    };
    let template = QueryTemplate::parse(text).map_err(|e| e.to_string())?;
    let meta_duration = |key: &str| -> Result<Option<i64>, String> {
        match meta.get(key).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => {
                let d = config::parse_duration(s)
                    .or_else(|_| humantime::parse_duration(s).map_err(|e| e.to_string()))
                    .map_err(|e| format!("{key} {s:?}: {e}"))?;
                Ok(Some(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)))
            }
        }
    };
    let period = meta_duration("period")?.filter(|&p| p > 0);
    let cron = meta.get("cron").filter(|c| !c.trim().is_empty());
    let group_by = meta_duration("group_by")?.filter(|&g| g > 0);
    let (schedule, period) = match (period, cron) {
        (Some(p), None) => (
            Schedule::Every {
                every: p,
                align: false,
            },
            p,
        ),
        (None, Some(c)) => {
            let cron = Cron::parse(c)?;
            // Each run looks back to the previous one.
            let period = match &cron {
                Cron::Every(e) => *e,
                Cron::Fields(_) => {
                    let now = host::wall_clock_ns();
                    let a = cron.next_after(now).unwrap_or(now);
                    cron.next_after(a).map_or(60_000_000_000, |b| b - a)
                }
            };
            (Schedule::Cron(cron), period)
        }
        (Some(_), Some(_)) => return Err("give either `period` or `cron`, not both".into()),
        (None, None) => {
            return Err(
                "a batch task needs a schedule: `period` (e.g. 15m) or `cron` (e.g. '*/5 * * * *')"
                    .into(),
            );
        }
    };
    Ok(vec![QuerySpec {
        node: 0,
        name: "batch0".into(),
        template,
        grouping: Grouping {
            tags: None,
            time: group_by.map(|every| TimeBucket { every, offset: 0 }),
            fill: None,
        },
        by_measurement: false,
        period,
        offset: 0,
        align_group: false,
        schedule,
        cluster: None,
        db,
        rp,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn spec(period: i64, schedule: Schedule, offset: i64) -> QuerySpec {
        QuerySpec {
            node: 1,
            name: "query1".into(),
            template: QueryTemplate::parse("select mean(v) from cpu").unwrap(),
            grouping: Grouping::default(),
            by_measurement: false,
            period,
            offset,
            align_group: false,
            schedule,
            cluster: None,
            db: None,
            rp: None,
        }
    }

    #[test]
    fn a_range_holds_the_runs_its_schedule_makes() {
        // Every 10s from the start, up to the stop, as Kapacitor counts them.
        let every = Schedule::Every {
            every: 10 * S,
            align: false,
        };
        let s = spec(10 * S, every.clone(), 0);
        let ticks: Vec<i64> = s.ticks(100 * S, 130 * S, i64::MAX).collect();
        assert_eq!(ticks, [110 * S, 120 * S, 130 * S]);
        assert_eq!(s.window(110 * S), (100 * S, 110 * S));
        // None whose range ends after now.
        assert_eq!(s.ticks(100 * S, 130 * S, 125 * S).count(), 2);
        let late = spec(10 * S, every, 5 * S);
        assert_eq!(late.ticks(100 * S, 130 * S, 125 * S).count(), 3);
        // Aligned: on multiples of every.
        let aligned = spec(
            10 * S,
            Schedule::Every {
                every: 10 * S,
                align: true,
            },
            0,
        );
        let ticks: Vec<i64> = aligned.ticks(103 * S, 125 * S, i64::MAX).collect();
        assert_eq!(ticks, [110 * S, 120 * S]);
    }

    #[test]
    fn without_a_dbrp_names_are_telegrafs() {
        let plan = dsl::compile("batch.filter(<, 30).alert()", dsl::TaskType::Batch).unwrap();
        let meta = BTreeMap::from([
            (
                "query".to_string(),
                "select mean(value) from cpu_idle".to_string(),
            ),
            ("period".to_string(), "15m".to_string()),
        ]);
        let s = &specs(&plan, &meta, &[]).unwrap()[0];
        assert_eq!((s.db.as_deref(), s.rp.as_deref()), (Some("telegraf"), None));
        let dbrps = ["db.rp".parse().unwrap()];
        let s = &specs(&plan, &meta, &dbrps).unwrap()[0];
        assert_eq!((s.db.as_deref(), s.rp.as_deref()), (Some("db"), Some("rp")));
    }
}
