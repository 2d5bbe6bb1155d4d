//! What a run measured: the client's view (points, time, ack latency), the
//! server's CPU time and memory from `/proc` when its PID is known, printed
//! for people or as JSON, and `bench compare` to put several runs side by
//! side.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::load::Outcome;

/// CPU time and memory of a server process, read from `/proc/PID`.
#[derive(Debug, Clone, Copy)]
pub struct ProcSample {
    /// utime + stime of the whole process (every thread, living or not), s.
    pub cpu_s: f64,
    /// VmHWM: peak resident set since the process started, kB.
    pub hwm_kb: Option<u64>,
    /// VmRSS: resident set now, kB.
    pub rss_kb: Option<u64>,
}

impl ProcSample {
    pub fn read(pid: u32, ticks_per_s: f64) -> anyhow::Result<ProcSample> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("cannot read /proc/{pid}/stat (is the server running?)"))?;
        // The command name is in parentheses and may hold spaces; the fields
        // after it start with field 3 (state). utime and stime are 14 and 15.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .context("unexpected /proc/PID/stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let tick = |n: usize| -> anyhow::Result<u64> {
            fields
                .get(n - 3)
                .and_then(|f| f.parse().ok())
                .context("unexpected /proc/PID/stat")
        };
        let ticks = tick(14)? + tick(15)?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kb = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        };
        Ok(ProcSample {
            cpu_s: ticks as f64 / ticks_per_s,
            hwm_kb: kb("VmHWM:"),
            rss_kb: kb("VmRSS:"),
        })
    }
}

