//! Topic fan-out under load (issue 16): events published at a fixed rate
//! across many topics, each with three handlers, and how long each event
//! waits between its publication and its handler taking it.
//!
//! The setup is the daemon's: the topics service with its store (events
//! committed every 100 ms), handlers on the shared effects runtime (two
//! threads), publishers on their own threads as the task workers are.
//! Per topic: an `aggregate` (1 s) into a summary topic, a `publish` into
//! a mirror topic, and a `log` handler whose match expression
//! (`changed() == TRUE AND level() >= WARNING`) lets the level changes
//! through (1 in `FLIP_EVERY` events of an id change level). The delay is
//! each handler's own histogram, the one `/metrics` exports.
//!
//! Knobs (environment): `RATE` events/s (100000), `TOPICS` (100),
//! `IDS` per topic (10), `SECONDS` (10), `PUBLISHERS` threads (2).
//!
//! `cargo bench --bench topics`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kapacitor::effects::delay::DelaySnapshot;
use kapacitor::effects::topics::{TopicHandlerSpec, TopicSettings, Topics};
use pipeline::nodes::alert::{AlertEvent, EventData, Level};
use pipeline::{FieldValue, Fields, Name, Point, Series, Tags};

/// As the daemon's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One change of level in this many events of an id.
const FLIP_EVERY: u64 = 100;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn event(topic: usize, id: usize, level: Level) -> AlertEvent {
    let host = format!("host{id}");
    let tags: Tags = Tags::from([(Name::from("host"), Name::from(host.as_str()))]);
    let fields = Fields::from_pairs([(Name::from("value"), FieldValue::Float(95.0))]);
    let series = Series::new(Name::from("cpu"), tags.to_vec()).expect("series");
    let id = format!("t{topic}:{host}");
    AlertEvent {
        message: format!("{id} is {level}"),
        details: String::new(),
        id,
        time: 0,
        duration: 0,
        level,
        previous_level: Level::Ok,
        recoverable: true,
        data: EventData::Point(Point {
            series: Arc::new(series),
            fields: fields.clone(),
            time: 0,
        }),
        name: Name::from("cpu"),
        task_name: format!("task{topic}"),
        group: format!("host={host}"),
        tags,
        fields,
        inhibited: false,
    }
}

