//! The router: decides, once per point, which tasks receive it.
//!
//! Tasks are indexed by measurement, so a point is checked only against the
//! tasks that could want it, and the answer for a series is remembered: a
//! task's YAML `where` that reads only tags gives the same answer for every
//! point of a series, so it runs once per series, not once per point. A
//! hundred tasks that each want 1% of the points cost about as much as one.
//! Each task's points from one write are handed over together.
//!
//! A full task inbox is met in one of two ways. [`PointSink::try_write`]
//! (HTTP and TCP writes) hands a write over only when every task that must
//! not lose points ([`Route::block_when_full`]) has room for its share, and
//! otherwise gives it back whole, [`Held`], for the listener to retry while
//! its writer waits: nothing of a write is half-applied. [`PointSink::write`]
//! (UDP, which cannot push back) never waits: a full inbox drops and counts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::point::{DbRp, Name, Point, PointBatch, Series};

/// Where listeners hand decoded points. Implemented by the [`Router`]; tests
/// and benchmarks may use their own.
pub trait PointSink: Send + Sync + 'static {
    /// Takes a batch. Never blocks on slow consumers: a full queue drops and
    /// counts rather than stalls ingest.
    fn write(&self, batch: PointBatch);

    /// Takes a batch if every task that must not lose points has room for
    /// it now; otherwise nothing of it is handed over and it comes back, to
    /// [`retry`](Self::retry) later or [`refuse`](Self::refuse).
    fn try_write(&self, batch: PointBatch) -> Result<(), Held> {
        self.write(batch);
        Ok(())
    }

    /// [`try_write`](Self::try_write) again, for a write given back.
    fn retry(&self, held: Held) -> Result<(), Held> {
        let _ = held;
        Ok(())
    }

    /// Gives up on a write given back: its writer is told it was not taken
    /// (HTTP 503) or, when it cannot be told (TCP), its points are counted
    /// as dropped. Returns how many points it held.
    fn refuse(&self, held: Held, writer_told: bool) -> usize {
        let _ = writer_told;
        held.points
    }
}

/// A write [`PointSink::try_write`] gave back, already routed: retrying it
/// does not route it again.
pub struct Held {
    planned: Planned,
    points: usize,
}

impl Held {
    /// The points of the write (a point for two tasks counts once).
    pub fn points(&self) -> usize {
        self.points
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("points", &self.points)
            .finish()
    }
}

/// One write, split by the tasks that take it.
struct Planned {
    table: Arc<Table>,
    dbrp: DbRp,
    /// Each route's share, by route index; empty when `whole` is set.
    per_route: Vec<Vec<Point>>,
    /// The one route that takes every point, and the points.
    whole: Option<(usize, Vec<Point>)>,
}

impl Planned {
    fn shares(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let whole = self.whole.iter().map(|(i, p)| (*i, p.len()));
        let split = self
            .per_route
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.is_empty())
            .map(|(i, p)| (i, p.len()));
        whole.chain(split)
    }

    /// Whether every route that must not lose points has room for its share.
    fn fits(&self) -> bool {
        self.shares().all(|(i, n)| {
            let route = &self.table.routes[i];
            !route.block_when_full || route.inbox.room() >= n
        })
    }
}

/// A task's input, as the router sees it.
pub trait TaskInbox: Send + Sync {
    /// Offers points; returns how many were accepted (the rest were dropped
    /// because the task's queue is full). Must not block.
    fn offer(&self, batch: PointBatch) -> usize;

    /// Points it can take now without going over its bound.
    fn room(&self) -> usize {
        usize::MAX
    }

    /// Queues points the router found room for: taken even if another
    /// write took that room meanwhile (by at most one write's worth per
    /// concurrent writer), refused only when the task is stopping.
    fn push(&self, batch: PointBatch) -> usize {
        self.offer(batch)
    }
}

/// A predicate on points: the YAML `where` of a task, with the names it
/// reads.
#[derive(Clone)]
pub struct PointFilter {
    test: Arc<dyn Fn(&Point) -> bool + Send + Sync>,
    names: Arc<[Name]>,
}

