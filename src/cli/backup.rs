//! `kapacitor backup FILE`: a consistent copy of the daemon's store. To
//! restore it, stop kapacitord and put the file in place of
//! `DATA_DIR/kapacitor.redb`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use hyper::Method;
use serde_json::json;

use super::http::send;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the copy; an existing file is not overwritten.
    file: PathBuf,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

pub fn run(args: Args, url: &str) -> anyhow::Result<ExitCode> {
    let path = &args.file;
    // Created first, so a path that cannot be written fails before the
    // daemon copies anything.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    // The store's own mode: it holds scripts and alert states.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("failed to create backup file {}", path.display()))?;
    let copied = send(Method::GET, url, "/kapacitor/v1/storage/backup", Vec::new())
        .and_then(|reply| reply.ok())
        .context("failed to perform backup")
        .and_then(|reply| {
            file.write_all(&reply.body)
                .and_then(|()| file.sync_all())
                .with_context(|| format!("failed to save backup to {}", path.display()))?;
            Ok(reply.body.len())
        });
    match copied {
        Ok(bytes) => Ok(super::done(
            args.json,
            json!({"ok": true, "file": path.display().to_string(), "bytes": bytes}),
        )),
        Err(e) => {
            // No half a backup left behind to be mistaken for one.
            drop(file);
            let _ = std::fs::remove_file(path);
            Err(e)
        }
    }
}
