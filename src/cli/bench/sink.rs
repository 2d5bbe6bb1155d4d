//! `kapacitor bench sink`: an HTTP server that reads every request body,
//! throws it away and answers 204 (200 with the InfluxDB JSON to `/query`).
//! Driving it measures the client's own ceiling on this machine.

use std::convert::Infallible;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

#[derive(Debug, clap::Args)]
pub struct SinkArgs {
    /// Address to listen on; port 0 picks a free port. The bound address is
    /// printed on standard output.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub bind: String,
    /// Runtime worker threads (1 = a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    bytes: AtomicU64,
}

pub fn run(args: SinkArgs) -> anyhow::Result<()> {
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(async move {
        // Before the address is printed: whoever reads it may stop us at once.
        let mut signals = crate::signals::Signals::install()?;
        let listener = tokio::net::TcpListener::bind(&args.bind)
            .await
            .with_context(|| format!("cannot listen on {}", args.bind))?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "{}", listener.local_addr()?)?;
        stdout.flush()?;
        let counters = Arc::new(Counters::default());
        let serve = serve(listener, counters.clone());
        tokio::select! {
            result = serve => result?,
            _ = signals.wait() => {}
        }
        eprintln!(
            "sink: {} requests, {} body bytes",
            counters.requests.load(Ordering::Relaxed),
            counters.bytes.load(Ordering::Relaxed)
        );
        Ok(())
    })
}

/// Answers every connection on `listener` until an accept fails.
async fn serve(listener: tokio::net::TcpListener, counters: Arc<Counters>) -> anyhow::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let counters = counters.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, counters.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    counters: Arc<Counters>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let is_query = req.uri().path() == "/query";
    let mut body = req.into_body();
    let mut bytes = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => bytes += frame.data_ref().map_or(0, |d| d.len() as u64),
            Err(_) => break,
        }
    }
    counters.requests.fetch_add(1, Ordering::Relaxed);
    counters.bytes.fetch_add(bytes, Ordering::Relaxed);
    let response = if is_query {
        Response::builder()
            .status(StatusCode::OK)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from_static(
                br#"{"results":[{"statement_id":0}]}"#,
            )))
    } else {
        Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(Full::new(Bytes::new()))
    };
    Ok(response.expect("static response is valid"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cli::bench::load::{self, HttpTarget, Limits};
    use crate::cli::bench::workload::{self, Workload};

    /// The client against the sink over a real socket: every body is
    /// acknowledged and every byte arrives.
    #[test]
    fn client_and_sink_agree_on_what_was_sent() {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let counters = Arc::new(Counters::default());
        let sink_counters = counters.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let _ = serve(listener, sink_counters).await;
            });
        });
        let addr = addr_rx.recv().unwrap();
        let w1 = Workload {
            hosts: 1000,
            cpus: 10,
            start_ns: 0,
            step_ns: 10_000_000_000,
        };
        let bodies = Arc::new(workload::bodies(&w1, 25_000, 5000, false, 2));
        let bytes: u64 = bodies.iter().map(|b| b.data.len() as u64).sum();
        let target = HttpTarget {
            addr,
            host: addr.to_string(),
            path: "/write?db=bench".to_string(),
            authorization: None,
            gzip: false,
        };
        let limits = Limits {
            deadline: Duration::from_secs(60),
            rate: None,
        };
        let out = load::http(target, bodies, 3, 1, limits, || {}).unwrap();
        assert_eq!(
            (out.points_sent, out.points_ok, out.requests, out.non_2xx),
            (25_000, 25_000, 5, 0)
        );
        assert_eq!(out.ack_ns.len(), 5);
        assert_eq!(counters.requests.load(Ordering::Relaxed), 5);
        assert_eq!(counters.bytes.load(Ordering::Relaxed), bytes);
    }
}
