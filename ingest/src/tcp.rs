//! TCP line protocol, for Telegraf's `socket_writer`: a stream of
//! newline-terminated lines, split anywhere across reads, optionally as
//! back-to-back gzip members (one per metric). Neither InfluxDB 1.x nor
//! Kapacitor has this listener; it is ours.

use std::io::{self, Write};
use std::sync::Arc;

use model::Limit;
use pipeline::{DbRp, Held, PointSink};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::lp::{Decoder, Precision};
use crate::stats::{DbRpCounters, IngestStats};
use crate::write::{LineSettings, decode_with, wait_for_room};

const READ_CHUNK: usize = 64 * 1024;
/// A connection's first read buffer, grown to `READ_CHUNK` once a read
/// fills it.
const FIRST_CHUNK: usize = 4 * 1024;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A bound TCP listener.
pub struct TcpIngest {
    pub listener: TcpListener,
    pub dbrp: DbRp,
    pub sink: Arc<dyn PointSink>,
    pub stats: Arc<IngestStats>,
    pub settings: LineSettings,
    /// A line longer than this is dropped (and counted) rather than buffered,
    /// so a client that never sends a newline cannot grow memory.
    pub max_line_length: usize,
    pub max_connections: usize,
    /// Most bytes one gzip read may inflate to before the connection is
    /// closed (`ingest.max_inflated_size`).
    pub max_inflated_size: u64,
    /// A connection that sends nothing for this long is closed
    /// (`tcp.idle_timeout`).
    pub idle_timeout: std::time::Duration,
}

/// Compressed bytes inflated at a time, so what one step inflates to stays
/// small (deflate expands at most about 1,000 times) whatever is sent.
const GZIP_STEP: usize = 1024;

impl TcpIngest {
    /// Accepts connections until `shutdown` is cancelled; connections are
    /// tracked by `tracker` so shutdown can wait for them to finish.
    pub async fn run(self, shutdown: CancellationToken, tracker: TaskTracker) -> io::Result<()> {
        let limit = Arc::new(Semaphore::new(self.max_connections));
        let this = Arc::new(self);
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                r = this.listener.accept() => match r {
                    Ok(accepted) => accepted,
                    // Out of file descriptors and the like: pause, don't spin or die.
                    Err(e) => {
                        tracing::warn!(listener = "tcp", "accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                this.stats.tcp.reject();
                this.stats.breaches.breach(Limit::TcpMaxConnections);
                tracing::warn!(listener = "tcp", %peer, "too many connections; closing");
                drop(stream);
                continue;
            };
            let this = this.clone();
            let shutdown = shutdown.clone();
            tracker.spawn(async move {
                let _permit = permit;
                if let Err(e) = this.connection(stream, shutdown).await {
                    tracing::debug!(listener = "tcp", %peer, "connection ended: {e}");
                }
            });
        }
    }

    async fn connection(
        &self,
        mut stream: TcpStream,
        shutdown: CancellationToken,
    ) -> io::Result<()> {
        let listener = &self.stats.tcp;
        listener.accept();
        let _active = listener.open();
        let mut conn = Connection {
            ingest: self,
            counters: listener.dbrp(&self.dbrp),
            decoder: Decoder::counting(self.stats.breaches.clone()),
            framer: LineFramer::new(self.max_line_length),
            encoding: Encoding::Unknown(Vec::new()),
            held: Vec::new(),
        };
        // Small while reads are small: an idle connection (Telegraf keeps
        // one open between flushes) holds a few KiB, not the whole chunk.
        let mut buf = vec![0u8; FIRST_CHUNK];
        loop {
            let n = tokio::select! {
                _ = shutdown.cancelled() => 0,
                r = tokio::time::timeout(self.idle_timeout, stream.read(&mut buf)) => match r {
                    Ok(r) => r?,
                    Err(_) => {
                        listener.idle_timeout();
                        self.stats.breaches.breach(Limit::TcpIdleTimeout);
                        tracing::debug!(listener = "tcp", "nothing received for tcp.idle_timeout; closing");
                        0
                    }
                },
            };
            if n == 0 {
                break;
            }
            conn.feed(&buf[..n])?;
            if n == buf.len() && buf.len() < READ_CHUNK {
                buf.resize(READ_CHUNK, 0);
            }
            // Not reading on while a task has no room is TCP's backpressure.
            conn.wait_for_room().await;
        }
        conn.finish()?;
        conn.wait_for_room().await;
        Ok(())
    }
}

/// How a connection's bytes are encoded, decided by its first two bytes.
enum Encoding {
    /// Fewer than two bytes seen so far.
    Unknown(Vec<u8>),
    Plain,
    // Boxed: the decoder state is large and most connections are plain.
    Gzip(Box<flate2::write::MultiGzDecoder<Vec<u8>>>),
}

/// One connection's decoding state.
struct Connection<'a> {
    ingest: &'a TcpIngest,
    counters: Arc<DbRpCounters>,
    decoder: Decoder,
    framer: LineFramer,
    encoding: Encoding,
    /// Decoded writes waiting for room in a task's inbox.
    held: Vec<Held>,
}