impl PointFilter {
    /// A filter that reads the tags or fields `names` (a tag shadows a field
    /// of the same name, as in InfluxQL's WHERE).
    pub fn new(
        names: impl IntoIterator<Item = Name>,
        test: impl Fn(&Point) -> bool + Send + Sync + 'static,
    ) -> Self {
        PointFilter {
            test: Arc::new(test),
            names: names.into_iter().collect(),
        }
    }

    pub fn test(&self, point: &Point) -> bool {
        (self.test)(point)
    }

    /// Whether every point of `series` gets the same answer: every name the
    /// filter reads is one of the series' tags.
    fn constant_for(&self, series: &Series) -> bool {
        self.names.iter().all(|n| series.tag(n).is_some())
    }
}

/// What one task wants from the stream.
#[derive(Clone)]
pub struct Route {
    pub task: Name,
    /// Empty: every database and retention policy.
    pub dbrps: Vec<DbRp>,
    /// `None`: every measurement.
    pub measurement: Option<Name>,
    pub filter: Option<PointFilter>,
    pub inbox: Arc<dyn TaskInbox>,
    /// A full inbox makes writes wait ([`PointSink::try_write`]) rather
    /// than drop: the task's `overflow: block`, the default.
    pub block_when_full: bool,
}

impl Route {
    fn wants_dbrp(&self, dbrp: &DbRp) -> bool {
        self.dbrps.is_empty() || self.dbrps.contains(dbrp)
    }
}

/// Routes indexed for lookup; rebuilt whole when tasks change, so a write
/// always sees one consistent set.
#[derive(Default)]
struct Table {
    routes: Vec<Route>,
    by_measurement: HashMap<Name, Vec<usize>>,
    any_measurement: Vec<usize>,
    /// Which routes want each series seen lately, keyed by the series'
    /// address (the entry holds the `Arc`, so the address stays its own).
    series: RwLock<KnownSeries>,
}

/// Series whose routes are worked out, by the series' address.
type KnownSeries = HashMap<usize, (Arc<Series>, SeriesRoutes), foldhash::fast::RandomState>;
/// Series met first in one write, added to the known ones after it.
type Learned = HashMap<usize, (Arc<Series>, SeriesRoutes)>;

/// The routes that may want the points of one series.
#[derive(Clone, Default)]
struct SeriesRoutes {
    /// Want every point of the series (database permitting).
    all: Vec<usize>,
    /// Have a `where` that reads fields: asked point by point.
    some: Vec<usize>,
}

/// Series whose routes are remembered before the memory starts over, so
/// it stays bounded under tag churn.
const SERIES_CACHE: usize = 100_000;

impl Table {
    fn new(routes: Vec<Route>) -> Self {
        let mut by_measurement: HashMap<Name, Vec<usize>> = HashMap::new();
        let mut any_measurement = Vec::new();
        for (i, r) in routes.iter().enumerate() {
            match &r.measurement {
                Some(m) => by_measurement.entry(m.clone()).or_default().push(i),
                None => any_measurement.push(i),
            }
        }
        Table {
            routes,
            by_measurement,
            any_measurement,
            series: RwLock::default(),
        }
    }

    /// Works out which routes may want `series`' points.
    fn routes_for(&self, series: &Series) -> SeriesRoutes {
        let mut out = SeriesRoutes::default();
        let named = self
            .by_measurement
            .get(series.measurement())
            .map_or(&[][..], Vec::as_slice);
        for &i in named.iter().chain(&self.any_measurement) {
            match &self.routes[i].filter {
                None => out.all.push(i),
                Some(f) if f.constant_for(series) => {
                    // Any point of the series will do to ask.
                    let probe = Point {
                        series: Arc::new(series.clone()),
                        fields: crate::point::Fields::from_pairs([]),
                        time: 0,
                    };
                    if f.test(&probe) {
                        out.all.push(i);
                    }
                }
                Some(_) => out.some.push(i),
            }
        }
        out.all.sort_unstable();
        out
    }

