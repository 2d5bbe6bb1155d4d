//! `kapacitor record stream|batch|query|file`, and the seed's
//! `start-recording` / `stop-recording`: make recordings to replay. Each
//! prints `RecordingID=<id>`. `record batch` and `record query` have the
//! daemon query InfluxDB (its `influxdb` connections); the seed's `record
//! stream --host URL --query Q` queries that InfluxDB from here and imports
//! what it gets.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use std::fmt::Write as _;

use anyhow::{Context, bail};
use hyper::Method;
use pipeline::DbRp;
use serde_json::{Value, json};

use super::http::{send, send_json};
use crate::replay::queried::{RawQuery, points_in_time_order};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    kind: Kind,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Kind {
    /// Record the live stream for a while: what a task would receive, or
    /// what --db/--rp/--measurement select; or, with --query, the points
    /// an InfluxDB query gets.
    Stream(Stream),
    /// Record what a batch task's queries get over a range of time, as its
    /// schedule would run them.
    Batch(Batch),
    /// Record the result of an InfluxDB query, as a stream or as batches.
    Query(Query),
    /// Import line protocol, a Kapacitor .srpl or a .brpl file.
    File(File),
}

#[derive(Debug, clap::Args)]
struct Stream {
    /// Record what this task would receive (its dbrps, `from` and `where`).
    #[arg(long, conflicts_with = "query")]
    task: Option<String>,
    /// How long to record the live stream, e.g. 60s.
    #[arg(long, required_unless_present = "query", conflicts_with = "query")]
    duration: Option<String>,
    /// Record the points this InfluxQL query gets instead of the live
    /// stream (the seed's form, with --host).
    #[arg(long)]
    query: Option<String>,
    /// With --query: the InfluxDB 1.x to query (e.g. http://127.0.0.1:8086);
    /// without, the daemon queries its default `influxdb` connection.
    #[arg(long, requires = "query")]
    host: Option<String>,
    /// Database (with --rp) to record; all if not given. With --host: the
    /// query's database, and the points' (default telegraf.autogen).
    #[arg(long, requires = "rp")]
    db: Option<String>,
    #[arg(long, requires = "db")]
    rp: Option<String>,
    /// Without --task: only this measurement.
    #[arg(long)]
    measurement: Option<String>,
    /// Print the id at once instead of when the recording is done.
    #[arg(long)]
    no_wait: bool,
    /// The id to give the recording (default: a new one).
    #[arg(long)]
    recording_id: Option<String>,
}

#[derive(Debug, clap::Args)]
struct Batch {
    /// The batch task (or --task).
    task_pos: Option<String>,
    #[arg(long, conflicts_with = "task_pos")]
    task: Option<String>,
    #[command(flatten)]
    range: Range,
    /// Print the id at once instead of when the recording is done.
    #[arg(long)]
    no_wait: bool,
    /// The id to give the recording (default: a new one).
    #[arg(long)]
    recording_id: Option<String>,
}

/// Which runs of a batch task's schedule: `record batch` and
/// `replay-live batch`.
#[derive(Debug, clap::Args)]
pub(super) struct Range {
    /// The runs of this long before --stop, e.g. 1h (default: one period
    /// of the task's longest query).
    #[arg(long, conflicts_with = "start")]
    past: Option<String>,
    /// The runs from this time (RFC 3339) ...
    #[arg(long)]
    start: Option<String>,
    /// ... to this one (default: now).
    #[arg(long)]
    stop: Option<String>,
}

impl Range {
    /// Adds what was given to an API body.
    pub(super) fn add_to(self, body: &mut Value) {
        for (key, value) in [
            ("past", self.past),
            ("start", self.start),
            ("stop", self.stop),
        ] {
            if let Some(v) = value {
                body[key] = json!(v);
            }
        }
    }
}

