//! Effects off the data path: what alert handlers, output nodes and the
//! alert-state writer do with what a task hands them. Each is an
//! [`EffectWorker`], a bounded queue that a task offers to without ever
//! waiting (what does not fit is refused, and the caller counts it) and an
//! async loop that empties it on the one [`runtime`] of the whole process:
//! a hundred tasks with three handlers each are three hundred small futures,
//! not three hundred threads.
//!
//! [`EffectWorker::close`] lets a worker finish what is queued until a
//! deadline and then abandons the rest, so an endpoint that never answers
//! cannot hold up disabling a task or stopping the daemon.

//!
//! Here: [`handlers`] (a script's `.post()`, `.tcp()`, `.log()`, `.exec()`
//! and the alert history), [`topics`] (alert topics and their handlers),
//! `action` (what a post, tcp, log or exec handler does, for both),
//! [`outputs`] (httpPost, influxDBOut), [`alert_states`] (alert state saved
//! to the store), [`endpoints`] (the config's named HTTP endpoints),
//! [`delay`] (how long events wait for a handler) and the HTTP client they
//! share. Not here: deciding what to
//! send (the nodes, in `pipeline`) and running tasks (`host`).

pub(crate) mod action;
pub mod alert_states;
pub mod delay;
pub mod endpoints;
pub mod handlers;
pub(crate) mod http_client;
pub mod outputs;
pub mod topics;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Threads of the effects runtime: effects wait on I/O, they do not compute.
const THREADS: usize = 2;
/// Most threads for blocking work (`.log()` files, host name lookups): the
/// daemon's thread count must not grow with its handlers.
const BLOCKING_THREADS: usize = 4;

/// The runtime every effect runs on, started on first use.
pub fn runtime() -> &'static tokio::runtime::Handle {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(THREADS)
                .max_blocking_threads(BLOCKING_THREADS)
                .thread_name("effects")
                .enable_all()
                .build()
                // Without it no handler or output could run: a failure at
                // start, as a port in use is.
                .unwrap_or_else(|e| panic!("cannot start the effects runtime: {e}"))
        })
        .handle()
}

/// Runs `future` on the effects runtime and waits, on the calling thread,
/// at most `timeout` for its result: for the few effects a task must wait
/// for (`httpPost().codeField()`). `None` when it took longer (the future
/// is then dropped). Safe to call from any thread, even a runtime's.
pub fn wait_for<T: Send + 'static>(
    timeout: Duration,
    future: impl Future<Output = T> + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let task = runtime().spawn(async move {
        let _ = tx.send(future.await);
    });
    let result = rx.recv_timeout(timeout).ok();
    if result.is_none() {
        task.abort();
    }
    result
}

/// What the loop of an [`EffectWorker`] reads from: the queued items, and
/// whether the worker is asked to stop (so it can give up retrying).
pub struct Inbox<T> {
    items: mpsc::Receiver<T>,
    pending: Arc<AtomicU64>,
    closing: CancellationToken,
}

impl<T> Inbox<T> {
    /// The next item; `None` once the worker is closed and nothing is left.
    pub async fn recv(&mut self) -> Option<T> {
        self.items.recv().await
    }

    /// The next item if one is queued now, without waiting: to gather a
    /// batch after [`Inbox::recv`].
    pub fn try_recv(&mut self) -> Option<T> {
        self.items.try_recv().ok()
    }

    /// Says that items of this total weight (see [`EffectWorker::offer`])
    /// are dealt with, delivered or not: they are no longer abandoned if
    /// the worker is stopped now.
    pub fn settled(&self, weight: u64) {
        settle(&self.pending, weight);
    }

    /// Sleeps `d`, or less when the worker is closed meanwhile; says
    /// whether it slept the whole time.
    pub async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(d) => true,
            () = self.closing.cancelled() => false,
        }
    }
}

/// Takes `weight` off `pending`, never below zero: a close may have
/// counted it abandoned already.
fn settle(pending: &AtomicU64, weight: u64) {
    let _ = pending.fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| {
        Some(p.saturating_sub(weight))
    });
}

