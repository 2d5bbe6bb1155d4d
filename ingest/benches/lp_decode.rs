//! Line-protocol decode throughput, in input bytes per second.
//!
//! * `w1`: Telegraf `cpu` lines, 1,000 hosts × 10 cpus, 5 float fields, in
//!   bodies of 5,000 lines, decoded by one long-lived decoder (the steady
//!   state of a connection), and by a fresh decoder per body (cold caches).
//! * `mixed`: Telegraf's default inputs (cpu, mem with 30 fields, disk, diskio,
//!   net, system with a string field) for 50 hosts.
//! * `crate_parse_lines`: the `influxdb-line-protocol` crate on the same
//!   bodies, touching every value, as a peer.
//!
//! Run: `cargo bench -p ingest --bench lp_decode`
//!
//! Measured 2026-11-23 on the shared 2-vCPU EPYC VM (rustc 1.95, bench
//! profile, no LTO), best quiet window (load ≈ 1): `w1/decode_warm` 512 MiB/s
//! (537 MB/s) vs `w1/crate_parse_lines` 74 MiB/s; `mixed/decode_warm`
//! 520 MiB/s vs the crate's 98 MiB/s; cold decoders 185–195 MiB/s. Under
//! heavy load from other builds every figure halves, but the ratio to the
//! crate stays 5–7×. Without building `Point`s (parse only) W1 reaches
//! ~760 MB/s: a third of the time is the point itself (reference counts,
//! the values allocation, and dropping the previous batch).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ingest::lp::{DecodeOptions, Decoder, Precision};

const T0: u64 = 1_700_000_000_000_000_000;
const STEP: u64 = 10_000_000_000;

/// A tiny deterministic generator, so every run decodes the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A float formatted like Telegraf's (Go's shortest repr), in `0..max`.
    fn float(&mut self, max: f64) -> f64 {
        (self.next() % 1_000_000_007) as f64 / 1_000_000_007.0 * max
    }
}

/// W1 bodies: consecutive 5,000-line slices of the time-ordered stream.
fn w1_bodies(count: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut lines = Vec::new();
    let mut t = T0;
    while lines.len() < count * 5_000 {
        for host in 0..1_000 {
            for cpu in 0..10 {
                let user = rng.float(100.0);
                let system = rng.float(10.0);
                let idle = 100.0 - user.min(90.0) - system;
                lines.push(format!(
                    "cpu,cpu=cpu{cpu},host=host-{host:04} usage_user={user},usage_system={system},usage_idle={idle},usage_iowait=0.2,usage_irq=0 {t}\n"
                ));
            }
        }
        t += STEP;
    }
    lines
        .chunks(5_000)
        .take(count)
        .map(|c| c.concat().into_bytes())
        .collect()
}

/// A Telegraf flush from 50 hosts with the default input plugins.
fn mixed_body() -> Vec<u8> {
    let mut rng = Rng(0x2545f4914f6cdd1d);
    let mut out = String::new();
    let t = T0;
    for h in 0..50 {
        let host = format!("host-{h:04}");
        for cpu in (0..8)
            .map(|c| format!("cpu{c}"))
            .chain(["cpu-total".to_string()])
        {
            out += &format!(
                "cpu,cpu={cpu},host={host} usage_guest=0,usage_guest_nice=0,usage_idle={},usage_iowait={},usage_irq=0,usage_nice=0,usage_softirq={},usage_steal=0,usage_system={},usage_user={} {t}\n",
                rng.float(100.0),
                rng.float(2.0),
                rng.float(1.0),
                rng.float(10.0),
                rng.float(50.0)
            );
        }
        let percents = [
            format!("available_percent={}", rng.float(100.0)),
            format!("used_percent={}", rng.float(100.0)),
        ];
        let mem: Vec<String> = [
            "active",
            "available",
            "buffered",
            "cached",
            "commit_limit",
            "committed_as",
            "dirty",
            "free",
            "high_free",
            "high_total",
            "huge_page_size",
            "huge_pages_free",
            "huge_pages_total",
            "inactive",
            "low_free",
            "low_total",
            "mapped",
            "page_tables",
            "shared",
            "slab",
            "sreclaimable",
            "sunreclaim",
            "swap_cached",
            "swap_free",
            "swap_total",
            "total",
            "used",
            "vmalloc_chunk",
            "vmalloc_total",
        ]
        .iter()
        .map(|k| format!("{k}={}i", rng.next() % 34_359_738_368))
        .chain(percents)
        .collect();
        out += &format!("mem,host={host} {} {t}\n", mem.join(","));
        for (dev, path) in [("sda1", "/"), ("sda2", "/boot"), ("sdb1", "/var/lib/data")] {
            out += &format!(
                "disk,device={dev},fstype=ext4,host={host},mode=rw,path={path} free={}i,inodes_free={}i,inodes_total=6553600i,inodes_used={}i,total=107374182400i,used={}i,used_percent={} {t}\n",
                rng.next() % 107_374_182_400,
                rng.next() % 6_553_600,
                rng.next() % 6_553_600,
                rng.next() % 107_374_182_400,
                rng.float(100.0)
            );
        }
        out += &format!(
            "diskio,host={host},name=sda io_time={}i,iops_in_progress=0i,merged_reads={}i,merged_writes={}i,read_bytes={}i,read_time={}i,reads={}i,weighted_io_time={}i,write_bytes={}i,write_time={}i,writes={}i {t}\n",
            rng.next() % 1_000_000,
            rng.next() % 100_000,
            rng.next() % 100_000,
            rng.next() % (1 << 40),
            rng.next() % 1_000_000,
            rng.next() % 1_000_000,
            rng.next() % 1_000_000,
            rng.next() % (1 << 40),
            rng.next() % 1_000_000,
            rng.next() % 1_000_000
        );
        out += &format!(
            "net,host={host},interface=eth0 bytes_recv={}i,bytes_sent={}i,drop_in=0i,drop_out=0i,err_in=0i,err_out=0i,packets_recv={}i,packets_sent={}i {t}\n",
            rng.next() % (1 << 40),
            rng.next() % (1 << 40),
            rng.next() % (1 << 32),
            rng.next() % (1 << 32)
        );
        out += &format!(
            "system,host={host} load1={},load15={},load5={},n_cpus=8i,n_users=2i {t}\n",
            rng.float(4.0),
            rng.float(4.0),
            rng.float(4.0)
        );
        out += &format!(
            "system,host={host} uptime={}i,uptime_format=\"{} days, {:2}:{:02}\" {t}\n",
            rng.next() % 10_000_000,
            rng.next() % 100,
            rng.next() % 24,
            rng.next() % 60
        );
    }
    out.into_bytes()
}