#[derive(Debug, clap::Args)]
struct Query {
    /// The InfluxQL query, run as written.
    #[arg(long)]
    query: String,
    /// stream (the points, in time order; the query must name its database
    /// and retention policy) or batch (one batch per series).
    #[arg(long = "type")]
    kind: String,
    /// The `influxdb` connection to query (default: the default one).
    #[arg(long)]
    cluster: Option<String>,
    /// Print the id at once instead of when the recording is done.
    #[arg(long)]
    no_wait: bool,
    /// The id to give the recording (default: a new one).
    #[arg(long)]
    recording_id: Option<String>,
}

#[derive(Debug, clap::Args)]
struct File {
    /// The file: line protocol, `.srpl` (stream) or `.brpl` (batch).
    path: PathBuf,
    /// stream or batch (default: batch for .brpl, else stream).
    #[arg(long = "type")]
    kind: Option<String>,
    /// For line protocol: the database and retention policy of the points.
    #[arg(long, default_value = "telegraf")]
    db: String,
    #[arg(long, default_value = "autogen")]
    rp: String,
    /// Unit of the timestamps: n, u, ms, s, m or h (default n; s for .srpl).
    #[arg(long)]
    precision: Option<String>,
    #[arg(long)]
    recording_id: Option<String>,
}

/// `kapacitor start-recording`: records the live stream until stopped.
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// Database to record (with --rp); all if not given.
    #[arg(long, requires = "rp")]
    db: Option<String>,
    #[arg(long, requires = "db")]
    rp: Option<String>,
    /// Only this measurement.
    #[arg(long)]
    measurement: Option<String>,
    /// Only points matching this, e.g. "host = 'a'".
    #[arg(long = "where")]
    where_: Option<String>,
    /// The id to give the recording (default: a new one).
    #[arg(long)]
    id: Option<String>,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

/// `kapacitor stop-recording [ID]`.
#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// The recording (default: the only one recording).
    id: Option<String>,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

/// How long `record stream` waits past its duration for the recording to
/// close.
const CLOSE_WAIT: Duration = Duration::from_secs(30);

pub fn run(args: Args, url: &str) -> anyhow::Result<ExitCode> {
    let rec = match args.kind {
        Kind::Stream(s) => stream(s, url)?,
        Kind::Batch(b) => batch(b, url)?,
        Kind::Query(q) => query(q, url)?,
        Kind::File(f) => import(f, url)?,
    };
    Ok(print_recording(args.json, &rec))
}

fn print_recording(json: bool, rec: &Value) -> ExitCode {
    if json {
        println!("{rec}");
    } else {
        println!("RecordingID={}", rec["id"].as_str().unwrap_or(""));
        if let Some(e) = rec["error"].as_str().filter(|e| !e.is_empty()) {
            eprintln!("warning: {e}");
        }
    }
    ExitCode::SUCCESS
}

/// Posts a recording request and, unless `no_wait`, waits until it is
/// done (up to `wait`).
fn record(
    url: &str,
    kind: &str,
    body: &Value,
    no_wait: bool,
    wait: Duration,
) -> anyhow::Result<Value> {
    let path = format!("/kapacitor/v1/recordings/{kind}");
    let reply = send_json(Method::POST, url, &path, body)?.ok()?;
    let rec: Value = serde_json::from_slice(&reply.body)?;
    if no_wait {
        return Ok(rec);
    }
    let id = rec["id"].as_str().unwrap_or_default().to_string();
    wait_recorded(url, &id, Instant::now() + wait)
}

/// How long `record batch` and `record query` wait for their queries.
const QUERY_WAIT: Duration = Duration::from_secs(24 * 3600);

fn batch(b: Batch, url: &str) -> anyhow::Result<Value> {
    let Some(task) = b.task.or(b.task_pos) else {
        bail!("record batch needs a task: `kapacitor record batch TASK` or -task TASK");
    };
    let mut body = json!({ "task": task });
    if let Some(id) = b.recording_id {
        body["id"] = json!(id);
    }
    b.range.add_to(&mut body);
    record(url, "batch", &body, b.no_wait, QUERY_WAIT)
}

