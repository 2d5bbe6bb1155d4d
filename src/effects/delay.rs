//! How long events wait between being published and reaching a handler:
//! a lock-free histogram of log-spaced buckets (about 9% wide, from 1 µs to
//! about 17 minutes), cheap enough to record every event, precise enough
//! for a p99, and exposed to Prometheus as a histogram.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets per doubling: each bucket is 2^(1/8) ≈ 9% wider than the last.
const PER_DOUBLING: usize = 8;
/// Doublings from 1 µs: 2^30 µs ≈ 17.9 minutes.
const DOUBLINGS: usize = 30;
const BUCKETS: usize = PER_DOUBLING * DOUBLINGS + 1;

/// The bounds Prometheus sees, in seconds: a coarser view of the buckets.
pub const EXPORTED_BOUNDS: [f64; 14] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
    10.0,
];

/// Counts of delays by bucket.
#[derive(Debug)]
pub struct DelayHistogram {
    buckets: Box<[AtomicU64]>,
    sum_ns: AtomicU64,
}

impl Default for DelayHistogram {
    fn default() -> Self {
        DelayHistogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
        }
    }
}

/// The upper bound of bucket `i`, in ns (the last holds everything above).
fn upper_ns(i: usize) -> f64 {
    1_000.0 * 2f64.powf(i as f64 / PER_DOUBLING as f64)
}

fn bucket_of(ns: u64) -> usize {
    if ns <= 1_000 {
        return 0;
    }
    let i = ((ns as f64 / 1_000.0).log2() * PER_DOUBLING as f64).ceil() as usize;
    i.min(BUCKETS - 1)
}

impl DelayHistogram {
    pub fn record(&self, delay: Duration) {
        let ns = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(ns)].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> DelaySnapshot {
        DelaySnapshot {
            counts: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
        }
    }
}

/// A histogram's counts at one moment; snapshots add up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DelaySnapshot {
    counts: Vec<u64>,
    sum_ns: u64,
}

impl DelaySnapshot {
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_ns)
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &DelaySnapshot) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.sum_ns += other.sum_ns;
    }

    /// The counts since `earlier` (a snapshot of the same histogram).
    pub fn since(&self, earlier: &DelaySnapshot) -> DelaySnapshot {
        DelaySnapshot {
            counts: self
                .counts
                .iter()
                .enumerate()
                .map(|(i, c)| c.saturating_sub(earlier.counts.get(i).copied().unwrap_or(0)))
                .collect(),
            sum_ns: self.sum_ns.saturating_sub(earlier.sum_ns),
        }
    }

    /// The delay below which a share `q` (0 to 1) of the events waited: the
    /// upper bound of the bucket it falls in (at most 9% above the truth).
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Duration::from_nanos(upper_ns(i) as u64));
            }
        }
        None
    }

    /// Cumulative counts at [`EXPORTED_BOUNDS`] (events at most that many
    /// seconds), for a Prometheus histogram.
    pub fn cumulative(&self) -> [u64; EXPORTED_BOUNDS.len()] {
        let mut out = [0; EXPORTED_BOUNDS.len()];
        for (i, c) in self.counts.iter().enumerate() {
            let upper_s = upper_ns(i) / 1e9;
            for (slot, bound) in out.iter_mut().zip(EXPORTED_BOUNDS) {
                // A bucket counts below a bound only when it lies wholly under it.
                if upper_s <= bound * 1.000_001 {
                    *slot += c;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_bucket_of_the_truth() {
        let h = DelayHistogram::default();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 1000);
        for (q, truth_us) in [(0.5, 500.0), (0.99, 990.0), (1.0, 1000.0)] {
            let got = s.quantile(q).unwrap().as_nanos() as f64 / 1000.0;
            assert!(
                got >= truth_us && got <= truth_us * 1.1,
                "q{q}: {got} vs {truth_us}"
            );
        }
        let c = s.cumulative();
        assert_eq!(c[EXPORTED_BOUNDS.len() - 1], 1000);
        assert!(c[0] <= 50 && c[0] >= 40, "{c:?}");
        assert_eq!(DelaySnapshot::default().quantile(0.99), None);
        let mut sum = s.clone();
        sum.add(&s);
        assert_eq!(sum.count(), 2000);
        assert_eq!(sum.since(&s).count(), 1000);
    }
}
