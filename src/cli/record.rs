//! `kapacitor record stream|batch|query|file`, and the seed's
//! `start-recording` / `stop-recording`: make recordings to replay. Each
//! prints `RecordingID=<id>`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hyper::Method;
use serde_json::{Value, json};

use super::http::{send, send_json};

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
    /// what --db/--rp/--measurement select.
    Stream(Stream),
    /// Record a batch task's queries (needs the InfluxDB client: not yet).
    Batch(Unsupported),
    /// Record the result of an InfluxDB query (not yet).
    Query(Unsupported),
    /// Import line protocol, a Kapacitor .srpl or a .brpl file.
    File(File),
}

#[derive(Debug, clap::Args)]
struct Stream {
    /// Record what this task would receive (its dbrps, `from` and `where`).
    #[arg(long)]
    task: Option<String>,
    /// How long to record, e.g. 60s.
    #[arg(long)]
    duration: String,
    /// Without --task: database (with --rp) to record; all if not given.
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
struct Unsupported {
    /// Whatever the command is given.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
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
        Kind::Batch(_) => post_unsupported(url, "batch")?,
        Kind::Query(_) => post_unsupported(url, "query")?,
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

fn post_unsupported(url: &str, kind: &str) -> anyhow::Result<Value> {
    let reply = send_json(
        Method::POST,
        url,
        &format!("/kapacitor/v1/recordings/{kind}"),
        &json!({}),
    )?
    .ok()?;
    Ok(serde_json::from_slice(&reply.body)?)
}

fn stream(s: Stream, url: &str) -> anyhow::Result<Value> {
    let duration = config::parse_duration(&s.duration)
        .map_err(|e| anyhow::anyhow!("--duration {:?}: {e}", s.duration))?;
    let mut body = json!({ "duration": s.duration });
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