    /// The routes that take `point` (of a write whose database each route
    /// `wants` or not), into `targets`.
    fn targets(
        &self,
        point: &Point,
        wants: &[bool],
        known: &KnownSeries,
        learned: &mut Learned,
        targets: &mut Vec<usize>,
    ) {
        let key = Arc::as_ptr(&point.series) as usize;
        let routes = match known.get(&key) {
            Some((_, r)) => r,
            None => {
                &learned
                    .entry(key)
                    .or_insert_with(|| (point.series.clone(), self.routes_for(&point.series)))
                    .1
            }
        };
        targets.clear();
        targets.extend(routes.all.iter().copied().filter(|&i| wants[i]));
        for &i in &routes.some {
            if wants[i] && self.routes[i].filter.as_ref().is_none_or(|f| f.test(point)) {
                targets.push(i);
            }
        }
    }
}

/// Counters of the router.
#[derive(Debug, Default)]
struct Counters {
    unrouted: AtomicU64,
    routed: AtomicU64,
    dropped: AtomicU64,
    refused: AtomicU64,
}

/// Routes points to the tasks that want them.
#[derive(Default)]
pub struct Router {
    table: RwLock<Arc<Table>>,
    counters: Counters,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("counters", &self.counters)
            .finish()
    }
}

impl Router {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces every route at once.
    pub fn set_routes(&self, routes: Vec<Route>) {
        let table = Arc::new(Table::new(routes));
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = table;
    }

    /// Adds or replaces the route of `route.task`.
    pub fn upsert(&self, route: Route) {
        self.upsert_many(vec![route]);
    }

    /// Adds or replaces the routes of their tasks at once: one rebuild of
    /// the table for all of them (a thousand tasks loaded at start).
    pub fn upsert_many(&self, new: Vec<Route>) {
        if new.is_empty() {
            return;
        }
        let replaced: std::collections::HashSet<&Name> = new.iter().map(|r| &r.task).collect();
        let mut routes = self.routes();
        routes.retain(|r| !replaced.contains(&r.task));
        routes.extend(new);
        self.set_routes(routes);
    }

    /// Removes the route of `task`, if it has one.
    pub fn remove(&self, task: &str) {
        if !self.current().routes.iter().any(|r| &*r.task == task) {
            return;
        }
        let mut routes = self.routes();
        routes.retain(|r| &*r.task != task);
        self.set_routes(routes);
    }

    fn routes(&self) -> Vec<Route> {
        self.current().routes.clone()
    }

