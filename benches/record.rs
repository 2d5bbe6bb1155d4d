//! What recording costs an ingest thread, on one core: W1 bodies (5,000
//! Telegraf `cpu` lines, 1,000 hosts × 10 cpus, five float fields) decoded
//! by a warm decoder and dropped, as an HTTP write with no task does, against
//! the same with each write encoded into a recording's frames in between, as
//! a live recording does on the thread that decoded the write.
//!
//! Run: `cargo bench --bench record`. Built with the daemon's allocator.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ingest::lp::{DecodeOptions, Decoder, Precision};
use kapacitor::replay::file::FrameEncoder;
use pipeline::DbRp;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const LINES: usize = 5_000;

/// W1 bodies: consecutive 5,000-line slices of the time-ordered stream,
/// two timestamps' worth (every series twice).
fn w1_bodies() -> Vec<Vec<u8>> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut float = |max: f64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 1_000_000_007) as f64 / 1_000_000_007.0 * max
    };
    let (mut body, mut lines) = (Vec::new(), 0);
    let mut bodies = Vec::new();
    for t in 0..2u64 {
        let time = 1_700_000_000_000_000_000 + t * 10_000_000_000;
        for host in 0..1_000 {
            for cpu in 0..10 {
                let (user, system) = (float(100.0), float(10.0));
                let idle = 100.0 - user.min(90.0) - system;
                body.extend_from_slice(format!(
                    "cpu,cpu=cpu{cpu},host=host-{host:04} usage_user={user},usage_system={system},usage_idle={idle},usage_iowait=0.2,usage_irq=0 {time}\n"
                ).as_bytes());
                lines += 1;
                if lines % LINES == 0 {
                    bodies.push(std::mem::take(&mut body));
                }
            }
        }
    }
    bodies
}

fn record(c: &mut Criterion) {
    let bodies = w1_bodies();
    let opts = DecodeOptions {
        precision: Precision::Nanosecond,
        now_ns: 0,
        accept_unsigned: false,
    };
    let dbrp = DbRp::new("telegraf", "autogen");
    let mut group = c.benchmark_group("w1");
    group.throughput(Throughput::Elements((bodies.len() * LINES) as u64));
    let mut decoder = Decoder::new();
    let mut errors = Vec::new();
    group.bench_function("decode", |b| {
        b.iter(|| {
            for body in &bodies {
                let mut points = Vec::with_capacity(LINES);
                decoder.decode(body, &opts, &mut points, &mut errors);
                black_box(points);
            }
        })
    });
    let mut decoder = Decoder::new();
    let mut encoder = FrameEncoder::new(u64::MAX);
    let mut frames = Vec::new();
    group.bench_function("decode_and_record", |b| {
        b.iter(|| {
            for body in &bodies {
                let mut points = Vec::with_capacity(LINES);
                decoder.decode(body, &opts, &mut points, &mut errors);
                frames.clear();
                encoder.encode(&dbrp, &points, &mut frames).unwrap();
                black_box((&frames, points));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, record);
criterion_main!(benches);