/// Clock ticks per second of `/proc/PID/stat` (USER_HZ, 100 on Linux).
pub fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Describes the run for the report.
#[derive(Debug)]
pub struct RunInfo {
    pub transport: &'static str,
    pub target: String,
    pub points_requested: u64,
    pub series: u64,
    pub batch_size: u64,
    pub writers: usize,
    pub threads: usize,
    pub gzip: bool,
    pub pid: Option<u32>,
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The machine-readable report.
pub fn to_json(info: &RunInfo, out: &Outcome, server: Option<(ProcSample, ProcSample)>) -> Value {
    let secs = out.elapsed.as_secs_f64().max(1e-9);
    let mut ack = out.ack_ns.clone();
    ack.sort_unstable();
    let ms = |ns: u64| ns as f64 / 1e6;
    let latency = if ack.is_empty() {
        Value::Null
    } else {
        json!({
            "p50": ms(percentile(&ack, 0.50)),
            "p90": ms(percentile(&ack, 0.90)),
            "p99": ms(percentile(&ack, 0.99)),
            "max": ms(*ack.last().unwrap_or(&0)),
            "mean": ms(ack.iter().sum::<u64>() / ack.len() as u64),
        })
    };
    let server = match (info.pid, server) {
        (Some(pid), Some((before, after))) => {
            let cpu = (after.cpu_s - before.cpu_s).max(0.0);
            json!({
                "pid": pid,
                "cpu_s": cpu,
                "cpu_us_per_point": if out.points_ok > 0 { cpu * 1e6 / out.points_ok as f64 } else { 0.0 },
                "cpu_cores": cpu / secs,
                "peak_rss_kb": after.hwm_kb,
                "rss_kb": after.rss_kb,
            })
        }
        _ => Value::Null,
    };
    json!({
        "transport": info.transport,
        "target": info.target,
        "series": info.series,
        "batch_size": info.batch_size,
        "writers": info.writers,
        "threads": info.threads,
        "gzip": info.gzip,
        "points_requested": info.points_requested,
        "points_sent": out.points_sent,
        "points_ok": out.points_ok,
        "requests": out.requests,
        "non_2xx": out.non_2xx,
        "transport_errors": out.transport_errors,
        "first_error": out.first_error,
        "timed_out": out.timed_out,
        "duration_s": secs,
        "points_per_s": out.points_ok as f64 / secs,
        "wire_bytes": out.wire_bytes,
        "raw_bytes": out.raw_bytes,
        "mb_per_s": out.wire_bytes as f64 / 1e6 / secs,
        "raw_mb_per_s": out.raw_bytes as f64 / 1e6 / secs,
        "ack_ms": latency,
        "server": server,
    })
}

/// The human-readable report.
pub fn print(report: &Value) {
    let f = |k: &str| report[k].as_f64().unwrap_or(0.0);
    let u = |k: &str| report[k].as_u64().unwrap_or(0);
    println!(
        "kapacitor bench: {} → {} (W1: {} series, 5 float fields)",
        report["transport"].as_str().unwrap_or(""),
        report["target"].as_str().unwrap_or(""),
        u("series")
    );
    let gzip = if report["gzip"].as_bool() == Some(true) {
        "on"
    } else {
        "off"
    };
    match report["transport"].as_str() {
        Some("http") => println!(
            "  points       {} sent, {} acknowledged (2xx) in {} POSTs of up to {} lines, {} writers, gzip {gzip}",
            u("points_sent"),
            u("points_ok"),
            u("requests"),
            u("batch_size"),
            u("writers"),
        ),
        Some("udp") => println!(
            "  points       {} sent in {} datagrams from {} sockets (no acknowledgement: the server's status says what it kept)",
            u("points_sent"),
            u("requests"),
            u("writers"),
        ),
        _ => println!(
            "  points       {} written in chunks of up to {} lines on {} connections, gzip {gzip} (no acknowledgement: the server's status says what it kept)",
            u("points_sent"),
            u("batch_size"),
            u("writers"),
        ),
    }
    println!(
        "  duration     {:.3} s{}",
        f("duration_s"),
        if report["timed_out"].as_bool() == Some(true) {
            " (stopped by --duration)"
        } else {
            ""
        }
    );
    println!(
        "  throughput   {:.3} M points/s, {:.1} MB/s on the wire ({:.1} MB/s of line protocol)",
        f("points_per_s") / 1e6,
        f("mb_per_s"),
        f("raw_mb_per_s")
    );
    let ack = &report["ack_ms"];
    if !ack.is_null() {
        println!(
            "  ack latency  p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms per request",
            ack["p50"].as_f64().unwrap_or(0.0),
            ack["p90"].as_f64().unwrap_or(0.0),
            ack["p99"].as_f64().unwrap_or(0.0),
            ack["max"].as_f64().unwrap_or(0.0)
        );
    }
    println!(
        "  errors       {} non-2xx, {} transport",
        u("non_2xx"),
        u("transport_errors")
    );
    println!(
        "  client       {:.2} CPU-s during the run",
        f("client_cpu_s")
    );
    if let Some(err) = report["first_error"].as_str() {
        println!("  first error  {err}");
    }
    let server = &report["server"];
    if !server.is_null() {
        let mb = |k: &str| {
            server[k]
                .as_f64()
                .map_or("?".to_string(), |kb| format!("{:.1}", kb / 1024.0))
        };
        println!(
            "  server       pid {}: {:.2} CPU-s ({:.2} cores), {:.3} CPU-µs/point; peak RSS {} MiB (VmHWM, since the server started), RSS now {} MiB",
            server["pid"],
            server["cpu_s"].as_f64().unwrap_or(0.0),
            server["cpu_cores"].as_f64().unwrap_or(0.0),
            server["cpu_us_per_point"].as_f64().unwrap_or(0.0),
            mb("peak_rss_kb"),
            mb("rss_kb"),
        );
    }
}

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The row the ratios are about: its points/s divided by every other
    /// row's.
    #[arg(long)]
    pub subject: Option<String>,
    /// Runs to compare, each NAME=FILE where FILE holds `kapacitor bench --json`
    /// output; repeat a NAME for several runs of one target. A missing or
    /// empty file counts as no run (a target with none shows as pending).
    #[arg(required = true, value_name = "NAME=FILE")]
    pub runs: Vec<String>,
}

