//! The router: decides, once per point, which tasks receive it.
//!
//! Tasks are indexed by measurement, so a point is checked only against the
//! tasks that could want it: a hundred tasks that each want 1% of the points
//! cost about as much as one. Each task's points from one write are handed
//! over together, without blocking: a task that cannot keep up loses points
//! (counted) instead of slowing ingest.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::point::{DbRp, Name, Point, PointBatch};

/// Where listeners hand decoded points. Implemented by the [`Router`]; tests
/// and benchmarks may use their own.
pub trait PointSink: Send + Sync + 'static {
    /// Takes a batch. Must not block on slow consumers: a full queue drops and
    /// counts rather than stalls ingest.
    fn write(&self, batch: PointBatch);
}

/// A task's input, as the router sees it.
pub trait TaskInbox: Send + Sync {
    /// Offers points; returns how many were accepted (the rest were dropped
    /// because the task's queue is full). Must not block.
    fn offer(&self, batch: PointBatch) -> usize;
}

/// A predicate on points: the YAML `where` of a task.
pub type PointFilter = Arc<dyn Fn(&Point) -> bool + Send + Sync>;

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
}

impl Route {
    fn wants(&self, dbrp: &DbRp, point: &Point) -> bool {
        (self.dbrps.is_empty() || self.dbrps.contains(dbrp))
            && self.filter.as_ref().is_none_or(|f| f(point))
    }
}

/// Routes indexed for lookup; rebuilt whole when tasks change, so a write
/// always sees one consistent set.
#[derive(Default)]
struct Table {
    routes: Vec<Route>,
    by_measurement: HashMap<Name, Vec<usize>>,
    any_measurement: Vec<usize>,
}

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
        }
    }
}

/// Counters of the router.
#[derive(Debug, Default)]
struct Counters {
    unrouted: AtomicU64,
    routed: AtomicU64,
    dropped: AtomicU64,
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
        let mut routes = self.routes();
        routes.retain(|r| r.task != route.task);
        routes.push(route);
        self.set_routes(routes);
    }

    /// Removes the route of `task`.
    pub fn remove(&self, task: &str) {
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

    /// Points a task's full queue refused.
    pub fn dropped_points(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }
}

impl PointSink for Router {
    fn write(&self, batch: PointBatch) {
        let table = self.current();
        if table.routes.is_empty() {
            self.counters
                .unrouted
                .fetch_add(batch.points.len() as u64, Ordering::Relaxed);
            return;
        }
        let mut per_route: Vec<Vec<Point>> = vec![Vec::new(); table.routes.len()];
        let mut unrouted = 0u64;
        // Consecutive points usually share a measurement: look it up once.
        let mut last: Option<(Name, &[usize])> = None;
        for point in &batch.points {
            let measurement = point.measurement();
            let candidates = match &last {
                Some((m, c)) if Arc::ptr_eq(m, measurement) || m == measurement => *c,
                _ => {
                    let c = table
                        .by_measurement
                        .get(measurement)
                        .map_or(&[][..], Vec::as_slice);
                    last = Some((measurement.clone(), c));
                    c
                }
            };
            let mut wanted = false;
            for &i in candidates.iter().chain(&table.any_measurement) {
                if table.routes[i].wants(&batch.dbrp, point) {
                    per_route[i].push(point.clone());
                    wanted = true;
                }
            }
            if !wanted {
                unrouted += 1;
            }
        }
        self.counters
            .unrouted
            .fetch_add(unrouted, Ordering::Relaxed);
        for (route, points) in table.routes.iter().zip(per_route) {
            if points.is_empty() {
                continue;
            }
            let offered = points.len();
            let accepted = route.inbox.offer(PointBatch {
                dbrp: batch.dbrp.clone(),
                points,
            });
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
        host_b.filter = Some(Arc::new(|p: &Point| {
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
}