fn query(q: Query, url: &str) -> anyhow::Result<Value> {
    let mut body = json!({ "query": q.query, "type": q.kind });
    for (key, value) in [("id", q.recording_id), ("cluster", q.cluster)] {
        if let Some(v) = value {
            body[key] = json!(v);
        }
    }
    record(url, "query", &body, q.no_wait, QUERY_WAIT)
}

/// The seed's `record stream --host URL --query Q`: the query runs here,
/// against that InfluxDB, and its points are imported as a stream
/// recording of the query's database (or --db/--rp).
fn stream_from_host(s: &Stream, host: &str, query: &str, url: &str) -> anyhow::Result<Value> {
    let server = config::InfluxDbConfig {
        name: "host".into(),
        urls: vec![host.trim_end_matches('/').to_string()],
        timeout: Duration::from_secs(60),
        ..config::InfluxDbConfig::default()
    };
    let db =
        s.db.clone()
            .unwrap_or_else(|| crate::batch::DEFAULT_DB.to_string());
    let raw = RawQuery::new(query, None, &[server])
        .map_err(|e| anyhow::anyhow!("--query: {e}"))?
        .in_database(&db, s.rp.as_deref());
    let dbrp = raw
        .dbrp
        .clone()
        .unwrap_or_else(|| DbRp::new(db.as_str(), s.rp.as_deref().unwrap_or("autogen")));
    let batches = raw
        .run(&|| Ok(()))
        .map_err(|e| anyhow::anyhow!("{host}: {e}"))?;
    let mut data = String::new();
    for p in points_in_time_order(batches) {
        let _ = writeln!(data, "{p}");
    }
    let mut params = vec![
        ("format", "lp".to_string()),
        ("precision", "n".to_string()),
        ("db", dbrp.db.to_string()),
        ("rp", dbrp.rp.to_string()),
        ("source", format!("query {query:?} on {host}")),
    ];
    if let Some(id) = &s.recording_id {
        params.push(("id", id.clone()));
    }
    let path = format!(
        "/kapacitor/v1/recordings/file?{}",
        serde_urlencoded::to_string(&params)?
    );
    let reply = send(Method::POST, url, &path, data.into_bytes())?.ok()?;
    Ok(serde_json::from_slice(&reply.body)?)
}

fn stream(s: Stream, url: &str) -> anyhow::Result<Value> {
    if let Some(query) = &s.query {
        if let Some(host) = &s.host {
            return stream_from_host(&s, host, query, url);
        }
        let q = Query {
            query: query.clone(),
            kind: "stream".into(),
            cluster: None,
            no_wait: s.no_wait,
            recording_id: s.recording_id,
        };
        return self::query(q, url);
    }
    let text = s.duration.clone().unwrap_or_default();
    let duration =
        config::parse_duration(&text).map_err(|e| anyhow::anyhow!("--duration {text:?}: {e}"))?;
    let mut body = json!({ "duration": text });
    if let Some(id) = &s.recording_id {
        body["id"] = json!(id);
    }
    match &s.task {
        Some(task) => body["task"] = json!(task),
        None => {
            if let (Some(db), Some(rp)) = (&s.db, &s.rp) {
                body["dbrps"] = json!([{ "db": db, "rp": rp }]);
            }
            if let Some(m) = &s.measurement {
                body["measurement"] = json!(m);
            }
        }
    }
    let reply = send_json(Method::POST, url, "/kapacitor/v1/recordings/stream", &body)?.ok()?;
    let rec: Value = serde_json::from_slice(&reply.body)?;
    if s.no_wait {
        return Ok(rec);
    }
    let id = rec["id"].as_str().unwrap_or_default().to_string();
    wait_recorded(url, &id, Instant::now() + duration + CLOSE_WAIT)
}

