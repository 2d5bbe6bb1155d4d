//! `kapacitor write`: sends line protocol from a file or standard input.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use hyper::Method;

use super::http::send;

/// Lines are sent in requests of about this many bytes, cut at line ends, so
/// a large file neither hits the server's body limit nor sits in one request.
const REQUEST_BYTES: usize = 4 << 20;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Database to write to.
    #[arg(long, default_value = "telegraf")]
    db: String,
    /// Retention policy (empty: the server's default).
    #[arg(long, default_value = "")]
    rp: String,
    /// Unit of the timestamps: n, u, ms, s, m or h.
    #[arg(long, default_value = "n")]
    precision: String,
    /// File of line protocol; `-` or nothing reads standard input.
    file: Option<PathBuf>,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

pub fn run(args: Args, url: &str) -> anyhow::Result<ExitCode> {
    let mut data = Vec::new();
    match &args.file {
        Some(path) if path.as_os_str() != "-" => {
            data =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        }
        _ => {
            std::io::stdin()
                .read_to_end(&mut data)
                .context("cannot read standard input")?;
        }
    }
    let query = serde_urlencoded::to_string([
        ("db", args.db.as_str()),
        ("rp", args.rp.as_str()),
        ("precision", args.precision.as_str()),
    ])?;
    let path = format!("/write?{query}");
    let mut errors = Vec::new();
    let mut requests = 0;
    for chunk in chunks_at_line_ends(&data, REQUEST_BYTES) {
        requests += 1;
        let reply = send(Method::POST, url, &path, chunk.to_vec())?;
        if !reply.status.is_success() {
            if !args.json {
                eprintln!("error: {}", reply.error_text());
            }
            errors.push(reply.error_text());
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({"ok": errors.is_empty(), "bytes": data.len(), "requests": requests, "errors": errors})
        );
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Splits `data` into pieces of about `size` bytes, each ending at a newline
/// (a single longer line stays whole).
fn chunks_at_line_ends(data: &[u8], size: usize) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let cut = if rest.len() <= size {
            rest.len()
        } else {
            match memchr_back(&rest[..size]) {
                Some(i) => i + 1,
                None => rest[size..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(rest.len(), |i| size + i + 1),
            }
        };
        let (head, tail) = rest.split_at(cut);
        rest = tail;
        Some(head)
    })
}

fn memchr_back(data: &[u8]) -> Option<usize> {
    data.iter().rposition(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::chunks_at_line_ends;

    #[test]
    fn chunks_end_at_newlines_and_cover_everything() {
        let data = b"aaaa\nbb\ncccccccc\nd";
        let chunks: Vec<&[u8]> = chunks_at_line_ends(data, 6).collect();
        assert_eq!(chunks, vec![&b"aaaa\n"[..], b"bb\n", b"cccccccc\n", b"d"]);
    }
}
