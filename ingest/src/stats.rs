//! Ingest counters: per listener, and per database/retention policy within a
//! listener. Updated once per request, datagram or decoded chunk, never per
//! point, so they cost nothing on the hot path.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use model::{Limit, LimitBreaches};
use pipeline::DbRp;
use serde::Serialize;

/// Which listener a counter belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Listener {
    Http,
    Udp,
    Tcp,
}

impl Listener {
    pub fn as_str(self) -> &'static str {
        match self {
            Listener::Http => "http",
            Listener::Udp => "udp",
            Listener::Tcp => "tcp",
        }
    }
}

/// Counters for one database/retention policy on one listener.
#[derive(Debug, Default)]
pub struct DbRpCounters {
    points: AtomicU64,
    bytes: AtomicU64,
    parse_errors: AtomicU64,
    dropped: AtomicU64,
    /// Wall clock of the last write, ms since the epoch.
    last_write_ms: AtomicU64,
}

/// The key of the bucket that counts writes to db/rps past
/// [`ListenerCounters::set_max_dbrps`]: not `db.rp`-shaped, so it never
/// collides with one.
pub const OTHER_DBRPS: &str = "other";

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl DbRpCounters {
    /// Records one decoded write: its size, the points kept and the lines
    /// that failed to parse.
    pub fn record(&self, bytes: usize, points: usize, parse_errors: usize) {
        self.last_write_ms.store(now_ms(), Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.points.fetch_add(points as u64, Ordering::Relaxed);
        if parse_errors > 0 {
            self.parse_errors
                .fetch_add(parse_errors as u64, Ordering::Relaxed);
        }
    }

    /// Records points or lines lost for a reason other than a parse error
    /// (a TCP line over the length limit, a connection cut mid-line).
    pub fn drop_points(&self, n: usize) {
        self.dropped.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn add(&self, s: &DbRpSnapshot) {
        self.points.fetch_add(s.points, Ordering::Relaxed);
        self.bytes.fetch_add(s.bytes, Ordering::Relaxed);
        self.parse_errors
            .fetch_add(s.parse_errors, Ordering::Relaxed);
        self.dropped.fetch_add(s.dropped, Ordering::Relaxed);
    }

    fn snapshot(&self) -> DbRpSnapshot {
        DbRpSnapshot {
            points: self.points.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            parse_errors: self.parse_errors.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// Counters for one listener as a whole.
#[derive(Debug, Default)]
pub struct ListenerCounters {
    /// HTTP requests, UDP datagrams or TCP connections accepted.
    units: AtomicU64,
    /// TCP connections open now.
    active: AtomicU64,
    /// Requests or connections refused before any line was read: bad gzip,
    /// body too large, bad parameters, failed authentication, too many
    /// connections.
    rejected: AtomicU64,
    /// Connections closed for sending nothing within the idle timeout.
    idle_timeouts: AtomicU64,
    by_dbrp: RwLock<BTreeMap<DbRp, Arc<DbRpCounters>>>,
    /// Writes to db/rps past `max_dbrps`, counted together.
    other: Arc<DbRpCounters>,
    /// What expired db/rps had counted, so the listener's totals stay whole.
    retired: DbRpCounters,
    /// Most db/rps counted apart (`ingest.max_dbrps`); 0: no limit.
    max_dbrps: AtomicU64,
    /// Where limits breached on this listener are counted (shared with the
    /// other listeners and the rest of the daemon).
    breaches: Arc<LimitBreaches>,
}

impl ListenerCounters {
    /// Where limits breached on this listener are counted.
    pub fn breaches(&self) -> &Arc<LimitBreaches> {
        &self.breaches
    }

    pub fn accept(&self) {
        self.units.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reject(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection closed for being idle too long.
    pub fn idle_timeout(&self) {
        self.idle_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks a connection open until the guard is dropped.
    pub fn open(self: &Arc<Self>) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::Relaxed);
        ActiveGuard(self.clone())
    }

    /// Counts at most `max` db/rps apart (0: no limit); writes to more go
    /// to the [`OTHER_DBRPS`] bucket.
    pub fn set_max_dbrps(&self, max: usize) {
        self.max_dbrps.store(max as u64, Ordering::Relaxed);
    }

    /// The counters for `dbrp`, created on first use (or the shared
    /// [`OTHER_DBRPS`] bucket, when `max_dbrps` are counted already).
    /// Callers that write to one db/rp repeatedly (a UDP or TCP listener)
    /// keep the `Arc`, which keeps it from expiring.
    pub fn dbrp(&self, dbrp: &DbRp) -> Arc<DbRpCounters> {
        if let Some(c) = self
            .by_dbrp
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(dbrp)
        {
            return c.clone();
        }
        let mut map = self.by_dbrp.write().unwrap_or_else(|e| e.into_inner());
        let max = self.max_dbrps.load(Ordering::Relaxed) as usize;
        if max > 0 && map.len() >= max && !map.contains_key(dbrp) {
            self.breaches.breach(Limit::IngestMaxDbrps);
            return self.other.clone();
        }
        map.entry(dbrp.clone()).or_default().clone()
    }

    /// Forgets the db/rps that got no write for `idle` (and that no
    /// connection holds), adding what they counted to the listener's
    /// totals, so writes to ever-new databases do not grow memory.
    /// Returns how many were forgotten.
    pub fn expire_idle(&self, idle: std::time::Duration) -> usize {
        let cutoff = now_ms().saturating_sub(idle.as_millis() as u64);
        let mut map = self.by_dbrp.write().unwrap_or_else(|e| e.into_inner());
        let before = map.len();
        map.retain(|_, c| {
            // Under the write lock nobody can take a new handle: a count of
            // one is the map's own.
            let keep = Arc::strong_count(c) > 1 || c.last_write_ms.load(Ordering::Relaxed) > cutoff;
            if !keep {
                self.retired.add(&c.snapshot());
            }
            keep
        });
        before - map.len()
    }

    fn snapshot(&self, kind: Listener) -> ListenerSnapshot {
        let by_dbrp = self.by_dbrp.read().unwrap_or_else(|e| e.into_inner());
        let mut dbrps: BTreeMap<String, DbRpSnapshot> = by_dbrp
            .iter()
            // Keyed `db.rp` unquoted, as these keys have always been, not
            // with DbRp's Display, which quotes a part that holds a dot.
            .map(|(k, v)| (format!("{}.{}", k.db, k.rp), v.snapshot()))
            .collect();
        let retired = self.retired.snapshot();
        drop(by_dbrp);
        let other = self.other.snapshot();
        if other != DbRpSnapshot::default() {
            dbrps.insert(OTHER_DBRPS.to_owned(), other);
        }
        let sum = |f: fn(&DbRpSnapshot) -> u64| dbrps.values().map(f).sum::<u64>() + f(&retired);
        let units = Some(self.units.load(Ordering::Relaxed));
        ListenerSnapshot {
            requests: units.filter(|_| kind == Listener::Http),
            datagrams: units.filter(|_| kind == Listener::Udp),
            connections: units.filter(|_| kind == Listener::Tcp),
            active_connections: Some(self.active.load(Ordering::Relaxed))
                .filter(|_| kind == Listener::Tcp),
            rejected: self.rejected.load(Ordering::Relaxed),
            idle_timeouts: Some(self.idle_timeouts.load(Ordering::Relaxed))
                .filter(|_| kind == Listener::Tcp),
            points: sum(|d| d.points),
            bytes: sum(|d| d.bytes),
            parse_errors: sum(|d| d.parse_errors),
            dropped: sum(|d| d.dropped),
            dbrps,
        }
    }
}

/// Keeps a connection counted as active while it lives.
#[derive(Debug)]
pub struct ActiveGuard(Arc<ListenerCounters>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// All ingest counters of a server.
#[derive(Debug)]
pub struct IngestStats {
    pub http: Arc<ListenerCounters>,
    pub udp: Arc<ListenerCounters>,
    pub tcp: Arc<ListenerCounters>,
    /// Every limit's breaches, the listeners' and (counted by the rest of
    /// the daemon) the others'.
    pub breaches: Arc<LimitBreaches>,
}

impl Default for IngestStats {
    fn default() -> Self {
        let breaches = Arc::<LimitBreaches>::default();
        let listener = || {
            Arc::new(ListenerCounters {
                breaches: breaches.clone(),
                ..ListenerCounters::default()
            })
        };
        IngestStats {
            http: listener(),
            udp: listener(),
            tcp: listener(),
            breaches: breaches.clone(),
        }
    }
}

impl IngestStats {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    pub fn listener(&self, listener: Listener) -> &Arc<ListenerCounters> {
        match listener {
            Listener::Http => &self.http,
            Listener::Udp => &self.udp,
            Listener::Tcp => &self.tcp,
        }
    }

    /// See [`ListenerCounters::set_max_dbrps`], for every listener.
    pub fn set_max_dbrps(&self, max: usize) {
        for l in [&self.http, &self.udp, &self.tcp] {
            l.set_max_dbrps(max);
        }
    }

    /// See [`ListenerCounters::expire_idle`], for every listener.
    pub fn expire_idle(&self, idle: std::time::Duration) -> usize {
        [&self.http, &self.udp, &self.tcp]
            .iter()
            .map(|l| l.expire_idle(idle))
            .sum()
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, ListenerSnapshot> {
        [Listener::Http, Listener::Udp, Listener::Tcp]
            .into_iter()
            .map(|l| (l.as_str(), self.listener(l).snapshot(l)))
            .collect()
    }
}

/// What the status endpoint shows for one db/rp.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DbRpSnapshot {
    pub points: u64,
    pub bytes: u64,
    pub parse_errors: u64,
    pub dropped: u64,
}

/// What the status endpoint shows for one listener.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ListenerSnapshot {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datagrams: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_connections: Option<u64>,
    /// Requests, datagrams or connections refused before any line was read.
    pub rejected: u64,
    /// TCP connections closed for sending nothing within `tcp.idle_timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeouts: Option<u64>,
    pub points: u64,
    pub bytes: u64,
    pub parse_errors: u64,
    pub dropped: u64,
    pub dbrps: BTreeMap<String, DbRpSnapshot>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_dbrps_expire_and_the_totals_stay_whole() {
        let l = ListenerCounters::default();
        l.dbrp(&DbRp::new("a", "rp")).record(10, 2, 1);
        let held = l.dbrp(&DbRp::new("b", "rp"));
        held.record(5, 1, 0);
        std::thread::sleep(std::time::Duration::from_millis(20));
        l.dbrp(&DbRp::new("c", "rp")).record(1, 1, 0);
        assert_eq!(l.expire_idle(std::time::Duration::from_millis(10)), 1);
        let s = l.snapshot(Listener::Http);
        // b is held (a connection writes to it): kept; c is recent.
        assert_eq!(s.dbrps.keys().collect::<Vec<_>>(), ["b.rp", "c.rp"]);
        assert_eq!((s.points, s.bytes, s.parse_errors), (4, 16, 1));
        // A db/rp that comes back starts again from zero.
        l.dbrp(&DbRp::new("a", "rp")).record(1, 1, 0);
        let s = l.snapshot(Listener::Http);
        assert_eq!(s.dbrps["a.rp"].points, 1);
        assert_eq!(s.points, 5);
    }

    #[test]
    fn db_rps_past_the_cap_count_as_other() {
        let l = ListenerCounters::default();
        l.set_max_dbrps(2);
        for db in ["a", "b", "c", "d", "a"] {
            l.dbrp(&DbRp::new(db, "rp")).record(1, 1, 0);
        }
        let s = l.snapshot(Listener::Http);
        assert_eq!(
            s.dbrps.keys().collect::<Vec<_>>(),
            ["a.rp", "b.rp", OTHER_DBRPS]
        );
        assert_eq!(s.dbrps[OTHER_DBRPS].points, 2);
        assert_eq!(s.dbrps["a.rp"].points, 2);
        assert_eq!(s.points, 5);
        assert_eq!(l.breaches().get(Limit::IngestMaxDbrps), 2);
    }
}
