//! UDP line protocol: one or many lines per datagram, as Telegraf, InfluxDB
//! subscriptions and the Python clients send. Unlike InfluxDB and Kapacitor,
//! which drop a whole datagram for one bad line, good lines are kept and the
//! bad ones counted.

use std::io;
use std::sync::Arc;

use pipeline::{DbRp, Point, PointBatch, PointSink};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::lp::{DecodeOptions, Decoder, LineError, Precision};
use crate::stats::IngestStats;
use crate::write::{LineSettings, now_ns};

/// Largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_536;
/// Datagrams already queued in the socket are decoded together (up to this
/// many) and handed on as one batch, so a burst costs one hand-off.
const MAX_DATAGRAMS_PER_BATCH: usize = 256;

/// A bound UDP listener.
pub struct UdpIngest {
    pub socket: UdpSocket,
    pub dbrp: DbRp,
    pub sink: Arc<dyn PointSink>,
    pub stats: Arc<IngestStats>,
    pub settings: LineSettings,
}

impl UdpIngest {
    /// Receives until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> io::Result<()> {
        let listener = &self.stats.udp;
        let counters = listener.dbrp(&self.dbrp);
        let mut decoder = Decoder::counting(self.stats.breaches.clone());
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut points: Vec<Point> = Vec::new();
        let mut errors: Vec<LineError> = Vec::new();
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                r = self.socket.recv(&mut buf) => r,
            };
            let mut received = match first {
                Ok(n) => Some(n),
                // ICMP errors from earlier sends surface here on some systems;
                // they say nothing about incoming data.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => None,
                Err(e) => return Err(e),
            };
            let opts = DecodeOptions {
                precision: Precision::Nanosecond,
                now_ns: now_ns(),
                accept_unsigned: self.settings.accept_unsigned,
            };
            let mut datagrams = 0;
            while let Some(n) = received {
                listener.accept();
                errors.clear();
                let before = points.len();
                decoder.limits = self.settings.limits;
                let bad = decoder.decode(&buf[..n], &opts, &mut points, &mut errors);
                counters.record(n, points.len() - before, bad);
                for e in &errors {
                    tracing::debug!(listener = "udp", line = e.line, "{e}");
                }
                datagrams += 1;
                if datagrams == MAX_DATAGRAMS_PER_BATCH {
                    break;
                }
                received = self.socket.try_recv(&mut buf).ok();
            }
            if !points.is_empty() {
                let batch = PointBatch {
                    dbrp: self.dbrp.clone(),
                    points: std::mem::take(&mut points),
                };
                self.sink.write(batch);
            }
        }
    }
}
