//! `kapacitor delete tasks|recordings|replays ID|PATTERN...` (Kapacitor's;
//! the seed's `delete recording ID` and `delete NAME...` for tasks too):
//! stop and forget what is named, by id or by glob. `delete
//! topics|topic-handlers` are [`super::delete_topics`]'s.

use std::process::ExitCode;

use anyhow::bail;
use hyper::Method;

use super::enable::{failure, finish};
use super::http::send;
use super::select::{Collection, RECORDINGS, REPLAYS, TASKS, select};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// tasks, recordings or replays, then their ids or patterns (`*`,
    /// `?`, `[a-z]`); without a kind, task ids.
    #[arg(required = true, value_name = "KIND|ID")]
    words: Vec<String>,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

/// What `delete KIND ID...` names with its first word.
fn kind_of(word: &str) -> Option<Collection> {
    match word {
        "tasks" | "task" => Some(TASKS),
        "recordings" | "recording" => Some(RECORDINGS),
        "replays" | "replay" => Some(REPLAYS),
        _ => None,
    }
}

pub fn run(args: Args, url: &str) -> anyhow::Result<ExitCode> {
    match args.words.split_first() {
        Some((kind, rest)) if kind == "topics" || kind == "topic" => {
            return super::delete_topics::run_topics(url, rest, args.json);
        }
        Some((kind, rest)) if kind == "topic-handlers" || kind == "topic-handler" => {
            return super::delete_topics::run_handlers(url, rest, args.json);
        }
        _ => {}
    }
    let (collection, given) = match args.words.split_first() {
        Some((first, rest)) => match kind_of(first) {
            Some(_) if rest.is_empty() => bail!("delete {first}: give at least one id or pattern"),
            Some(kind) => (kind, rest),
            None => (TASKS, &args.words[..]),
        },
        None => bail!("give what to delete: delete tasks|recordings|replays ID..."),
    };
    let ids = select(url, collection, given)?;
    let mut failed = Vec::new();
    for id in &ids {
        let reply = send(
            Method::DELETE,
            url,
            &format!("{}/{id}", collection.path()),
            Vec::new(),
        )?;
        if !reply.status.is_success() {
            failed.push(failure(args.json, id, reply.error_text()));
        }
    }
    Ok(finish(args.json, collection, &ids, &failed))
}
