//! The worker pool: a fixed number of threads that run every task.
//!
//! Each task is a cell with a small state machine. Input (or a due timer)
//! moves an idle cell to the ready queue; a worker takes it, runs it for at
//! most one slice and then either parks it (idle, its next timer
//! registered) or, when work remains, puts it at the back of the queue so
//! the other tasks get their turn. A cell is on the ready queue at most
//! once and run by one worker at a time, so a task's input is processed in
//! the order it arrived. A panic inside a task ends that task only: its
//! inbox is emptied and refuses input (counted as dropped) until whoever
//! owns the task gives it a new unit ([`TaskHandle::restart`]), and the
//! pool's failure hook ([`Pool::on_failure`]) is told.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pipeline::{PointBatch, TaskInbox};

use crate::inbox::{Inbox, InboxCounts, Input};
use crate::wall_clock_ns;

/// What a worker runs: a task, driven by its inputs and its timer.
pub trait Unit: Send {
    /// The first run, before any input, at wall-clock time `now` (ns).
    fn start(&mut self, now: i64);
    /// Every later run begins here, with the wall-clock time: the unit does
    /// what its timers ask by `now`.
    fn tick(&mut self, now: i64);
    /// One input, in the order it was queued.
    fn input(&mut self, input: Input);
    /// When (wall clock, ns) the unit next wants to run without input;
    /// `None`: only when input comes.
    fn due(&self) -> Option<i64>;
    /// The input is over: emit what is still held.
    fn finish(&mut self);
    /// After a panic: the part of the unit that panicked (a task's node),
    /// when it knows.
    fn panicked_in(&self) -> Option<String> {
        None
    }
}

/// Why a task stopped: a panic, where it happened and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The part of the task that panicked (a node), when known.
    pub node: Option<String>,
    /// The panic's message.
    pub message: String,
    /// Wall clock, ns since the Unix epoch.
    pub at: i64,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.node {
            Some(node) => write!(f, "node {node} panicked: {}", self.message),
            None => write!(f, "task panicked: {}", self.message),
        }
    }
}

/// What [`Pool::on_failure`] calls, on the worker, when a task panicked.
type FailureHook = Box<dyn Fn(TaskHandle) + Send + Sync>;

/// How long one run of a task may go on while other tasks wait.
const SLICE: Duration = Duration::from_millis(2);
/// Points taken out of an inbox at once within a run.
const CHUNK_POINTS: usize = 4096;

const IDLE: u8 = 0;
const QUEUED: u8 = 1;
const RUNNING: u8 = 2;
/// Running, and new work came meanwhile: run again after this run.
const RUNNING_AGAIN: u8 = 3;
const DONE: u8 = 4;

/// No timer registered.
const NO_TIMER: i64 = i64::MAX;

struct Cell {
    name: String,
    inbox: Inbox,
    state: AtomicU8,
    /// Locked only by the worker running the cell (and once to finish).
    unit: Mutex<Slot>,
    /// The due time of the cell's registered timer; [`NO_TIMER`]: none.
    timer: AtomicI64,
    done: Mutex<Outcome>,
    finished: Condvar,
}

struct Slot {
    unit: Option<Box<dyn Unit>>,
    started: bool,
}

#[derive(Clone, Debug, Default)]
struct Outcome {
    done: bool,
    failure: Option<Failure>,
}

