//! Every limit of the daemon whose breach is counted, and the counters.
//!
//! A limit is named by the config key that sets it (`ingest.max_fields`),
//! which is also what its error message cites in parentheses, so a user who
//! reads `… (ingest.max_fields)` in an answer finds the same name in
//! `limit_breaches` of the status and in `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! limits {
    ($($variant:ident => $key:literal,)*) => {
        /// A limit, by the config key that sets it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Limit {
            $($variant,)*
        }

        impl Limit {
            /// Every limit, in the order the status lists them.
            pub const ALL: &'static [Limit] = &[$(Limit::$variant,)*];

            /// The config key that sets it.
            pub fn key(self) -> &'static str {
                match self {
                    $(Limit::$variant => $key,)*
                }
            }
        }
    };
}

limits! {
    HttpMaxBodySize => "http.max_body_size",
    HttpMaxConnections => "http.max_connections",
    HttpReadHeaderTimeout => "http.read_header_timeout",
    HttpIdleTimeout => "http.idle_timeout",
    TcpMaxConnections => "tcp.max_connections",
    TcpMaxLineLength => "tcp.max_line_length",
    TcpIdleTimeout => "tcp.idle_timeout",
    IngestMaxLineLength => "ingest.max_line_length",
    IngestMaxFields => "ingest.max_fields",
    IngestMaxTags => "ingest.max_tags",
    IngestMaxParseErrors => "ingest.max_parse_errors",
    IngestMaxInflatedSize => "ingest.max_inflated_size",
    IngestMaxFuture => "ingest.max_future",
    IngestBackpressureTimeout => "ingest.backpressure_timeout",
    IngestMaxDbrps => "ingest.max_dbrps",
    ScriptSize => "limits.max_script_size",
    Nodes => "limits.max_nodes",
    ChainDepth => "limits.max_chain_depth",
    ExpressionDepth => "limits.max_expression_depth",
    Parallelism => "limits.max_parallelism",
    History => "limits.max_history",
    Forecast => "limits.max_forecast",
    SideloadMaxFiles => "sideload.max_files",
    SideloadMaxFileSize => "sideload.max_file_size",
    SideloadMaxTotalSize => "sideload.max_total_size",
    ReplayMaxRecordingBytes => "replay.max_recording_bytes",
    ReplayMaxRunning => "replay.max_running",
    ReplayQueuePoints => "replay.queue_points",
    PipelineRestartAttempts => "pipeline.restart_attempts",
}

impl Limit {
    /// The limit set by `key`, if it is one.
    pub fn from_key(key: &str) -> Option<Limit> {
        Limit::ALL.iter().copied().find(|l| l.key() == key)
    }

    /// The limits an error message cites, as `(ingest.max_fields)`: each
    /// once, in the order of [`Limit::ALL`].
    pub fn cited_in(message: &str) -> Vec<Limit> {
        Limit::ALL
            .iter()
            .copied()
            .filter(|l| {
                message
                    .match_indices(l.key())
                    .any(|(at, key)| cited_at(message, at, key.len()))
            })
            .collect()
    }
}

/// Whether the key found at `at` (`len` bytes) stands in parentheses.
fn cited_at(message: &str, at: usize, len: usize) -> bool {
    message[..at].ends_with('(') && message[at + len..].starts_with(')')
}

/// How often each limit was breached since the daemon started: a request,
/// line, connection, file or definition refused (or cut short) for it.
#[derive(Debug)]
pub struct LimitBreaches {
    counts: Vec<AtomicU64>,
}

impl Default for LimitBreaches {
    fn default() -> Self {
        LimitBreaches {
            counts: Limit::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl LimitBreaches {
    /// One more breach of `limit`.
    pub fn breach(&self, limit: Limit) {
        self.add(limit, 1);
    }

    /// `n` more breaches of `limit`.
    pub fn add(&self, limit: Limit, n: u64) {
        if n > 0
            && let Some(c) = self.counts.get(limit as usize)
        {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// One breach of every limit `message` cites (see [`Limit::cited_in`]).
    pub fn cited_in(&self, message: &str) {
        for limit in Limit::cited_in(message) {
            self.breach(limit);
        }
    }

    pub fn get(&self, limit: Limit) -> u64 {
        self.counts
            .get(limit as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Every limit's count, by key, in the order of [`Limit::ALL`].
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        Limit::ALL.iter().map(|&l| (l.key(), self.get(l))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_and_round_trip() {
        for &l in Limit::ALL {
            assert_eq!(Limit::from_key(l.key()), Some(l));
            assert_eq!(Limit::ALL[l as usize], l);
        }
        assert_eq!(Limit::from_key("http.bind"), None);
    }

    #[test]
    fn only_keys_in_parentheses_are_cited() {
        let m = "too many fields: 101 > 100 (ingest.max_fields); ingest.max_tags is fine; \
                 (limits.max_nodes) and again (ingest.max_fields)";
        assert_eq!(Limit::cited_in(m), [Limit::IngestMaxFields, Limit::Nodes]);
        let b = LimitBreaches::default();
        b.cited_in(m);
        b.add(Limit::Nodes, 2);
        b.add(Limit::Nodes, 0);
        assert_eq!(b.get(Limit::IngestMaxFields), 1);
        assert_eq!(b.get(Limit::Nodes), 3);
        assert_eq!(b.snapshot().len(), Limit::ALL.len());
    }
}
