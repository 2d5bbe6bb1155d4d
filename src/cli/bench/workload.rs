//! The W1 workload: what a fleet of Telegraf agents running `inputs.cpu`
//! sends. One `cpu` line per (host, cpu) per interval, tags sorted by key,
//! five float fields printed the way Telegraf prints floats (shortest
//! round-trip decimal, no exponent, whole values without a point), time
//! ordered, nanosecond timestamps.
//!
//! Everything is generated before the timed part of a run, so the client's
//! CPU goes to sending, not to formatting.

use std::fmt::Write as _;
use std::io::Write as _;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

/// The shape of the series and the time axis.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub hosts: u32,
    pub cpus: u32,
    /// First timestamp, Unix ns.
    pub start_ns: i64,
    /// Interval between the timestamps of one series, ns.
    pub step_ns: i64,
}

impl Workload {
    /// Number of distinct series (hosts × cpus).
    pub fn series(&self) -> u64 {
        u64::from(self.hosts) * u64::from(self.cpus)
    }

    /// Appends line number `index` (0-based over the whole run): every series
    /// at one timestamp, then every series at the next.
    pub fn write_line(&self, index: u64, out: &mut String) {
        let series = self.series();
        let tick = index / series;
        let within = index % series;
        let host = within / u64::from(self.cpus);
        let cpu = within % u64::from(self.cpus);
        let ts = self.start_ns + self.step_ns * tick as i64;
        let fields = CpuSample::new(index);
        // `cpu` sorts before `host`, as Telegraf sends them.
        let _ = writeln!(
            out,
            "cpu,cpu=cpu{cpu},host=host-{host:04} usage_user={},usage_system={},usage_idle={},usage_iowait={},usage_irq={} {ts}",
            fields.user, fields.system, fields.idle, fields.iowait, fields.irq
        );
    }
}

/// One interval of `/proc/stat` jiffies turned into percentages, as
/// Telegraf's cpu input does: 100 × delta / total, so the values carry the
/// long decimals real agents send (`23.529411764705884`) and zeros print as
/// `0`.
struct CpuSample {
    user: f64,
    system: f64,
    idle: f64,
    iowait: f64,
    irq: f64,
}

impl CpuSample {
    fn new(index: u64) -> CpuSample {
        let mut r = SplitMix64(index.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5eed);
        // ~10 s of jiffies at 100 Hz, with the jitter of a real interval.
        let total = 990 + r.below(21);
        let user = r.below(400);
        let system = r.below(120);
        let iowait = if r.below(4) == 0 { r.below(30) } else { 0 };
        let irq = if r.below(10) == 0 { r.below(5) } else { 0 };
        let idle = total - user - system - iowait - irq;
        let pct = |v: u64| 100.0 * v as f64 / total as f64;
        CpuSample {
            user: pct(user),
            system: pct(system),
            idle: pct(idle),
            iowait: pct(iowait),
            irq: pct(irq),
        }
    }
}

/// A tiny deterministic generator: the same index always gives the same
/// line, so runs are comparable.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One pre-built request body (or TCP chunk): `lines` lines, gzip-compressed
/// when asked.
#[derive(Debug, Clone)]
pub struct Body {
    pub data: Bytes,
    pub lines: u64,
    /// Uncompressed size.
    pub raw_len: u64,
}

/// Splits `points` lines into bodies of at most `batch` lines, built on
/// `threads` threads. Bodies come out in time order.
pub fn bodies(
    workload: &Workload,
    points: u64,
    batch: u64,
    gzip: bool,
    threads: usize,
) -> Vec<Body> {
    let batch = batch.max(1);
    let count = points.div_ceil(batch) as usize;
    let threads = threads.clamp(1, count.max(1));
    let per_thread = count.div_ceil(threads);
    let mut out: Vec<Body> = Vec::with_capacity(count);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let first = t * per_thread;
                    let last = ((t + 1) * per_thread).min(count);
                    (first..last)
                        .map(|b| {
                            let from = b as u64 * batch;
                            let to = (from + batch).min(points);
                            build(workload, from, to, gzip)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in handles {
            out.extend(handle.join().expect("body generator panicked"));
        }
    });
    out
}