/// Prints a Markdown table of several runs and the throughput ratios. A name
/// given several times shows its median run by points/s (and the range).
pub fn compare(args: CompareArgs) -> anyhow::Result<()> {
    let mut rows: Vec<(String, Vec<Value>)> = Vec::new();
    for run in &args.runs {
        let Some((name, file)) = run.split_once('=') else {
            bail!("{run:?}: expected NAME=FILE");
        };
        let path = PathBuf::from(file);
        let value: Option<Value> = match std::fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{}: not a bench report", path.display()))?,
            ),
            _ => None,
        };
        let index = match rows.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                rows.push((name.to_string(), Vec::new()));
                rows.len() - 1
            }
        };
        rows[index].1.extend(value);
    }
    let rate = |v: &Value| v["points_per_s"].as_f64().unwrap_or(0.0);
    let median = |runs: &[Value]| -> Option<Value> {
        let mut sorted: Vec<&Value> = runs.iter().collect();
        sorted.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
        sorted.get(sorted.len() / 2).map(|v| (*v).clone())
    };
    println!(
        "| target | runs (M points/s range) | points | duration s | M points/s | MB/s | ack p50 ms | ack p99 ms | ack max ms | errors | client CPU-s | server CPU-s | server cores | server CPU-µs/point | server peak RSS MiB |"
    );
    println!("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    let num = |v: &Value, digits: usize| {
        v.as_f64()
            .map_or("–".to_string(), |x| format!("{x:.digits$}"))
    };
    for (name, runs) in &rows {
        let Some(r) = median(runs) else {
            println!("| {name} | pending | | | | | | | | | | | | | |");
            continue;
        };
        let low = runs.iter().map(rate).fold(f64::INFINITY, f64::min);
        let high = runs.iter().map(rate).fold(0.0, f64::max);
        let errors: u64 = runs
            .iter()
            .map(|r| {
                r["non_2xx"].as_u64().unwrap_or(0) + r["transport_errors"].as_u64().unwrap_or(0)
            })
            .sum();
        let peak = runs
            .iter()
            .filter_map(|r| r["server"]["peak_rss_kb"].as_f64())
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
        let server = &r["server"];
        println!(
            "| {name} | {} ({:.3}–{:.3}) | {} | {} | {:.3} | {} | {} | {} | {} | {errors} | {} | {} | {} | {} | {} |",
            runs.len(),
            low / 1e6,
            high / 1e6,
            r["points_ok"],
            num(&r["duration_s"], 3),
            rate(&r) / 1e6,
            num(&r["mb_per_s"], 1),
            num(&r["ack_ms"]["p50"], 2),
            num(&r["ack_ms"]["p99"], 2),
            num(&r["ack_ms"]["max"], 2),
            num(&r["client_cpu_s"], 2),
            num(&server["cpu_s"], 2),
            num(&server["cpu_cores"], 2),
            num(&server["cpu_us_per_point"], 3),
            peak.map_or("–".to_string(), |kb| format!("{:.1}", kb / 1024.0)),
        );
    }
    if let Some(subject) = &args.subject {
        let median_rate = |name: &str| {
            rows.iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, runs)| median(runs))
                .map(|v| rate(&v))
        };
        let best_rate = |name: &str| {
            rows.iter()
                .find(|(n, _)| n == name)
                .map(|(_, runs)| runs.iter().map(rate).fold(0.0, f64::max))
                .filter(|r| *r > 0.0)
        };
        println!();
        for (name, _) in rows.iter().filter(|(n, _)| n != subject) {
            match (median_rate(subject), median_rate(name)) {
                (Some(a), Some(b)) if b > 0.0 => {
                    let best = match (best_rate(subject), best_rate(name)) {
                        (Some(a), Some(b)) => format!(", best runs {:.3}×", a / b),
                        _ => String::new(),
                    };
                    println!("{subject} / {name}: {:.3}× points/s (medians){best}", a / b)
                }
                _ => println!("{subject} / {name}: pending"),
            }
        }
    }
    if let Some(subject) = &args.subject {
        let cpu_per_point = |name: &str| {
            rows.iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, runs)| median(runs))
                .and_then(|v| v["server"]["cpu_us_per_point"].as_f64())
        };
        for (name, _) in rows.iter().filter(|(n, _)| n != subject) {
            if let (Some(a), Some(b)) = (cpu_per_point(name), cpu_per_point(subject))
                && b > 0.0
            {
                println!(
                    "{name} / {subject}: {:.2}× server CPU per point (less sensitive to noisy neighbours than points/s)",
                    a / b
                );
            }
        }
    }
    let cpu: Vec<String> = rows
        .iter()
        .filter_map(|(name, runs)| {
            let r = median(runs)?;
            let us = r["server"]["cpu_us_per_point"].as_f64()?;
            Some(format!("{name} {us:.3} µs"))
        })
        .collect();
    if !cpu.is_empty() {
        println!("server CPU per point (median run): {}", cpu.join(", "));
    }
    for (name, runs) in &rows {
        if let Some(err) = runs.iter().find_map(|r| r["first_error"].as_str()) {
            println!("{name}: first error: {err}");
        }
    }
    Ok(())
}

/// How long the server is given, after the last ack, to finish work it
/// queued before its CPU time is read again.
pub fn settle(wait: Duration) {
    if !wait.is_zero() {
        std::thread::sleep(wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn reads_own_process() {
        let s = ProcSample::read(std::process::id(), ticks_per_second()).unwrap();
        assert!(s.cpu_s >= 0.0);
        assert!(s.hwm_kb.unwrap() > 0);
    }
}