fn opts() -> DecodeOptions {
    DecodeOptions {
        precision: Precision::Nanosecond,
        now_ns: T0 as i64,
        accept_unsigned: false,
    }
}

fn decode_all(d: &mut Decoder, body: &[u8], points: &mut Vec<pipeline::Point>) -> usize {
    let mut errors = Vec::new();
    points.clear();
    d.decode(body, &opts(), points, &mut errors);
    assert!(errors.is_empty(), "{:?}", errors.first());
    points.len()
}

/// The crate's parse, touching every value so nothing is left lazy.
fn crate_parse(body: &[u8]) -> f64 {
    let text = std::str::from_utf8(body).expect("generated bodies are UTF-8");
    let mut acc = 0.0;
    for line in influxdb_line_protocol::parse_lines(text) {
        let line = line.expect("generated lines parse");
        acc += line.series.measurement.len() as f64;
        for (k, v) in line.series.tag_set.iter().flatten() {
            acc += (k.len() + v.len()) as f64;
        }
        for (k, v) in &line.field_set {
            acc += k.len() as f64;
            acc += match v {
                influxdb_line_protocol::FieldValue::F64(f) => *f,
                influxdb_line_protocol::FieldValue::I64(i) => *i as f64,
                influxdb_line_protocol::FieldValue::U64(u) => *u as f64,
                influxdb_line_protocol::FieldValue::String(s) => s.len() as f64,
                influxdb_line_protocol::FieldValue::Boolean(b) => f64::from(u8::from(*b)),
            };
        }
        acc += line.timestamp.unwrap_or_default() as f64;
    }
    acc
}

fn bench(c: &mut Criterion) {
    let bodies = w1_bodies(4);
    let mut g = c.benchmark_group("w1");
    g.throughput(Throughput::Bytes(bodies[0].len() as u64));
    let mut d = Decoder::new();
    let mut points = Vec::with_capacity(5_000);
    let mut n = 0;
    g.bench_function("decode_warm", |b| {
        b.iter(|| {
            // Rotate through consecutive bodies as a live connection would.
            n = (n + 1) % bodies.len();
            black_box(decode_all(&mut d, &bodies[n], &mut points))
        })
    });
    g.bench_function("decode_cold", |b| {
        b.iter(|| black_box(decode_all(&mut Decoder::new(), &bodies[0], &mut points)))
    });
    g.bench_function("crate_parse_lines", |b| {
        b.iter(|| black_box(crate_parse(&bodies[0])))
    });
    g.finish();

    let body = mixed_body();
    let mut g = c.benchmark_group("mixed");
    g.throughput(Throughput::Bytes(body.len() as u64));
    let mut d = Decoder::new();
    g.bench_function("decode_warm", |b| {
        b.iter(|| black_box(decode_all(&mut d, &body, &mut points)))
    });
    g.bench_function("decode_cold", |b| {
        b.iter(|| black_box(decode_all(&mut Decoder::new(), &body, &mut points)))
    });
    g.bench_function("crate_parse_lines", |b| {
        b.iter(|| black_box(crate_parse(&body)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
