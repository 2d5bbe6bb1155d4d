//! Lanes: where the handler kinds that only compute (`publish`,
//! `aggregate`) run. A task per handler would cost a wake-up per event and
//! handler; instead each topic's events go, in the order the topic
//! recorded them, to one of a few lanes (one per effects thread), each an
//! [`EffectWorker`] that, while events keep coming, takes what has queued
//! up every millisecond and hands each event to its inline handlers. A lane that falls behind
//! drops (counted against each handler the event was for); it never waits.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::Topics;
use super::handler::{Delivered, RunningHandler};
use crate::effects::EffectWorker;

/// Events a lane may have waiting.
const QUEUE: usize = 65_536;
/// How long a busy lane lets events gather before it takes them.
const GATHER: Duration = Duration::from_millis(1);
/// Events a lane handles before letting the runtime's other tasks run.
const BATCH: usize = 1024;

/// One event and the inline handlers it is for.
pub(crate) struct LaneItem {
    pub delivered: Arc<Delivered>,
    pub handlers: Vec<Arc<RunningHandler>>,
}

pub(crate) struct Lane {
    worker: EffectWorker<LaneItem>,
}

impl Lane {
    pub fn start(topics: Weak<Topics>) -> Lane {
        let worker = EffectWorker::start(QUEUE, move |mut inbox| async move {
            while let Some(item) = inbox.recv().await {
                let Some(topics) = topics.upgrade() else {
                    return;
                };
                run(&item, &topics);
                inbox.settled(1);
                // Under load, wake once per GATHER rather than once per
                // event (a wake-up costs more than handling the event);
                // idle, wait on the queue and cost nothing.
                loop {
                    inbox.sleep(GATHER).await;
                    let mut n = 0;
                    while let Some(item) = inbox.try_recv() {
                        run(&item, &topics);
                        inbox.settled(1);
                        n += 1;
                        if n % BATCH == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                    if n == 0 {
                        break;
                    }
                }
            }
        });
        Lane { worker }
    }

    /// Queues `item` without waiting; a full lane drops it, counted against
    /// each of its handlers.
    pub fn offer(&self, item: LaneItem) {
        for h in &item.handlers {
            h.counters.matched.fetch_add(1, Ordering::Relaxed);
        }
        if let Err(item) = self.worker.offer(item, 1) {
            for h in &item.handlers {
                h.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Lets the lane finish what it holds until `deadline`; returns what
    /// was abandoned.
    pub fn close(&self, deadline: Instant) -> u64 {
        self.worker.close(deadline)
    }
}

fn run(item: &LaneItem, topics: &Topics) {
    for h in &item.handlers {
        h.run_inline(&item.delivered, topics);
    }
}