impl Connection<'_> {
    fn feed(&mut self, chunk: &[u8]) -> io::Result<()> {
        match &mut self.encoding {
            Encoding::Plain => self.lines(chunk),
            Encoding::Gzip(_) => {
                // One step at a time, decoding what each inflates to before
                // the next, so memory stays bounded; a read that inflates
                // past the limit ends the connection.
                let mut inflated: u64 = 0;
                for step in chunk.chunks(GZIP_STEP) {
                    let Encoding::Gzip(gz) = &mut self.encoding else {
                        unreachable!()
                    };
                    gz.write_all(step)?;
                    let out = std::mem::take(gz.get_mut());
                    inflated += out.len() as u64;
                    if inflated > self.ingest.max_inflated_size {
                        self.counters.drop_points(1);
                        self.ingest
                            .stats
                            .breaches
                            .breach(Limit::IngestMaxInflatedSize);
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "gzip inflates past {} bytes in one read (ingest.max_inflated_size); closing",
                                self.ingest.max_inflated_size
                            ),
                        ));
                    }
                    self.lines(&out);
                }
            }
            Encoding::Unknown(head) => {
                head.extend_from_slice(chunk);
                if head.len() < 2 {
                    return Ok(());
                }
                let head = std::mem::take(head);
                self.encoding = if head[..2] == GZIP_MAGIC {
                    Encoding::Gzip(Box::new(flate2::write::MultiGzDecoder::new(Vec::new())))
                } else {
                    Encoding::Plain
                };
                return self.feed(&head);
            }
        }
        Ok(())
    }

    /// Hands over what waits for room; what does not get in within
    /// `ingest.backpressure_timeout` is dropped and counted (a TCP writer
    /// cannot be told).
    async fn wait_for_room(&mut self) {
        let timeout = self.ingest.settings.backpressure_timeout;
        for held in std::mem::take(&mut self.held) {
            if let Err(points) = wait_for_room(&self.ingest.sink, held, timeout, false).await {
                self.counters.drop_points(points);
                self.ingest
                    .stats
                    .breaches
                    .breach(Limit::IngestBackpressureTimeout);
                tracing::warn!(
                    listener = "tcp",
                    "dropped {points} points: a task had no room for them within {timeout:?}"
                );
            }
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        match std::mem::replace(&mut self.encoding, Encoding::Plain) {
            Encoding::Unknown(head) => self.lines(&head),
            Encoding::Plain => {}
            Encoding::Gzip(mut gz) => {
                gz.try_finish()?;
                let out = std::mem::take(gz.get_mut());
                self.lines(&out);
            }
        }
        // A last line without a newline at EOF is still a line.
        let rest = self.framer.finish();
        self.decode(&rest);
        Ok(())
    }

    fn lines(&mut self, bytes: &[u8]) {
        let framed = self.framer.push(bytes);
        if framed.dropped > 0 {
            self.counters.drop_points(framed.dropped);
            self.ingest
                .stats
                .breaches
                .add(Limit::TcpMaxLineLength, framed.dropped as u64);
            tracing::debug!(
                listener = "tcp",
                "dropped {} over-long lines",
                framed.dropped
            );
        }
        let complete = std::mem::take(&mut self.framer.ready);
        self.decode(&complete);
        self.framer.ready = complete;
    }

    fn decode(&mut self, lines: &[u8]) {
        if lines.is_empty() {
            return;
        }
        let ingest = self.ingest;
        let outcome = decode_with(
            &mut self.decoder,
            &ingest.sink,
            &self.counters,
            &ingest.dbrp,
            lines,
            Precision::Nanosecond,
            ingest.settings,
        );
        for e in &outcome.errors {
            tracing::debug!(listener = "tcp", "{e}");
        }
        self.held.extend(outcome.held);
    }
}