/// Polls a recording until it is no longer recording.
fn wait_recorded(url: &str, id: &str, deadline: Instant) -> anyhow::Result<Value> {
    loop {
        let reply = send(
            Method::GET,
            url,
            &format!("/kapacitor/v1/recordings/{id}"),
            Vec::new(),
        )?
        .ok()?;
        let rec: Value = serde_json::from_slice(&reply.body)?;
        if rec["status"] != "recording" {
            if rec["status"] == "failed" {
                bail!(
                    "recording {id} failed: {}",
                    rec["error"].as_str().unwrap_or("")
                );
            }
            return Ok(rec);
        }
        if Instant::now() > deadline {
            bail!("recording {id} is still recording after its duration");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn import(f: File, url: &str) -> anyhow::Result<Value> {
    let ext = f
        .path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let format = match (f.kind.as_deref(), ext.as_str()) {
        (Some("batch"), _) | (None, "brpl") => "brpl",
        (Some("stream"), "brpl") => bail!(
            "{}: a .brpl file holds batches, not a stream",
            f.path.display()
        ),
        (Some("stream") | None, "srpl") => "srpl",
        (Some("stream") | None, _) => "lp",
        (Some(other), _) => bail!("--type {other:?}: use stream or batch"),
    };
    let data =
        std::fs::read(&f.path).with_context(|| format!("cannot read {}", f.path.display()))?;
    let name = f.path.file_name().map_or_else(
        || f.path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut query = vec![
        ("format", format.to_string()),
        ("db", f.db),
        ("rp", f.rp),
        ("name", name),
    ];
    if let Some(p) = f.precision {
        query.push(("precision", p));
    }
    if let Some(id) = f.recording_id {
        query.push(("id", id));
    }
    let query = serde_urlencoded::to_string(&query)?;
    let reply = send(
        Method::POST,
        url,
        &format!("/kapacitor/v1/recordings/file?{query}"),
        data,
    )?
    .ok()?;
    Ok(serde_json::from_slice(&reply.body)?)
}

/// `kapacitor start-recording`.
pub fn start(args: StartArgs, url: &str) -> anyhow::Result<ExitCode> {
    let mut body = json!({});
    if let (Some(db), Some(rp)) = (&args.db, &args.rp) {
        body["dbrps"] = json!([{ "db": db, "rp": rp }]);
    }
    if let Some(m) = &args.measurement {
        body["measurement"] = json!(m);
    }
    if let Some(w) = &args.where_ {
        body["where"] = json!(w);
    }
    if let Some(id) = &args.id {
        body["id"] = json!(id);
    }
    let reply = send_json(Method::POST, url, "/kapacitor/v1/recordings/stream", &body)?.ok()?;
    let rec: Value = serde_json::from_slice(&reply.body)?;
    Ok(print_recording(args.json, &rec))
}

/// `kapacitor stop-recording [ID]`.
pub fn stop(args: StopArgs, url: &str) -> anyhow::Result<ExitCode> {
    let id = match args.id {
        Some(id) => id,
        None => {
            let reply = send(Method::GET, url, "/kapacitor/v1/recordings", Vec::new())?.ok()?;
            let list: Value = serde_json::from_slice(&reply.body)?;
            let live: Vec<&str> = list["recordings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["status"] == "recording")
                .filter_map(|r| r["id"].as_str())
                .collect();
            match live.as_slice() {
                [one] => one.to_string(),
                [] => bail!("no recording is running"),
                many => bail!(
                    "{} recordings are running ({}): say which to stop",
                    many.len(),
                    many.join(", ")
                ),
            }
        }
    };
    let reply = send(
        Method::POST,
        url,
        &format!("/kapacitor/v1/recordings/{id}/stop"),
        Vec::new(),
    )?
    .ok()?;
    let rec: Value = serde_json::from_slice(&reply.body)?;
    Ok(print_recording(args.json, &rec))
}