/// A timer: wake `cell` at `due`. Ordered by time, then by when it was set.
struct Timer {
    due: i64,
    seq: u64,
    cell: Arc<Cell>,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

#[derive(Default)]
struct Sched {
    ready: VecDeque<Arc<Cell>>,
    timers: BinaryHeap<Reverse<Timer>>,
    seq: u64,
    /// Workers waiting for work.
    idle: usize,
    /// Of those, the ones already woken and not yet back: a burst of work
    /// (a write for a thousand tasks) wakes each idle worker once, not once
    /// per task.
    woken: usize,
    /// Worker threads alive, stand-ins included.
    threads: usize,
    /// Workers inside [`blocking`], whose place a stand-in takes.
    blocked: usize,
    stop: bool,
}

struct Shared {
    sched: Mutex<Sched>,
    wake: Condvar,
    /// Workers the pool keeps free to run tasks.
    workers: usize,
    /// Stand-in threads stopped (they may still be exiting): joined on
    /// shutdown with the rest.
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Told of every task that panics.
    on_failure: std::sync::RwLock<Option<FailureHook>>,
}

/// How long [`Pool::shutdown`] waits for its workers.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

/// How long an extra thread waits for the next blocking task before it
/// ends.
const STAND_IN_LINGER: Duration = Duration::from_secs(1);

/// Stand-ins at most, whatever blocks: past this, a blocking task holds its
/// worker as any busy task does.
const MAX_STAND_INS: usize = 64;

thread_local! {
    /// The pool this thread works for, on worker threads.
    static POOL: std::cell::RefCell<Option<Arc<Shared>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `wait`, which blocks (a task waiting for an HTTP answer), without
/// taking a worker from the other tasks: on a pool worker, a stand-in
/// thread runs tasks meanwhile and goes away after. Elsewhere it just runs
/// `wait`.
pub fn blocking<R>(wait: impl FnOnce() -> R) -> R {
    let Some(shared) = POOL.with(|p| p.borrow().clone()) else {
        return wait();
    };
    {
        let mut sched = shared.lock();
        sched.blocked += 1;
        if sched.threads - sched.blocked < shared.workers
            && sched.threads < shared.workers + MAX_STAND_INS
        {
            sched.threads += 1;
            drop(sched);
            spawn_worker(&shared, "task stand-in");
        }
    }
    /// Counts the worker back when the wait ends, even by a panic.
    struct Back<'a>(&'a Shared);
    impl Drop for Back<'_> {
        fn drop(&mut self) {
            self.0.lock().blocked -= 1;
        }
    }
    let _back = Back(&shared);
    wait()
}

fn spawn_worker(shared: &Arc<Shared>, name: &str) {
    let pool = shared.clone();
    match std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || work(&pool))
    {
        Ok(handle) => {
            let mut threads = shared.threads.lock().unwrap_or_else(|e| e.into_inner());
            threads.retain(|t| !t.is_finished());
            threads.push(handle);
        }
        Err(e) => {
            tracing::warn!("cannot start a task worker: {e}");
            shared.lock().threads -= 1;
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Sched> {
        self.sched.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts the cell on the ready queue if it is idle; marks it to run
    /// again if it is running. Cheap when it is already queued.
    fn notify(&self, cell: &Arc<Cell>) {
        let mut state = cell.state.load(Ordering::Acquire);
        loop {
            let next = match state {
                IDLE => QUEUED,
                RUNNING => RUNNING_AGAIN,
                _ => return,
            };
            match cell
                .state
                .compare_exchange(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if next == QUEUED => {
                    let mut sched = self.lock();
                    self.enqueue(&mut sched, cell.clone());
                    return;
                }
                Ok(_) => return,
                Err(now) => state = now,
            }
        }
    }

    fn enqueue(&self, sched: &mut Sched, cell: Arc<Cell>) {
        sched.ready.push_back(cell);
        self.wake_one(sched);
    }

    /// Wakes an idle worker, unless every idle one is already woken.
    fn wake_one(&self, sched: &mut Sched) {
        if sched.idle > sched.woken {
            sched.woken += 1;
            self.wake.notify_one();
        }
    }

    /// Registers the cell's next timer, when it changed.
    fn set_timer(&self, cell: &Arc<Cell>, due: Option<i64>) {
        let due = due.unwrap_or(NO_TIMER);
        if cell.timer.swap(due, Ordering::AcqRel) == due || due == NO_TIMER {
            // Unchanged, or cleared: a timer left in the heap finds it no
            // longer matches and is skipped.
            return;
        }
        let mut sched = self.lock();
        sched.seq += 1;
        let seq = sched.seq;
        let earliest = sched.timers.peek().is_none_or(|t| due < t.0.due);
        sched.timers.push(Reverse(Timer {
            due,
            seq,
            cell: cell.clone(),
        }));
        if earliest {
            // A waiting worker may sleep past it: let it look again.
            self.wake_one(&mut sched);
        }
    }
}

/// The pool of workers that runs every task.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.workers.len())
            .finish()
    }
}

