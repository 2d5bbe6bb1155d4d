//! Where output nodes (`httpPost`, `influxDBOut`) send what they make: an
//! [`Output`] the server provides, a bounded queue in front of a worker, so
//! a slow or dead destination never blocks a task. The node only encodes.

use std::sync::atomic::{AtomicU64, Ordering};

/// A destination behind a bounded queue.
pub trait Output: Send + Sync {
    /// Queues one payload. Never blocks: what does not fit is dropped and
    /// counted.
    fn offer(&self, payload: Payload);
    /// Sends one payload and waits for the answer: its HTTP status, 0 when
    /// none came (httpPost's `.codeField()`, which asks for this). An output
    /// that cannot wait queues it and says 0.
    fn offer_and_wait(&self, payload: Payload) -> u16 {
        self.offer(payload);
        0
    }
    /// What became of the payloads so far.
    fn counts(&self) -> OutputCounts;
}

/// What an output node hands its [`Output`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Payload {
    /// A JSON body, or lines of line protocol.
    pub body: Vec<u8>,
    /// Where this one goes, when not to the output's own URL: httpPost's
    /// URL template, rendered for the body's series.
    pub url: Option<String>,
}

impl From<Vec<u8>> for Payload {
    fn from(body: Vec<u8>) -> Self {
        Payload { body, url: None }
    }
}

/// What an output node asks the server for.
#[derive(Clone, Debug, PartialEq)]
pub enum OutputSpec {
    /// `httpPost(url).header(k, v).timeout(d)`: POST each JSON body.
    HttpPost {
        /// Where bodies without a URL of their own go (a URL template
        /// renders one for every body).
        url: String,
        headers: Vec<(String, String)>,
        /// ns; `None`: the server's default.
        timeout: Option<i64>,
        /// `.skipSSLVerification()`: accept any certificate.
        skip_tls_verify: bool,
        /// `.codeField()`: each post is made on the task's thread, which
        /// waits for the answer.
        wait: bool,
    },
    /// `influxDBOut()`: write line protocol to an InfluxDB 1.x server.
    InfluxDb {
        /// `.cluster(name)`; `None`: the default server.
        cluster: Option<String>,
        database: String,
        retention_policy: String,
        /// `n`, `u`, `ms`, `s`, `m` or `h`, as the lines' timestamps are.
        precision: String,
        /// Lines written at once (`.buffer(n)`).
        buffer: usize,
        /// Longest a line waits to be written, ns (`.flushInterval(d)`).
        flush_interval: i64,
        /// `.create()`: `CREATE DATABASE` (and retention policy) first.
        create: bool,
    },
}

/// Counts of one output's payloads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct OutputCounts {
    /// Delivered (for influxDBOut: lines written).
    pub written: u64,
    /// Given up after retries.
    pub failed: u64,
    /// Not queued: the queue was full.
    pub dropped: u64,
    /// Attempts that failed and were tried again.
    pub retried: u64,
}

/// Thread-safe counters behind [`OutputCounts`], for implementers.
#[derive(Debug, Default)]
pub struct OutputCounters {
    pub written: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    pub retried: AtomicU64,
}

impl OutputCounters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> OutputCounts {
        OutputCounts {
            written: self.written.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
        }
    }
}