/// A bounded queue emptied by an async loop on the effects [`runtime`].
pub struct EffectWorker<T> {
    queue: Mutex<Option<mpsc::Sender<T>>>,
    /// Weight offered and not yet settled: what a stop now would abandon.
    pending: Arc<AtomicU64>,
    closing: CancellationToken,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Dropped by the loop's future when it ends, whichever way.
    finished: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl<T: Send + 'static> EffectWorker<T> {
    /// A worker of `capacity` queued items whose loop is `run`.
    pub fn start<F>(capacity: usize, run: impl FnOnce(Inbox<T>) -> F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let pending = Arc::new(AtomicU64::new(0));
        let closing = CancellationToken::new();
        let inbox = Inbox {
            items: rx,
            pending: pending.clone(),
            closing: closing.clone(),
        };
        let (done, finished) = std::sync::mpsc::sync_channel::<()>(0);
        let work = run(inbox);
        let task = runtime().spawn(async move {
            let _done = done;
            work.await;
        });
        EffectWorker {
            queue: Mutex::new(Some(tx)),
            pending,
            closing,
            task: Mutex::new(Some(task)),
            finished: Mutex::new(Some(finished)),
        }
    }

    /// A worker that hands each item to `each`, one at a time, in order.
    pub fn each<F>(
        capacity: usize,
        weight: fn(&T) -> u64,
        mut each: impl FnMut(T) -> F + Send + 'static,
    ) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        EffectWorker::start(capacity, move |mut inbox| async move {
            while let Some(item) = inbox.recv().await {
                let w = weight(&item);
                each(item).await;
                inbox.settled(w);
            }
        })
    }

    /// Queues `item`, of `weight` (what a stop would count abandoned: 1, or
    /// its lines), without waiting: `Err(item)` when the queue is full or
    /// the worker closed.
    pub fn offer(&self, item: T, weight: u64) -> Result<(), T> {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = queue.as_ref() else {
            return Err(item);
        };
        self.pending.fetch_add(weight, Ordering::AcqRel);
        tx.try_send(item).map_err(|e| {
            settle(&self.pending, weight);
            match e {
                mpsc::error::TrySendError::Full(item) | mpsc::error::TrySendError::Closed(item) => {
                    item
                }
            }
        })
    }

    /// Whether the worker was closed (and takes nothing more).
    pub fn is_closed(&self) -> bool {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// Stops taking items and lets the loop finish what it holds until
    /// `deadline`; then abandons the rest. Never waits past `deadline`;
    /// returns the weight abandoned (0 when all was dealt with).
    pub fn close(&self, deadline: Instant) -> u64 {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.closing.cancel();
        let Some(finished) = self
            .finished
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return 0;
        };
        let wait = deadline.saturating_duration_since(Instant::now());
        match finished.recv_timeout(wait) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    // Dropping the loop's future drops what it was doing:
                    // a request in flight, a child (killed on drop).
                    task.abort();
                }
                self.pending.swap(0, Ordering::AcqRel)
            }
            _ => 0,
        }
    }
}

impl<T> Drop for EffectWorker<T> {
    fn drop(&mut self) {
        // Not closed: nothing waits, the loop ends once the queue is empty.
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_worker_finishes_its_queue() {
        let done = Arc::new(AtomicU64::new(0));
        let counting = done.clone();
        let worker = EffectWorker::each(
            10,
            |_: &u64| 1,
            move |n: u64| {
                let counting = counting.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    counting.fetch_add(n, Ordering::Relaxed);
                }
            },
        );
        for n in 1..=5 {
            worker.offer(n, 1).unwrap();
        }
        assert_eq!(worker.close(Instant::now() + Duration::from_secs(5)), 0);
        assert_eq!(done.load(Ordering::Relaxed), 15);
        assert!(worker.offer(6, 1).is_err(), "closed");
    }

    #[test]
    fn a_full_queue_refuses_and_a_stuck_worker_is_abandoned_at_the_deadline() {
        let worker = EffectWorker::each(2, |_: &u64| 1, |_| std::future::pending::<()>());
        // One in the loop (stuck), two queued, then full.
        let mut refused = 0;
        for n in 0..10 {
            if worker.offer(n, 1).is_err() {
                refused += 1;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(refused, 7);
        let start = Instant::now();
        assert_eq!(worker.close(start + Duration::from_millis(200)), 3);
        let took = start.elapsed();
        assert!(took < Duration::from_secs(1), "{took:?}");
    }

    #[test]
    fn waiting_gives_up_at_the_timeout() {
        assert_eq!(wait_for(Duration::from_secs(5), async { 7 }), Some(7));
        let start = Instant::now();
        assert_eq!(
            wait_for(Duration::from_millis(100), std::future::pending::<u8>()),
            None
        );
        assert!(start.elapsed() < Duration::from_secs(1));
    }
}
