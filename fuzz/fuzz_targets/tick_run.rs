//! Builds and runs a script on a few points: the text up to the first NUL
//! byte is the TICKscript, the rest line protocol. Compiling (under the
//! default limits), building and running must never panic, hang or
//! exhaust memory, whatever the script asks for and the points hold.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use pipeline::build::{TaskEnv, build_stream_task};
use pipeline::nodes::alert::{AlertEvent, AlertSink};
use pipeline::nodes::http_out::HttpOutEndpoint;
use pipeline::spec::BuildError;
use pipeline::{DbRp, PointBatch};

struct Discard;

impl AlertSink for Discard {
    fn publish(&self, _event: &AlertEvent) {}
}

struct Env;

impl TaskEnv for Env {
    fn task_name(&self) -> &str {
        "fuzz"
    }
    fn http_out(&self, _name: &str) -> Arc<HttpOutEndpoint> {
        HttpOutEndpoint::new()
    }
    fn alert_sink(&self, _spec: &dsl::NodeSpec) -> Result<Arc<dyn AlertSink>, BuildError> {
        Ok(Arc::new(Discard))
    }
}

fuzz_target!(|data: &[u8]| {
    let (script, lines) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let Ok(script) = std::str::from_utf8(script) else {
        return;
    };
    let limits = dsl::Limits::default();
    let Ok(plan) = dsl::compile_with_limits(
        script,
        dsl::TaskType::Stream,
        &Default::default(),
        &limits,
    ) else {
        return;
    };
    let Ok(mut task) = build_stream_task(&plan, &Env) else {
        return;
    };
    let mut decoder = ingest::lp::Decoder::new();
    let (mut points, mut errors) = (Vec::new(), Vec::new());
    let opts = ingest::lp::DecodeOptions::default();
    decoder.decode(lines, &opts, &mut points, &mut errors);
    let last = points.iter().map(|p| p.time).max().unwrap_or(0);
    task.dag.start(0);
    task.push_points(PointBatch {
        dbrp: DbRp::new("telegraf", "autogen"),
        points,
    });
    // A few ticks past the last point, so windows and barriers fire.
    for step in 1..=3i64 {
        let now = last.saturating_add(step.saturating_mul(60_000_000_000));
        while let Some(due) = task.dag.next_tick().filter(|&d| d <= now) {
            task.dag.tick(due);
        }
        task.dag.tick(now);
    }
});