    fn current(&self) -> Arc<Table> {
        self.table.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Points that no task wanted.
    pub fn unrouted_points(&self) -> u64 {
        self.counters.unrouted.load(Ordering::Relaxed)
    }

    /// Points handed to tasks (a point for two tasks counts twice).
    pub fn routed_points(&self) -> u64 {
        self.counters.routed.load(Ordering::Relaxed)
    }

    /// Points lost to a full task queue: offered to a task that drops
    /// when full, or held past the wait of a writer that cannot be told.
    pub fn dropped_points(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Points of writes refused because a task had no room in time, whose
    /// writer was told (HTTP 503) and keeps them.
    pub fn refused_points(&self) -> u64 {
        self.counters.refused.load(Ordering::Relaxed)
    }
}

impl Router {
    /// Splits a write by the tasks that take it; `None` when none does.
    fn plan(&self, batch: PointBatch) -> Option<Planned> {
        let table = self.current();
        let PointBatch { dbrp, points } = batch;
        if table.routes.is_empty() {
            self.counters
                .unrouted
                .fetch_add(points.len() as u64, Ordering::Relaxed);
            return None;
        }
        // Whether each route takes this write's database: once per write.
        let wants: Vec<bool> = table.routes.iter().map(|r| r.wants_dbrp(&dbrp)).collect();
        let mut points = match self.plan_unseen(&table, &wants, &dbrp, points) {
            Ok(planned) => return planned,
            Err(points) => points,
        };
        let mut learned: Learned = HashMap::new();
        let mut targets: Vec<usize> = Vec::new();
        let mut per_route: Vec<Vec<Point>> = Vec::new();
        let mut whole = None;
        let mut unrouted = 0u64;
        {
            let known = table.series.read().unwrap_or_else(|e| e.into_inner());
            let mut look = |point: &Point, targets: &mut Vec<usize>| {
                table.targets(point, &wants, &known, &mut learned, targets)
            };
            // The common case, one task taking every point of the write, is
            // handed the write's own vector: nothing is moved point by point.
            let mut only = None;
            let mut same = 0;
            while let Some(point) = points.get(same) {
                look(point, &mut targets);
                match (targets.as_slice(), only) {
                    (&[i], None) => only = Some(i),
                    (&[i], Some(o)) if i == o => {}
                    _ => break,
                }
                same += 1;
            }
            if same == points.len() {
                whole = only.map(|o| (o, std::mem::take(&mut points)));
            } else {
                per_route = vec![Vec::new(); table.routes.len()];
                let rest = points.split_off(same);
                if let Some(o) = only {
                    per_route[o] = std::mem::take(&mut points);
                }
                // `targets` already holds the first one's routes.
                let mut looked = true;
                for point in rest {
                    if !std::mem::take(&mut looked) {
                        look(&point, &mut targets);
                    }
                    // The last task that wants the point gets it, the others
                    // a copy: a point for one task is moved, never cloned.
                    match targets.split_last() {
                        None => unrouted += 1,
                        Some((&last, others)) => {
                            for &i in others {
                                per_route[i].push(point.clone());
                            }
                            per_route[last].push(point);
                        }
                    }
                }
            }
        }
        if !learned.is_empty() {
            let mut known = table.series.write().unwrap_or_else(|e| e.into_inner());
            if known.len() + learned.len() > SERIES_CACHE {
                known.clear();
            }
            known.extend(learned);
        }
        self.counters
            .unrouted
            .fetch_add(unrouted, Ordering::Relaxed);
        (whole.is_some() || per_route.iter().any(|p| !p.is_empty())).then_some(Planned {
            table,
            dbrp,
            per_route,
            whole,
        })
    }

    /// Routes a write without looking at its points when every route that
    /// takes its database takes all of them (no measurement, no `where`: a
    /// recording of a database), or none does. `Err` gives the points back
    /// to be routed one by one.
    fn plan_unseen(
        &self,
        table: &Arc<Table>,
        wants: &[bool],
        dbrp: &DbRp,
        points: Vec<Point>,
    ) -> Result<Option<Planned>, Vec<Point>> {
        let takes_all = |i: usize| {
            let r = &table.routes[i];
            r.measurement.is_none() && r.filter.is_none()
        };
        let takers: Vec<usize> = (0..wants.len()).filter(|&i| wants[i]).collect();
        if !takers.iter().all(|&i| takes_all(i)) {
            return Err(points);
        }
        let (whole, per_route) = match takers.as_slice() {
            [] => {
                self.counters
                    .unrouted
                    .fetch_add(points.len() as u64, Ordering::Relaxed);
                return Ok(None);
            }
            &[only] => (Some((only, points)), Vec::new()),
            &[first, ..] => {
                let mut per_route = vec![Vec::new(); table.routes.len()];
                for &i in &takers[1..] {
                    per_route[i] = points.clone();
                }
                per_route[first] = points;
                (None, per_route)
            }
        };
        Ok(Some(Planned {
            table: table.clone(),
            dbrp: dbrp.clone(),
            per_route,
            whole,
        }))
    }

    /// Hands every share to its task. `room_checked`: the shares of tasks
    /// that block were found to fit, so they are pushed, not offered.
    fn deliver(&self, planned: Planned, room_checked: bool) {
        let Planned {
            table,
            dbrp,
            per_route,
            whole,
        } = planned;
        let shares = whole.into_iter().chain(
            per_route
                .into_iter()
                .enumerate()
                .filter(|(_, p)| !p.is_empty()),
        );
        for (i, points) in shares {
            let route = &table.routes[i];
            let offered = points.len();
            let batch = PointBatch {
                dbrp: dbrp.clone(),
                points,
            };
            let accepted = if room_checked && route.block_when_full {
                route.inbox.push(batch)
            } else {
                route.inbox.offer(batch)
            };
            self.counters
                .routed
                .fetch_add(accepted as u64, Ordering::Relaxed);
            if accepted < offered {
                self.counters
                    .dropped
                    .fetch_add((offered - accepted) as u64, Ordering::Relaxed);
            }
        }
    }

    fn deliver_if_room(&self, planned: Planned, points: usize) -> Result<(), Held> {
        if planned.fits() {
            self.deliver(planned, true);
            Ok(())
        } else {
            Err(Held { planned, points })
        }
    }
}

impl PointSink for Router {
    fn write(&self, batch: PointBatch) {
        if let Some(planned) = self.plan(batch) {
            self.deliver(planned, false);
        }
    }

    fn try_write(&self, batch: PointBatch) -> Result<(), Held> {
        let points = batch.points.len();
        match self.plan(batch) {
            Some(planned) => self.deliver_if_room(planned, points),
            None => Ok(()),
        }
    }

    fn retry(&self, held: Held) -> Result<(), Held> {
        self.deliver_if_room(held.planned, held.points)
    }

    fn refuse(&self, held: Held, writer_told: bool) -> usize {
        let counter = if writer_told {
            &self.counters.refused
        } else {
            &self.counters.dropped
        };
        counter.fetch_add(held.points as u64, Ordering::Relaxed);
        held.points
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::point::{FieldValue, Fields, Series};

    #[derive(Default)]
    struct Collect {
        points: Mutex<Vec<Point>>,
        capacity: Option<usize>,
    }

    impl TaskInbox for Collect {
        fn offer(&self, batch: PointBatch) -> usize {
            let mut points = self.points.lock().unwrap();
            let room = self
                .capacity
                .map_or(usize::MAX, |c| c.saturating_sub(points.len()));
            let n = batch.points.len().min(room);
            points.extend(batch.points.into_iter().take(n));
            n
        }

        fn room(&self) -> usize {
            let queued = self.points.lock().unwrap().len();
            self.capacity
                .map_or(usize::MAX, |c| c.saturating_sub(queued))
        }

        fn push(&self, batch: PointBatch) -> usize {
            let n = batch.points.len();
            self.points.lock().unwrap().extend(batch.points);
            n
        }
    }

    fn point(m: &str, host: &str) -> Point {
        let s = Series::new(m.into(), vec![(Name::from("host"), Name::from(host))]).unwrap();
        Point {
            series: Arc::new(s),
            fields: Fields::from_pairs([("v".into(), FieldValue::Float(1.0))]),
            time: 1,
        }
    }

    fn route(
        task: &str,
        measurement: Option<&str>,
        dbrps: Vec<DbRp>,
        inbox: Arc<Collect>,
    ) -> Route {
        Route {
            task: task.into(),
            dbrps,
            measurement: measurement.map(Name::from),
            filter: None,
            inbox,
            block_when_full: false,
        }
    }

    #[test]
    fn points_go_to_the_tasks_that_want_them() {
        let router = Router::new();
        let cpu = Arc::new(Collect::default());
        let all = Arc::new(Collect::default());
        let other_db = Arc::new(Collect::default());
        router.upsert(route("cpu", Some("cpu"), vec![], cpu.clone()));
        router.upsert(route(
            "all",
            None,
            vec![DbRp::new("telegraf", "autogen")],
            all.clone(),
        ));
        router.upsert(route(
            "other",
            None,
            vec![DbRp::new("other", "autogen")],
            other_db.clone(),
        ));
        let mut host_b = route("host_b", Some("cpu"), vec![], Arc::new(Collect::default()));
        host_b.filter = Some(PointFilter::new([Name::from("host")], |p: &Point| {
            p.series.tag("host").is_some_and(|h| &**h == "b")
        }));
        let host_b_inbox = Arc::new(Collect::default());
        host_b.inbox = host_b_inbox.clone();
        router.upsert(host_b);
        router.write(PointBatch {
            dbrp: DbRp::new("telegraf", "autogen"),
            points: vec![point("cpu", "a"), point("mem", "a"), point("cpu", "b")],
        });
        assert_eq!(cpu.points.lock().unwrap().len(), 2);
        assert_eq!(all.points.lock().unwrap().len(), 3);
        assert_eq!(other_db.points.lock().unwrap().len(), 0);
        assert_eq!(host_b_inbox.points.lock().unwrap().len(), 1);
        assert_eq!(router.unrouted_points(), 0);
        assert_eq!(router.routed_points(), 6);
        router.remove("all");
        router.write(PointBatch {
            dbrp: DbRp::new("telegraf", "autogen"),
            points: vec![point("mem", "a")],
        });
        assert_eq!(router.unrouted_points(), 1);
    }

    #[test]
    fn a_tag_filter_runs_once_per_series_a_field_filter_once_per_point() {
        use std::sync::atomic::AtomicUsize;
        let router = Router::new();
        let tag_calls = Arc::new(AtomicUsize::new(0));
        let field_calls = Arc::new(AtomicUsize::new(0));
        let by_tag = Arc::new(Collect::default());
        let by_field = Arc::new(Collect::default());
        let mut tag = route("tag", Some("cpu"), vec![], by_tag.clone());
        let calls = tag_calls.clone();
        tag.filter = Some(PointFilter::new([Name::from("host")], move |p: &Point| {
            calls.fetch_add(1, Ordering::Relaxed);
            p.series.tag("host").is_some_and(|h| &**h == "a")
        }));
        router.upsert(tag);
        // `v` is a field of these points: asked point by point.
        let mut field = route("field", None, vec![], by_field.clone());
        let calls = field_calls.clone();
        field.filter = Some(PointFilter::new([Name::from("v")], move |p: &Point| {
            calls.fetch_add(1, Ordering::Relaxed);
            p.time % 2 == 0
        }));
        router.upsert(field);
        let a = point("cpu", "a");
        let b = point("cpu", "b");
        for _ in 0..3 {
            let points = (0..4)
                .map(|t| {
                    let mut p = if t % 2 == 0 { a.clone() } else { b.clone() };
                    p.time = t;
                    p
                })
                .collect();
            router.write(PointBatch {
                dbrp: DbRp::new("d", "r"),
                points,
            });
        }
        assert_eq!(by_tag.points.lock().unwrap().len(), 6);
        assert_eq!(tag_calls.load(Ordering::Relaxed), 2, "once per series");
        assert_eq!(by_field.points.lock().unwrap().len(), 6);
        assert_eq!(field_calls.load(Ordering::Relaxed), 12, "once per point");
    }

    #[test]
    fn a_write_that_starts_with_one_task_and_then_widens_keeps_every_point_in_order() {
        let router = Router::new();
        let cpu = Arc::new(Collect::default());
        let all = Arc::new(Collect::default());
        router.upsert(route("cpu", Some("cpu"), vec![], cpu.clone()));
        router.upsert(route("all", None, vec![], all.clone()));
        let mut mem_only = route(
            "mem_only",
            Some("mem"),
            vec![],
            Arc::new(Collect::default()),
        );
        mem_only.dbrps = vec![DbRp::new("other", "r")];
        router.upsert(mem_only);
        let times = |c: &Collect| {
            c.points
                .lock()
                .unwrap()
                .iter()
                .map(|p| p.time)
                .collect::<Vec<_>>()
        };
        // Only `all` wants mem: the write starts with one task, then two.
        let points = ["mem", "mem", "cpu", "mem", "cpu"]
            .iter()
            .enumerate()
            .map(|(t, m)| Point {
                time: t as i64,
                ..point(m, "a")
            })
            .collect();
        router.write(PointBatch {
            dbrp: DbRp::new("d", "r"),
            points,
        });
        assert_eq!(times(&all), [0, 1, 2, 3, 4]);
        assert_eq!(times(&cpu), [2, 4]);
        // Every point to `all`: handed over whole.
        let points = (5..8)
            .map(|t| Point {
                time: t,
                ..point("mem", "b")
            })
            .collect();
        router.write(PointBatch {
            dbrp: DbRp::new("d", "r"),
            points,
        });
        assert_eq!(times(&all), [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(router.routed_points(), 10);
        assert_eq!(router.unrouted_points(), 0);
    }

    #[test]
    fn a_write_waits_whole_for_a_task_that_blocks_and_is_never_half_applied() {
        let router = Router::new();
        let slow = Arc::new(Collect {
            capacity: Some(3),
            ..Default::default()
        });
        let other = Arc::new(Collect::default());
        let dropper = Arc::new(Collect {
            capacity: Some(1),
            ..Default::default()
        });
        let mut blocking = route("slow", None, vec![], slow.clone());
        blocking.block_when_full = true;
        router.upsert(blocking);
        router.upsert(route("other", None, vec![], other.clone()));
        router.upsert(route("dropper", None, vec![], dropper.clone()));
        let write = |n: i64| PointBatch {
            dbrp: DbRp::new("d", "r"),
            points: (0..n)
                .map(|t| Point {
                    time: t,
                    ..point("cpu", "a")
                })
                .collect(),
        };
        assert!(router.try_write(write(2)).is_ok());
        // Two more do not fit the slow task's 3: nobody gets them.
        let held = router.try_write(write(2)).unwrap_err();
        assert_eq!(held.points(), 2);
        assert_eq!(other.points.lock().unwrap().len(), 2);
        assert_eq!(slow.points.lock().unwrap().len(), 2);
        let held = router.retry(held).unwrap_err();
        // The slow task catches up; the retry goes through, routed once.
        slow.points.lock().unwrap().clear();
        assert!(router.retry(held).is_ok());
        assert_eq!(slow.points.lock().unwrap().len(), 2);
        assert_eq!(other.points.lock().unwrap().len(), 4);
        // A task that drops when full never holds a write up.
        assert_eq!(dropper.points.lock().unwrap().len(), 1);
        assert_eq!(router.dropped_points(), 3);
        // Given up on: counted by whether its writer was told.
        let held = router.try_write(write(5)).unwrap_err();
        assert_eq!(router.refuse(held, true), 5);
        assert_eq!(router.refused_points(), 5);
        let held = router.try_write(write(5)).unwrap_err();
        router.refuse(held, false);
        assert_eq!(router.dropped_points(), 8);
        // `write` (UDP) never waits: what does not fit is dropped.
        router.write(write(2));
        assert_eq!(slow.points.lock().unwrap().len(), 3);
    }

    #[test]
    fn a_full_task_queue_drops_and_counts() {
        let router = Router::new();
        let small = Arc::new(Collect {
            capacity: Some(2),
            ..Default::default()
        });
        router.upsert(route("t", None, vec![], small.clone()));
        let points = (0..5).map(|_| point("cpu", "a")).collect();
        router.write(PointBatch {
            dbrp: DbRp::new("d", "r"),
            points,
        });
        assert_eq!((router.routed_points(), router.dropped_points()), (2, 3));
    }

    #[test]
    fn routes_that_take_a_whole_database_get_every_point_of_it() {
        let router = Router::new();
        let one = Arc::new(Collect::default());
        let two = Arc::new(Collect::default());
        let d = DbRp::new("d", "r");
        router.upsert(route("one", None, vec![d.clone()], one.clone()));
        router.upsert(route("two", None, vec![], two.clone()));
        let write = |dbrp: &DbRp| PointBatch {
            dbrp: dbrp.clone(),
            points: vec![point("cpu", "a"), point("mem", "b")],
        };
        router.write(write(&d));
        router.write(write(&DbRp::new("other", "r")));
        assert_eq!(one.points.lock().unwrap().len(), 2);
        assert_eq!(two.points.lock().unwrap().len(), 4);
        router.remove("two");
        router.write(write(&DbRp::new("other", "r")));
        assert_eq!(router.unrouted_points(), 2);
        assert_eq!(router.routed_points(), 6);
    }
}
