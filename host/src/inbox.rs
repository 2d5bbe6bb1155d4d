//! A task's inbox: what waits for the task, bounded in points (not in
//! messages), so a task's backlog costs at most a known amount of memory
//! whatever the size of the writes that fill it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use pipeline::{Batch, PointBatch};

/// One piece of work for a task.
#[derive(Debug)]
pub enum Input {
    /// Points the router sent a stream task (or a replay feeds it).
    Points(PointBatch),
    /// A batch for node `node` (a batch task's query node), as from its
    /// first parent.
    Batch { node: usize, batch: Batch },
    /// Moves a task on the data's clock to this time (ns): what its timers
    /// would have done by then, they do. Ignored on the wall clock.
    AdvanceTo(i64),
}

impl Input {
    /// What the input counts against the inbox's bound: its points, and at
    /// least one so that empty inputs are bounded too.
    pub fn weight(&self) -> usize {
        match self {
            Input::Points(b) => b.points.len().max(1),
            Input::Batch { batch, .. } => batch.points.len().max(1),
            Input::AdvanceTo(_) => 1,
        }
    }
}

/// Points an inbox accepted and refused since it was made, and what it
/// holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InboxCounts {
    pub received: u64,
    pub dropped: u64,
    pub queued: u64,
}

#[derive(Default)]
struct Queue {
    inputs: VecDeque<Input>,
    /// The summed weight of `inputs`.
    points: usize,
    closed: bool,
    /// The task failed and waits to be restarted: input is refused and
    /// counted as dropped, and nobody waits for room.
    suspended: bool,
    /// Senders blocked in [`Inbox::send`], waiting for room.
    waiting: usize,
}

/// The bounded queue in front of a task.
pub struct Inbox {
    queue: Mutex<Queue>,
    room: Condvar,
    capacity: usize,
    received: AtomicU64,
    dropped: AtomicU64,
}