impl Pool {
    /// A pool of `workers` threads (at least one).
    pub fn new(workers: usize) -> std::io::Result<Self> {
        let workers = workers.max(1);
        let shared = Arc::new(Shared {
            sched: Mutex::new(Sched {
                threads: workers,
                ..Sched::default()
            }),
            wake: Condvar::new(),
            workers,
            threads: Mutex::default(),
            on_failure: std::sync::RwLock::default(),
        });
        let workers = (0..workers)
            .map(|i| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("task worker {i}"))
                    .spawn(move || work(&shared))
            })
            .collect::<Result<_, _>>()?;
        Ok(Pool { shared, workers })
    }

    /// Calls `hook`, on the worker, with each task that panics from now on
    /// (after it is marked failed): it should be quick, as handing the task
    /// to a thread that restarts it is.
    pub fn on_failure(&self, hook: impl Fn(TaskHandle) + Send + Sync + 'static) {
        *self
            .shared
            .on_failure
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(Box::new(hook));
    }

    /// How many worker threads run the tasks (not counting stand-ins).
    pub fn workers(&self) -> usize {
        self.shared.workers
    }

    /// Worker threads alive now, stand-ins for blocked workers included.
    pub fn threads(&self) -> usize {
        self.shared.lock().threads
    }

    /// Adds a task: `unit`, behind an inbox of `capacity` points. It starts
    /// on a worker at once.
    pub fn spawn(&self, name: &str, unit: Box<dyn Unit>, capacity: usize) -> TaskHandle {
        let cell = Arc::new(Cell {
            name: name.to_string(),
            inbox: Inbox::new(capacity),
            state: AtomicU8::new(IDLE),
            unit: Mutex::new(Slot {
                unit: Some(unit),
                started: false,
            }),
            timer: AtomicI64::new(NO_TIMER),
            done: Mutex::default(),
            finished: Condvar::new(),
        });
        self.shared.notify(&cell);
        TaskHandle {
            cell,
            shared: self.shared.clone(),
        }
    }

    /// Stops the workers once the ready queue is empty, waiting up to
    /// [`SHUTDOWN_WAIT`] for them. Tasks still open are not finished: close
    /// them first. A worker still blocked past that (a task waiting on an
    /// endpoint) is left to end on its own.
    pub fn shutdown(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        let mut threads: Vec<JoinHandle<()>> = self.workers.drain(..).collect();
        threads.append(
            &mut self
                .shared
                .threads
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        let deadline = Instant::now() + SHUTDOWN_WAIT;
        while threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let (done, blocked): (Vec<_>, Vec<_>) = threads.into_iter().partition(|t| t.is_finished());
        for t in done {
            let _ = t.join();
        }
        if !blocked.is_empty() {
            tracing::warn!(
                workers = blocked.len(),
                "task workers still blocked at shutdown; not waiting for them"
            );
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A task on the pool: its inbox, its fate, and the way to stop it.
#[derive(Clone)]
pub struct TaskHandle {
    cell: Arc<Cell>,
    shared: Arc<Shared>,
}

impl TaskHandle {
    /// Queues `input` if there is room, without waiting; returns the points
    /// accepted (the rest are counted as dropped).
    pub fn offer(&self, input: Input) -> usize {
        let n = self.cell.inbox.offer(input);
        self.shared.notify(&self.cell);
        n
    }

    /// Queues `input`, waiting for room (replays). `Err` when the task no
    /// longer takes input.
    pub fn send(&self, input: Input) -> Result<(), Input> {
        let sent = self.cell.inbox.send(input);
        self.shared.notify(&self.cell);
        sent
    }

    /// The task takes no more input; it processes what it holds, emits what
    /// its nodes keep ([`Unit::finish`]) and ends.
    pub fn close(&self) {
        self.cell.inbox.close();
        self.shared.notify(&self.cell);
    }

    /// Waits up to `timeout` for the task to end; whether it did.
    pub fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut outcome = self.cell.done.lock().unwrap_or_else(|e| e.into_inner());
        while !outcome.done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            outcome = self
                .cell
                .finished
                .wait_timeout(outcome, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Why the task stopped, when a panic stopped it (and it was not
    /// restarted since).
    pub fn failure(&self) -> Option<Failure> {
        self.cell
            .done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .failure
            .clone()
    }

    /// Gives a task that panicked a new unit to run, from its start, on the
    /// same inbox (which takes input again). `false`, and nothing changes,
    /// when the task did not fail or was closed since.
    pub fn restart(&self, unit: Box<dyn Unit>) -> bool {
        let mut slot = self.cell.unit.lock().unwrap_or_else(|e| e.into_inner());
        if slot.unit.is_some() || self.cell.inbox.is_closed() {
            return false;
        }
        {
            let mut outcome = self.cell.done.lock().unwrap_or_else(|e| e.into_inner());
            if !outcome.done || outcome.failure.is_none() {
                return false;
            }
            *outcome = Outcome::default();
        }
        *slot = Slot {
            unit: Some(unit),
            started: false,
        };
        drop(slot);
        self.cell.inbox.resume();
        self.cell.state.store(IDLE, Ordering::Release);
        self.shared.notify(&self.cell);
        true
    }

    /// Whether `other` is a handle to the same task (not a task restarted
    /// in its place under the same name).
    pub fn same_task(&self, other: &TaskHandle) -> bool {
        Arc::ptr_eq(&self.cell, &other.cell)
    }

    pub fn counts(&self) -> InboxCounts {
        self.cell.inbox.counts()
    }

    pub fn name(&self) -> &str {
        &self.cell.name
    }
}

impl TaskInbox for TaskHandle {
    fn offer(&self, batch: PointBatch) -> usize {
        TaskHandle::offer(self, Input::Points(batch))
    }

    fn room(&self) -> usize {
        self.cell.inbox.room()
    }

    fn push(&self, batch: PointBatch) -> usize {
        let n = self.cell.inbox.push(Input::Points(batch));
        self.shared.notify(&self.cell);
        n
    }
}

fn work(shared: &Arc<Shared>) {
    POOL.with(|p| *p.borrow_mut() = Some(shared.clone()));
    let mut inputs = Vec::new();
    let mut sched = shared.lock();
    loop {
        let now = wall_clock_ns();
        while sched.timers.peek().is_some_and(|t| t.0.due <= now) {
            let Some(Reverse(timer)) = sched.timers.pop() else {
                break;
            };
            if timer
                .cell
                .timer
                .compare_exchange(timer.due, NO_TIMER, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
                && timer
                    .cell
                    .state
                    .compare_exchange(IDLE, QUEUED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                sched.ready.push_back(timer.cell);
            }
        }
        if let Some(cell) = sched.ready.pop_front() {
            if !sched.ready.is_empty() {
                shared.wake_one(&mut sched);
            }
            drop(sched);
            run(shared, &cell, &mut inputs);
            sched = shared.lock();
            continue;
        }
        if sched.stop {
            return;
        }
        if sched.threads - sched.blocked > shared.workers {
            // One thread too many, now that a blocked worker is back: it
            // stays a while for the next wait, then goes.
            sched.idle += 1;
            let (s, waited) = shared
                .wake
                .wait_timeout(sched, STAND_IN_LINGER)
                .unwrap_or_else(|e| e.into_inner());
            sched = s;
            sched.idle -= 1;
            sched.woken = sched.woken.saturating_sub(1);
            if waited.timed_out()
                && sched.ready.is_empty()
                && sched.threads - sched.blocked > shared.workers
            {
                sched.threads -= 1;
                return;
            }
            continue;
        }
        sched.idle += 1;
        sched = match sched.timers.peek() {
            Some(t) => {
                let wait = Duration::from_nanos(u64::try_from(t.0.due - now).unwrap_or(0));
                shared
                    .wake
                    .wait_timeout(sched, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => shared.wake.wait(sched).unwrap_or_else(|e| e.into_inner()),
        };
        sched.idle -= 1;
        // Woken or timed out, it is back (a timeout may take the place of a
        // wake in flight: at worst one more wake later).
        sched.woken = sched.woken.saturating_sub(1);
    }
}

/// What became of one run.
enum Step {
    /// Out of work: park until input or the timer.
    Idle,
    /// The slice is used up with work left.
    Yield,
    /// The inbox is closed and drained, and the unit finished.
    Finished,
}

/// Runs a ready cell for one slice.
fn run(shared: &Arc<Shared>, cell: &Arc<Cell>, inputs: &mut Vec<Input>) {
    cell.state.store(RUNNING, Ordering::Release);
    let mut slot = cell.unit.lock().unwrap_or_else(|e| e.into_inner());
    let Slot { unit, started } = &mut *slot;
    let Some(task) = unit.as_mut() else {
        cell.state.store(DONE, Ordering::Release);
        return;
    };
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let now = wall_clock_ns();
        if *started {
            task.tick(now);
        } else {
            task.start(now);
            *started = true;
        }
        let deadline = Instant::now() + SLICE;
        loop {
            inputs.clear();
            let (taken, drained) = cell.inbox.take(CHUNK_POINTS, inputs);
            if taken == 0 {
                if drained {
                    task.finish();
                    return Step::Finished;
                }
                return Step::Idle;
            }
            let mut taken = inputs.drain(..);
            for input in taken.by_ref() {
                task.input(input);
                if Instant::now() >= deadline {
                    let mut rest: Vec<Input> = taken.collect();
                    cell.inbox.put_back(&mut rest);
                    return Step::Yield;
                }
            }
        }
    }));
    let step = match outcome {
        Ok(step) => step,
        Err(panic) => {
            inputs.clear();
            let failure = Failure {
                node: task.panicked_in(),
                message: panic_message(panic.as_ref()),
                at: wall_clock_ns(),
            };
            tracing::error!(
                task = %cell.name,
                node = failure.node.as_deref().unwrap_or(""),
                "task stopped by a panic: {}",
                failure.message
            );
            cell.inbox.suspend();
            let dead = unit.take();
            drop(slot);
            // A DAG left half-changed by the panic may panic again as it
            // is dropped: that must not take the worker with it.
            let _ = std::panic::catch_unwind(AssertUnwindSafe(move || drop(dead)));
            end(cell, Some(failure));
            tell_failure(shared, cell);
            return;
        }
    };
    match step {
        Step::Finished => {
            *unit = None;
            drop(slot);
            end(cell, None);
        }
        Step::Yield => {
            let due = task.due();
            drop(slot);
            shared.set_timer(cell, due);
            cell.state.store(QUEUED, Ordering::Release);
            let mut sched = shared.lock();
            shared.enqueue(&mut sched, cell.clone());
        }
        Step::Idle => {
            let due = task.due();
            drop(slot);
            shared.set_timer(cell, due);
            if cell
                .state
                .compare_exchange(RUNNING, IDLE, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // Work came while it ran (RUNNING_AGAIN): input offered
                // after the last take, or the inbox closed. Work offered
                // once it is idle queues it as usual.
                cell.state.store(QUEUED, Ordering::Release);
                let mut sched = shared.lock();
                shared.enqueue(&mut sched, cell.clone());
            }
        }
    }
}

/// Hands a task that panicked to the pool's failure hook, if any.
fn tell_failure(shared: &Arc<Shared>, cell: &Arc<Cell>) {
    let hook = shared.on_failure.read().unwrap_or_else(|e| e.into_inner());
    if let Some(hook) = hook.as_ref() {
        hook(TaskHandle {
            cell: cell.clone(),
            shared: shared.clone(),
        });
    }
}

/// Marks the cell ended, with why when it failed, and wakes its waiters.
fn end(cell: &Cell, failure: Option<Failure>) {
    cell.state.store(DONE, Ordering::Release);
    cell.timer.store(NO_TIMER, Ordering::Release);
    let mut outcome = cell.done.lock().unwrap_or_else(|e| e.into_inner());
    outcome.done = true;
    outcome.failure = failure;
    cell.finished.notify_all();
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}