/// What one push produced: whole lines are left in `LineFramer::ready`.
struct Framed {
    dropped: usize,
}

/// Cuts a byte stream into runs of whole lines, holding back a partial last
/// line until its newline arrives. A line longer than the limit is dropped
/// and counted, and never buffered past the limit.
struct LineFramer {
    max_line_length: usize,
    /// Bytes after the last newline seen (a partial line).
    partial: Vec<u8>,
    /// The current line went over the limit: skip to its newline.
    discarding: bool,
    /// Whole lines ready to decode, reused between pushes.
    ready: Vec<u8>,
}

impl LineFramer {
    fn new(max_line_length: usize) -> Self {
        LineFramer {
            max_line_length,
            partial: Vec::new(),
            discarding: false,
            ready: Vec::new(),
        }
    }

    fn push(&mut self, mut chunk: &[u8]) -> Framed {
        self.ready.clear();
        let mut dropped = 0;
        if self.discarding {
            // The rest of an over-long line: skip to its end.
            match memchr::memchr(b'\n', chunk) {
                None => return Framed { dropped },
                Some(i) => {
                    self.discarding = false;
                    chunk = &chunk[i + 1..];
                }
            }
        }
        self.partial.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(end) = crate::lp::next_line_end(&self.partial, start) {
            if end - start > self.max_line_length {
                dropped += 1;
            } else {
                self.ready.extend_from_slice(&self.partial[start..=end]);
            }
            start = end + 1;
        }
        self.partial.drain(..start);
        if self.partial.len() > self.max_line_length {
            // Never hold more than the limit for a line that has not ended.
            dropped += 1;
            self.partial.clear();
            self.discarding = true;
        }
        Framed { dropped }
    }

    fn finish(&mut self) -> Vec<u8> {
        if self.discarding {
            return Vec::new();
        }
        std::mem::take(&mut self.partial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push_all(framer: &mut LineFramer, chunks: &[&[u8]]) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let mut dropped = 0;
        for c in chunks {
            dropped += framer.push(c).dropped;
            out.extend_from_slice(&framer.ready);
        }
        out.extend_from_slice(&framer.finish());
        (out, dropped)
    }

    #[test]
    fn lines_split_at_every_byte_come_out_whole() {
        let input = b"cpu v=1 1\nmem v=2 2\nlast v=3";
        for cut in 0..=input.len() {
            let mut framer = LineFramer::new(1024);
            let (out, dropped) = push_all(&mut framer, &[&input[..cut], &input[cut..]]);
            assert_eq!(out, input, "cut at {cut}");
            assert_eq!(dropped, 0);
        }
    }

    #[test]
    fn a_newline_inside_a_quoted_string_does_not_end_the_line() {
        let input = b"log msg=\"two\nlines\" 1\nnext v=1 2\n";
        for cut in 0..=input.len() {
            let mut framer = LineFramer::new(1024);
            let mut seen = Vec::new();
            framer.push(&input[..cut]);
            seen.push(framer.ready.clone());
            framer.push(&input[cut..]);
            seen.push(framer.ready.clone());
            // Whole lines only: every delivery ends at a line end.
            for s in seen.iter().filter(|s| !s.is_empty()) {
                assert!(
                    s == &input[..] || s == b"log msg=\"two\nlines\" 1\n" || s == b"next v=1 2\n",
                    "cut {cut}: {:?}",
                    String::from_utf8_lossy(s)
                );
            }
        }
    }

    #[test]
    fn over_long_lines_are_dropped_and_counted_and_neighbours_kept() {
        let mut framer = LineFramer::new(8);
        let (out, dropped) = push_all(
            &mut framer,
            &[
                b"a v=1\nthis-line-is-too-long",
                b"-still\nb v=2\n",
                b"cccccccccccc\nd v=3",
            ],
        );
        assert_eq!(out, b"a v=1\nb v=2\nd v=3");
        assert_eq!(dropped, 2);
    }
}