fn build(workload: &Workload, from: u64, to: u64, gzip: bool) -> Body {
    let mut text = String::with_capacity(((to - from) * 180) as usize);
    for i in from..to {
        workload.write_line(i, &mut text);
    }
    let raw_len = text.len() as u64;
    let data = if gzip {
        let mut enc = GzEncoder::new(Vec::with_capacity(text.len() / 4), Compression::fast());
        enc.write_all(text.as_bytes())
            .expect("gzip into memory cannot fail");
        Bytes::from(enc.finish().expect("gzip into memory cannot fail"))
    } else {
        Bytes::from(text.into_bytes())
    };
    Body {
        data,
        lines: to - from,
        raw_len,
    }
}

/// Packs whole lines into datagrams of at most `payload` bytes (a line
/// longer than that goes alone).
pub fn datagrams(workload: &Workload, points: u64, payload: usize) -> Vec<Body> {
    let mut out = Vec::new();
    let mut line = String::with_capacity(256);
    let mut current: Vec<u8> = Vec::with_capacity(payload);
    let mut lines = 0;
    for i in 0..points {
        line.clear();
        workload.write_line(i, &mut line);
        if !current.is_empty() && current.len() + line.len() > payload {
            let raw_len = current.len() as u64;
            out.push(Body {
                data: Bytes::from(std::mem::replace(&mut current, Vec::with_capacity(payload))),
                lines,
                raw_len,
            });
            lines = 0;
        }
        current.extend_from_slice(line.as_bytes());
        lines += 1;
    }
    if !current.is_empty() {
        let raw_len = current.len() as u64;
        out.push(Body {
            data: Bytes::from(current),
            lines,
            raw_len,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w1() -> Workload {
        Workload {
            hosts: 1000,
            cpus: 10,
            start_ns: 1_700_000_000_000_000_000,
            step_ns: 10_000_000_000,
        }
    }

    #[test]
    fn lines_look_like_telegraf_cpu() {
        let mut s = String::new();
        w1().write_line(0, &mut s);
        w1().write_line(10_013, &mut s);
        let lines: Vec<&str> = s.lines().collect();
        assert!(
            lines[0].starts_with("cpu,cpu=cpu0,host=host-0000 usage_user="),
            "{}",
            lines[0]
        );
        assert!(lines[0].ends_with(" 1700000000000000000"));
        assert!(
            lines[1].starts_with("cpu,cpu=cpu3,host=host-0001 usage_user="),
            "{}",
            lines[1]
        );
        assert!(lines[1].ends_with(" 1700000010000000000"));
        for line in lines {
            let fields = line.split(' ').nth(1).unwrap();
            let names: Vec<&str> = fields
                .split(',')
                .map(|f| f.split('=').next().unwrap())
                .collect();
            assert_eq!(
                names,
                [
                    "usage_user",
                    "usage_system",
                    "usage_idle",
                    "usage_iowait",
                    "usage_irq"
                ]
            );
            for f in fields.split(',') {
                let v = f.split('=').nth(1).unwrap();
                assert!(!v.contains(['e', 'E', 'i']), "{v}");
                let x: f64 = v.parse().unwrap();
                assert!((0.0..=100.0).contains(&x));
            }
        }
    }

    #[test]
    fn whole_floats_print_without_a_point() {
        // Telegraf prints float zero as `0`; enough samples hit irq = 0.
        let mut s = String::new();
        for i in 0..100 {
            w1().write_line(i, &mut s);
        }
        assert!(s.contains("usage_irq=0 "));
    }

    #[test]
    fn bodies_cover_every_point_in_order() {
        let bodies = bodies(&w1(), 12_345, 5000, false, 3);
        assert_eq!(
            bodies.iter().map(|b| b.lines).collect::<Vec<_>>(),
            [5000, 5000, 2345]
        );
        let mut expected = String::new();
        for i in 0..12_345 {
            w1().write_line(i, &mut expected);
        }
        let joined: Vec<u8> = bodies.iter().flat_map(|b| b.data.to_vec()).collect();
        assert_eq!(joined, expected.as_bytes());
    }

    #[test]
    fn datagrams_hold_whole_lines() {
        let grams = datagrams(&w1(), 1000, 1472);
        assert_eq!(grams.iter().map(|g| g.lines).sum::<u64>(), 1000);
        for g in &grams {
            assert!(g.data.len() <= 1472);
            assert!(g.data.ends_with(b"\n"));
        }
    }
}
