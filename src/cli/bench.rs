//! `kapacitor bench`: a load generator for kapacitord or any
//! InfluxDB-compatible write endpoint (in the spirit of InfluxData's `inch`).
//!
//! It sends the W1 workload (Telegraf's `cpu` input on 1,000 hosts × 10 cpus)
//! over HTTP, UDP or TCP and reports points/s, ack latency and, given the
//! server's PID, its CPU time and peak memory. `bench sink` is a do-nothing
//! HTTP server that measures the client's own ceiling; `bench compare` puts
//! several `--json` reports side by side. `bench/run.sh` uses all three.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use base64::Engine;
use clap::{Subcommand, ValueEnum};
use hyper::Uri;

mod load;
mod report;
mod sink;
mod workload;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    load: LoadArgs,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve HTTP, discard every body and answer 204: the client's ceiling.
    Sink(sink::SinkArgs),
    /// Print a table and throughput ratios from several `--json` reports.
    Compare(report::CompareArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Transport {
    Http,
    Udp,
    Tcp,
}

#[derive(Debug, clap::Args)]
struct LoadArgs {
    /// How to send: HTTP POST /write to --url, UDP datagrams to --udp-addr,
    /// or a TCP line stream to --tcp-addr.
    #[arg(long, value_enum, default_value_t = Transport::Http)]
    transport: Transport,
    /// Points to send in all (every series at one timestamp, then the next).
    #[arg(long, default_value_t = 1_000_000)]
    points: u64,
    /// Lines per HTTP POST (and per TCP write).
    #[arg(long, default_value_t = 5000)]
    batch_size: u64,
    /// Concurrent connections (HTTP, TCP) or sockets (UDP).
    #[arg(long, default_value_t = 2)]
    writers: usize,
    /// Client runtime threads for HTTP (1 = single-threaded, leaving the
    /// other cores to the server).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Database named in the write URL.
    #[arg(long, default_value = "bench")]
    db: String,
    /// Retention policy named in the write URL (none by default).
    #[arg(long)]
    rp: Option<String>,
    /// gzip every body (compressed before the timed part).
    #[arg(long)]
    gzip: bool,
    /// UDP listener to send to.
    #[arg(long, default_value = "127.0.0.1:8089")]
    udp_addr: String,
    /// Largest UDP datagram; whole lines are packed up to this size.
    #[arg(long, default_value_t = 1472)]
    udp_payload: usize,
    /// TCP listener to send to.
    #[arg(long, default_value = "127.0.0.1:8094")]
    tcp_addr: String,
    /// Number of hosts in the workload.
    #[arg(long, default_value_t = 1000)]
    hosts: u32,
    /// CPUs per host.
    #[arg(long, default_value_t = 10)]
    cpus: u32,
    /// Time between two points of one series.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// First timestamp, Unix ns (default: early enough that the last one is
    /// now). Give runs into one database distinct ranges to keep every point.
    #[arg(long, allow_hyphen_values = true)]
    start: Option<i64>,
    /// Stop sending after this long even if points remain.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Points per second over all writers (0 = as fast as possible). UDP
    /// has no flow control: unpaced, the server's socket buffer overflows.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// PID of the server: report its CPU time over the run and its peak RSS.
    #[arg(long)]
    pid: Option<u32>,
    /// Wait this long after the last ack before reading the server's CPU time
    /// again, so work it queued is counted.
    #[arg(long, default_value = "250ms", value_parser = humantime::parse_duration)]
    settle: Duration,
    /// Print the report as JSON (the global `--json`).
    #[arg(skip)]
    json: bool,
}

pub fn run(mut args: Args, url: &str) -> anyhow::Result<ExitCode> {
    args.load.json = args.json;
    match args.command {
        Some(Command::Sink(sink)) => sink::run(sink).map(|()| ExitCode::SUCCESS),
        Some(Command::Compare(cmp)) => report::compare(cmp).map(|()| ExitCode::SUCCESS),
        None => load(args.load, url),
    }
}

fn load(args: LoadArgs, url: &str) -> anyhow::Result<ExitCode> {
    if args.writers == 0 {
        bail!("--writers must be at least 1");
    }
    if args.points == 0 {
        bail!("--points must be at least 1");
    }
    let series = u64::from(args.hosts) * u64::from(args.cpus);
    if series == 0 {
        bail!("--hosts and --cpus must be at least 1");
    }
    let step_ns = i64::try_from(args.interval.as_nanos()).context("--interval is too long")?;
    let ticks = args.points.div_ceil(series) as i64;
    // The last timestamp lands near now, so servers with retention keep it.
    let now_ns = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as i64;
    let start_ns = if let Some(start) = args.start {
        start
    } else if step_ns > 0 {
        (now_ns - ticks * step_ns) / step_ns * step_ns
    } else {
        now_ns
    };
    let workload = workload::Workload {
        hosts: args.hosts,
        cpus: args.cpus,
        start_ns,
        step_ns,
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let ticks_per_s = report::ticks_per_second();

    let (transport, target) = match args.transport {
        Transport::Http => ("http", String::new()),
        Transport::Udp => ("udp", args.udp_addr.clone()),
        Transport::Tcp => ("tcp", args.tcp_addr.clone()),
    };
    let mut info = report::RunInfo {
        transport,
        target,
        points_requested: args.points,
        series,
        batch_size: args.batch_size,
        writers: args.writers,
        threads: args.threads,
        gzip: args.gzip,
        pid: args.pid,
    };
    let mut before = None;
    let pid = args.pid;
    // Read when the connections are up and the bodies built: the timed part.
    let mut client_before = None;
    let sample_before = |before: &mut Option<report::ProcSample>,
                         client: &mut Option<report::ProcSample>|
     -> anyhow::Result<()> {
        *client = Some(report::ProcSample::read(std::process::id(), ticks_per_s)?);
        if let Some(pid) = pid {
            *before = Some(report::ProcSample::read(pid, ticks_per_s)?);
        }
        Ok(())
    };
    let limits = load::Limits {
        deadline: args.duration,
        rate: (args.rate > 0.0).then_some(args.rate),
    };
    let mut sample_error = None;
    let outcome = match args.transport {
        Transport::Http => {
            let target = http_target(url, &args)?;
            info.target = format!("http://{}{}", target.host, target.path);
            let bodies = Arc::new(workload::bodies(
                &workload,
                args.points,
                args.batch_size,
                args.gzip,
                threads,
            ));
            load::http(target, bodies, args.writers, args.threads, limits, || {
                if let Err(err) = sample_before(&mut before, &mut client_before) {
                    sample_error = Some(err);
                }
            })?
        }
        Transport::Udp => {
            if args.gzip {
                bail!("--gzip is not supported over UDP");
            }
            let addr = load::resolve(&args.udp_addr)?;
            info.batch_size = 0;
            let grams = Arc::new(workload::datagrams(
                &workload,
                args.points,
                args.udp_payload,
            ));
            load::udp(addr, grams, args.writers, limits, || {
                if let Err(err) = sample_before(&mut before, &mut client_before) {
                    sample_error = Some(err);
                }
            })?
        }
        Transport::Tcp => {
            let addr = load::resolve(&args.tcp_addr)?;
            let bodies = Arc::new(workload::bodies(
                &workload,
                args.points,
                args.batch_size,
                args.gzip,
                threads,
            ));
            load::tcp(addr, bodies, args.writers, limits, || {
                if let Err(err) = sample_before(&mut before, &mut client_before) {
                    sample_error = Some(err);
                }
            })?
        }
    };
    if let Some(err) = sample_error {
        return Err(err);
    }
    let client_after = report::ProcSample::read(std::process::id(), ticks_per_s)?;
    let client_cpu_s = client_before.map_or(0.0, |b| client_after.cpu_s - b.cpu_s);
    let server = match (pid, before) {
        (Some(pid), Some(before)) => {
            report::settle(args.settle);
            Some((before, report::ProcSample::read(pid, ticks_per_s)?))
        }
        _ => None,
    };
    let mut value = report::to_json(&info, &outcome, server);
    value["client_cpu_s"] = serde_json::json!(client_cpu_s);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        report::print(&value);
    }
    let failed = outcome.non_2xx > 0 || outcome.transport_errors > 0;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn http_target(url: &str, args: &LoadArgs) -> anyhow::Result<load::HttpTarget> {
    let uri: Uri = url
        .parse()
        .with_context(|| format!("invalid --url {url:?}"))?;
    if uri.scheme_str() != Some("http") {
        bail!("--url {url:?}: only http:// URLs are supported");
    }
    let authority = uri.authority().context("--url has no host")?;
    let (credentials, host) = match authority.as_str().rsplit_once('@') {
        Some((userinfo, host)) => (Some(userinfo.to_string()), host.to_string()),
        None => (None, authority.as_str().to_string()),
    };
    let port = uri.port_u16().unwrap_or(80);
    let addr = load::resolve(&format!("{}:{port}", uri.host().unwrap_or("127.0.0.1")))?;
    let mut query = format!("db={}", encode(&args.db));
    if let Some(rp) = &args.rp {
        query.push_str(&format!("&rp={}", encode(rp)));
    }
    let prefix = uri.path().trim_end_matches('/');
    Ok(load::HttpTarget {
        addr,
        host,
        path: format!("{prefix}/write?{query}"),
        authorization: credentials.map(|c| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(c)
            )
        }),
        gzip: args.gzip,
    })
}

fn encode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|e| e.trim_start_matches('=').to_string())
        .unwrap_or_else(|_| s.to_string())
}
