//! The real kapacitord in a directory of its own and the real `kapacitor`
//! CLI against it: what the record/replay and batch tests drive.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Spawned, kapacitord};

/// A kapacitord in its own directory (data dir `./data`), killed on drop.
pub struct Daemon {
    pub child: std::process::Child,
    pub url: String,
    pub dir: PathBuf,
}

impl Daemon {
    pub fn start_in(dir: &Path) -> Daemon {
        let mut cmd = kapacitord();
        cmd.current_dir(dir);
        let spawned = Spawned::start(cmd);
        Daemon {
            child: spawned.child,
            url: spawned.url,
            dir: dir.to_path_buf(),
        }
    }

    pub fn kill_9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        cli(&self.url, args)
    }

    /// Runs the CLI and wants it to succeed; its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.cli(args);
        assert!(ok, "kapacitor {args:?} failed: {out}{err}");
        out
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(args);
        let out = self.ok(&with_json);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        http(&self.url, "GET", path, None)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the `kapacitor` CLI against `url`: whether it succeeded, its
/// standard output and its standard error.
pub fn cli(url: &str, args: &[&str]) -> (bool, String, String) {
    super::kapacitor(url, args)
}

/// One HTTP request with a JSON body, by hand (the tests need no client).
pub fn http(url: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let status = reply[9..12].parse().unwrap();
    let (head, rest) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    // Chunked bodies: the JSON is the line between the size lines.
    let text = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        rest.lines().nth(1).unwrap_or("").to_string()
    } else {
        rest.to_string()
    };
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub fn recording_id(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("RecordingID="))
        .unwrap_or_else(|| panic!("no RecordingID in {out:?}"))
        .trim()
        .to_string()
}