impl Inbox {
    /// An inbox that holds at most `capacity` points; one input larger than
    /// that is still taken when the inbox is empty, so no write is too big
    /// to ever get in.
    pub fn new(capacity: usize) -> Self {
        Inbox {
            queue: Mutex::default(),
            room: Condvar::new(),
            capacity: capacity.max(1),
            received: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fits(&self, q: &Queue, weight: usize) -> bool {
        q.points == 0 || q.points.saturating_add(weight) <= self.capacity
    }

    /// Queues `input` if there is room, without waiting; a full or closed
    /// inbox refuses it, and its points are counted as dropped. Returns the
    /// points accepted.
    pub fn offer(&self, input: Input) -> usize {
        self.enqueue(input, true)
    }

    /// Queues `input` unless closed, or (`bounded`) full; counts it as
    /// received or dropped. Returns the points accepted.
    fn enqueue(&self, input: Input, bounded: bool) -> usize {
        let weight = input.weight();
        let points = points_of(&input);
        let mut q = self.lock();
        if q.closed || q.suspended || (bounded && !self.fits(&q, weight)) {
            drop(q);
            self.dropped.fetch_add(points as u64, Ordering::Relaxed);
            return 0;
        }
        q.points += weight;
        q.inputs.push_back(input);
        drop(q);
        self.received.fetch_add(points as u64, Ordering::Relaxed);
        points
    }

    /// Points it can take now: any number when empty (one input larger than
    /// the bound still gets in), else what is left of the bound.
    pub fn room(&self) -> usize {
        let q = self.lock();
        if q.closed {
            0
        } else if q.points == 0 || q.suspended {
            // A suspended task holds no writer up: what it is given is
            // dropped and counted.
            usize::MAX
        } else {
            self.capacity.saturating_sub(q.points)
        }
    }

    /// Queues `input` whatever it holds, unless closed: for a write whose
    /// room was checked just before ([`Inbox::room`]), so that a concurrent
    /// write taking that room meanwhile goes over the bound by at most its
    /// own size instead of being dropped after it was promised.
    pub fn push(&self, input: Input) -> usize {
        self.enqueue(input, false)
    }

    /// Queues `input`, waiting for room as long as it takes: for replays,
    /// which go as fast as the task does and lose nothing. `Err` gives it
    /// back when the inbox is closed.
    pub fn send(&self, input: Input) -> Result<(), Input> {
        let weight = input.weight();
        let points = points_of(&input);
        let mut q = self.lock();
        while !q.closed && !q.suspended && !self.fits(&q, weight) {
            q.waiting += 1;
            q = self.room.wait(q).unwrap_or_else(|e| e.into_inner());
            q.waiting -= 1;
        }
        if q.closed || q.suspended {
            return Err(input);
        }
        q.points += weight;
        q.inputs.push_back(input);
        drop(q);
        self.received.fetch_add(points as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Moves inputs into `into` until about `budget` points are taken (at
    /// least one input, when there is one); returns the points taken, and
    /// whether the inbox is now closed and empty (so a worker finding
    /// nothing knows in the same lock whether the task is over).
    pub(crate) fn take(&self, budget: usize, into: &mut Vec<Input>) -> (usize, bool) {
        let mut q = self.lock();
        let mut taken = 0;
        while taken < budget
            && let Some(input) = q.inputs.pop_front()
        {
            taken += input.weight();
            into.push(input);
        }
        q.points -= taken;
        if q.waiting > 0 && taken > 0 {
            self.room.notify_all();
        }
        (taken, q.closed && q.inputs.is_empty())
    }

    /// Puts inputs taken but not processed back at the front, in order.
    pub(crate) fn put_back(&self, inputs: &mut Vec<Input>) {
        let mut q = self.lock();
        for input in inputs.drain(..).rev() {
            q.points += input.weight();
            q.inputs.push_front(input);
        }
    }

    /// Takes no more input; what is queued is still processed. Senders
    /// waiting for room get their input back.
    pub fn close(&self) {
        let mut q = self.lock();
        q.closed = true;
        if q.waiting > 0 {
            self.room.notify_all();
        }
    }

    /// Throws away what it holds, counting its points as dropped, and
    /// refuses input (dropped and counted too) until [`Inbox::resume`]: a
    /// task that failed, waiting to be restarted. Senders waiting for room
    /// get their input back.
    pub(crate) fn suspend(&self) {
        let mut q = self.lock();
        q.suspended = true;
        let lost: usize = q.inputs.drain(..).map(|i| points_of(&i)).sum();
        q.points = 0;
        if q.waiting > 0 {
            self.room.notify_all();
        }
        drop(q);
        self.dropped.fetch_add(lost as u64, Ordering::Relaxed);
    }

    /// Takes input again after [`Inbox::suspend`].
    pub(crate) fn resume(&self) {
        self.lock().suspended = false;
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub fn counts(&self) -> InboxCounts {
        let queued = self.lock().points as u64;
        InboxCounts {
            received: self.received.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            queued,
        }
    }
}

/// The points an input carries (what received and dropped count).
fn points_of(input: &Input) -> usize {
    match input {
        Input::Points(b) => b.points.len(),
        Input::Batch { batch, .. } => batch.points.len(),
        Input::AdvanceTo(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use pipeline::{DbRp, FieldValue, Fields, Point, Series};

    fn points(n: usize) -> Input {
        let series = Arc::new(Series::new("cpu".into(), vec![]).unwrap());
        let p = Point {
            series,
            fields: Fields::from_pairs([("v".into(), FieldValue::Float(1.0))]),
            time: 1,
        };
        Input::Points(PointBatch {
            dbrp: DbRp::new("db", "rp"),
            points: vec![p; n],
        })
    }

    #[test]
    fn bounded_in_points_not_in_inputs() {
        let inbox = Inbox::new(10);
        assert_eq!(inbox.offer(points(6)), 6);
        assert_eq!(inbox.offer(points(5)), 0, "6 + 5 is over 10");
        assert_eq!(inbox.offer(points(4)), 4);
        assert_eq!(
            inbox.counts(),
            InboxCounts {
                received: 10,
                dropped: 5,
                queued: 10
            }
        );
        let mut out = Vec::new();
        assert_eq!(inbox.take(1, &mut out), (6, false), "at least one input");
        assert_eq!(inbox.counts().queued, 4);
    }

    #[test]
    fn an_empty_inbox_takes_one_input_larger_than_its_bound() {
        let inbox = Inbox::new(10);
        assert_eq!(inbox.offer(points(50)), 50);
        assert_eq!(inbox.offer(points(1)), 0);
    }

    #[test]
    fn send_waits_for_room_and_close_gives_the_input_back() {
        let inbox = Arc::new(Inbox::new(4));
        inbox.send(points(4)).unwrap();
        let sender = std::thread::spawn({
            let inbox = inbox.clone();
            move || inbox.send(points(3)).is_ok()
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(inbox.counts().queued, 4, "the sender waits");
        let mut out = Vec::new();
        inbox.take(100, &mut out);
        assert!(sender.join().unwrap());
        assert_eq!(inbox.counts().queued, 3);
        inbox.send(points(1)).unwrap();
        let blocked = std::thread::spawn({
            let inbox = inbox.clone();
            move || inbox.send(points(3)).is_err()
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        inbox.close();
        assert!(blocked.join().unwrap(), "closing hands it back");
        assert_eq!(inbox.offer(points(1)), 0);
    }

    #[test]
    fn a_suspended_inbox_drops_and_counts_and_holds_no_writer_up() {
        let inbox = Inbox::new(100);
        inbox.offer(points(7));
        inbox.suspend();
        assert_eq!(inbox.counts().dropped, 7);
        assert_eq!(inbox.take(10, &mut Vec::new()), (0, false), "empty, open");
        assert_eq!(inbox.room(), usize::MAX, "a writer never waits for it");
        assert_eq!(inbox.push(points(3)), 0);
        assert!(inbox.send(points(1)).is_err(), "given back, not counted");
        assert_eq!(inbox.counts().dropped, 10);
        inbox.resume();
        assert_eq!(inbox.offer(points(2)), 2);
        assert_eq!(inbox.counts().received, 9);
    }
}