fn handler(
    topic: &str,
    id: &str,
    kind: &str,
    m: &str,
    options: serde_json::Value,
) -> TopicHandlerSpec {
    TopicHandlerSpec {
        id: id.into(),
        topic: topic.into(),
        kind: kind.into(),
        match_expr: m.into(),
        options: options.as_object().cloned().unwrap_or_default(),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it
    // briefly.
    let testing = !std::env::args().any(|a| a == "--bench");
    let rate = knob("RATE", 100_000);
    let topics_n = knob("TOPICS", 100) as usize;
    let ids = knob("IDS", 10) as usize;
    let seconds = if testing { 1 } else { knob("SECONDS", 10) };
    let publishers = knob("PUBLISHERS", 2).max(1) as usize;

    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(storage::Store::open(dir.path()).expect("store"));
    let topics = Topics::with_store(TopicSettings::default(), store);
    let log = dir.path().join("changes.log");
    for t in 0..topics_n {
        let name = format!("t{t}");
        let specs = [
            handler(
                &name,
                "summary",
                "aggregate",
                "",
                serde_json::json!({"interval": "1s", "topic": format!("summary{t}")}),
            ),
            handler(
                &name,
                "mirror",
                "publish",
                "",
                serde_json::json!({"topics": [format!("mirror{t}")]}),
            ),
            handler(
                &name,
                "changes",
                "log",
                "changed() == TRUE AND level() >= WARNING",
                serde_json::json!({"path": log.display().to_string()}),
            ),
        ];
        for s in specs {
            topics.create_handler(s).expect("handler");
        }
    }
    // Every event of every id at both levels, made once: the bench
    // measures topics, not building events.
    let events: Arc<Vec<[AlertEvent; 2]>> = Arc::new(
        (0..topics_n * ids)
            .map(|i| {
                let (t, id) = (i / ids, i % ids);
                [event(t, id, Level::Critical), event(t, id, Level::Ok)]
            })
            .collect(),
    );
    let names: Arc<Vec<String>> = Arc::new((0..topics_n).map(|t| format!("t{t}")).collect());

    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpu_before = cpu_seconds();
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let per_thread = rate as f64 / publishers as f64;
    let mut threads = Vec::new();
    for p in 0..publishers {
        let (topics, events, names, stop) =
            (topics.clone(), events.clone(), names.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            // A slice of events every millisecond, catching up when late.
            let mut sent: u64 = 0;
            let mut i = p as u64;
            let stride = publishers as u64;
            while !stop.load(Ordering::Relaxed) {
                let due = (start.elapsed().as_secs_f64() * per_thread) as u64;
                while sent < due {
                    let slot = (i as usize) % events.len();
                    let round = i / events.len() as u64;
                    // Level flips once every FLIP_EVERY events of the id.
                    let level = usize::from((round / FLIP_EVERY) % 2 == 1);
                    let topic = &names[slot / (events.len() / names.len())];
                    topics.collect(topic, &events[slot][level]);
                    i += stride;
                    sent += 1;
                }
                std::thread::sleep(Duration::from_micros(500));
            }
            sent
        }));
    }
    // The delay of each second on its own, to tell a steady state from a
    // few stalls.
    let merged = |topics: &Topics| {
        let mut all = DelaySnapshot::default();
        for (t, handlers) in topics.stats() {
            if t.id.starts_with('t') {
                handlers.iter().for_each(|h| all.add(&h.stats.delay));
            }
        }
        all
    };
    let mut seconds_p99 = Vec::new();
    let mut last = merged(&topics);
    for _ in 0..seconds {
        std::thread::sleep(Duration::from_secs(1));
        let now = merged(&topics);
        let p99 = now.since(&last).quantile(0.99);
        seconds_p99.push(p99.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3));
        last = now;
    }
    stop.store(true, Ordering::Relaxed);
    let published: u64 = threads
        .into_iter()
        .map(|t| t.join().expect("publisher"))
        .sum();
    let elapsed = start.elapsed();
    // Let the queues drain before reading the histograms.
    std::thread::sleep(Duration::from_millis(1500));
    let cpu = cpu_seconds() - cpu_before;
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    let mut all = DelaySnapshot::default();
    let (mut delivered, mut dropped, mut failed) = (0, 0, 0);
    let mut by_kind: Vec<(String, DelaySnapshot)> = Vec::new();
    for (t, handlers) in topics.stats() {
        if !t.id.starts_with('t') {
            continue;
        }
        for h in handlers {
            all.add(&h.stats.delay);
            delivered += h.stats.delay.count();
            dropped += h.stats.dropped;
            failed += h.stats.failed;
            match by_kind.iter_mut().find(|(k, _)| *k == h.spec.kind) {
                Some((_, d)) => d.add(&h.stats.delay),
                None => by_kind.push((h.spec.kind.clone(), h.stats.delay.clone())),
            }
        }
    }
    let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    println!(
        "topics: {topics_n} topics x 3 handlers, {ids} ids each, {publishers} publishers, {seconds}s at {rate}/s"
    );
    println!(
        "published {published} ({:.0}/s), delivered {delivered}, dropped {dropped}, failed {failed}",
        published as f64 / elapsed.as_secs_f64()
    );
    println!(
        "delay ms: p50 {:.3} p99 {:.3} p99.9 {:.3} max {:.3}",
        ms(all.quantile(0.5)),
        ms(all.quantile(0.99)),
        ms(all.quantile(0.999)),
        ms(all.quantile(1.0))
    );
    let per_second: Vec<String> = seconds_p99.iter().map(|ms| format!("{ms:.2}")).collect();
    println!("p99 ms of each second: {}", per_second.join(" "));
    for (kind, d) in &by_kind {
        println!(
            "  {kind:<9} {:>9} events, p50 {:.3} p99 {:.3} ms",
            d.count(),
            ms(d.quantile(0.5)),
            ms(d.quantile(0.99))
        );
    }
    println!(
        "process CPU {:.2}s over {:.1}s ({:.0}% of one core); store {:?}",
        cpu,
        elapsed.as_secs_f64() + 1.5,
        100.0 * cpu / (elapsed.as_secs_f64() + 1.5),
        topics.store_counts()
    );
    println!(
        "load before {} after {}",
        load_before.trim(),
        load_after.trim()
    );
    topics.close(Instant::now() + Duration::from_secs(2));
}

/// User + system CPU seconds of this process so far (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split(' ').collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime: fields 14 and 15 of stat, 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}
