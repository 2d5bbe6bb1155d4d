//! The worker pool, through its public API: order, exclusivity, fairness,
//! timers, finishing and failure, with many tasks on few workers.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use host::{Input, Pool, TaskHandle, Unit};

/// What the test units did, across tasks, in order.
type Log = Arc<Mutex<Vec<String>>>;

/// Records each input's clock value; `busy` catches two workers in it at once.
struct Probe {
    name: &'static str,
    log: Log,
    busy: Arc<AtomicBool>,
    overlaps: Arc<AtomicUsize>,
    /// Sleeps this long per input, to be a hot task.
    work: Duration,
    /// Wants a run at this wall-clock time.
    due: Option<i64>,
    panic_at: Option<i64>,
}

impl Probe {
    fn new(name: &'static str, log: &Log) -> Self {
        Probe {
            name,
            log: log.clone(),
            busy: Arc::default(),
            overlaps: Arc::default(),
            work: Duration::ZERO,
            due: None,
            panic_at: None,
        }
    }

    fn note(&self, what: String) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{}:{what}", self.name));
    }
}

impl Unit for Probe {
    fn start(&mut self, _now: i64) {
        self.note("start".into());
    }

    fn tick(&mut self, now: i64) {
        if self.due.is_some_and(|d| now >= d) {
            self.due = None;
            self.note("timer".into());
        }
    }

    fn input(&mut self, input: Input) {
        if self.busy.swap(true, Ordering::SeqCst) {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        if let Input::AdvanceTo(t) = input {
            if self.panic_at == Some(t) {
                self.busy.store(false, Ordering::SeqCst);
                panic!("input {t} is poison");
            }
            std::thread::sleep(self.work);
            self.note(t.to_string());
        }
        self.busy.store(false, Ordering::SeqCst);
    }

    fn due(&self) -> Option<i64> {
        self.due
    }

    fn finish(&mut self) {
        self.note("finish".into());
    }
}

fn entries(log: &Log, prefix: &str) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with(prefix))
        .cloned()
        .collect()
}

fn close_and_wait(task: &TaskHandle) {
    task.close();
    assert!(task.wait(Duration::from_secs(10)), "{} ended", task.name());
}

#[test]
fn a_task_sees_its_input_in_order_on_one_worker_at_a_time() {
    let pool = Pool::new(4).unwrap();
    let log = Log::default();
    let probe = Probe::new("a", &log);
    let overlaps = probe.overlaps.clone();
    let task = pool.spawn("a", Box::new(probe), 1_000_000);
    for t in 0..5000 {
        task.send(Input::AdvanceTo(t)).unwrap();
    }
    close_and_wait(&task);
    let seen = entries(&log, "a:");
    let expected: Vec<String> = std::iter::once("a:start".to_string())
        .chain((0..5000).map(|t| format!("a:{t}")))
        .chain(std::iter::once("a:finish".to_string()))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(overlaps.load(Ordering::SeqCst), 0);
}

#[test]
fn a_hot_task_yields_so_others_are_served() {
    // One worker: the hot task's backlog takes ~200 ms; the quiet task's
    // one input must not wait for all of it.
    let pool = Pool::new(1).unwrap();
    let log = Log::default();
    let mut hot = Probe::new("hot", &log);
    hot.work = Duration::from_millis(1);
    let hot = pool.spawn("hot", Box::new(hot), 1_000_000);
    for t in 0..200 {
        hot.offer(Input::AdvanceTo(t));
    }
    let quiet = pool.spawn("quiet", Box::new(Probe::new("quiet", &log)), 10);
    quiet.offer(Input::AdvanceTo(7));
    close_and_wait(&quiet);
    close_and_wait(&hot);
    let order = log.lock().unwrap().clone();
    let quiet_at = order.iter().position(|l| l == "quiet:7").unwrap();
    let hot_done_before = order[..quiet_at]
        .iter()
        .filter(|l| l.starts_with("hot:") && l.as_str() != "hot:start")
        .count();
    assert!(
        hot_done_before < 50,
        "quiet waited for {hot_done_before} of hot's inputs"
    );
}

#[test]
fn a_timer_runs_an_idle_task() {
    let pool = Pool::new(2).unwrap();
    let log = Log::default();
    let mut probe = Probe::new("t", &log);
    probe.due = Some(host::wall_clock_ns() + 20_000_000);
    let task = pool.spawn("t", Box::new(probe), 10);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while entries(&log, "t:timer").is_empty() {
        assert!(std::time::Instant::now() < deadline, "the timer never came");
        std::thread::sleep(Duration::from_millis(5));
    }
    close_and_wait(&task);
}

#[test]
fn a_panicking_task_ends_alone_and_says_why() {
    let pool = Pool::new(1).unwrap();
    let log = Log::default();
    let mut bad = Probe::new("bad", &log);
    bad.panic_at = Some(2);
    let bad = pool.spawn("bad", Box::new(bad), 100);
    let good = pool.spawn("good", Box::new(Probe::new("good", &log)), 100);
    for t in 0..5 {
        bad.send(Input::AdvanceTo(t)).unwrap();
        good.send(Input::AdvanceTo(t)).unwrap();
    }
    assert!(bad.wait(Duration::from_secs(10)));
    assert!(bad.failure().unwrap().message.contains("input 2 is poison"));
    assert_eq!(
        bad.offer(Input::AdvanceTo(9)),
        0,
        "an ended task takes nothing"
    );
    close_and_wait(&good);
    assert_eq!(entries(&log, "good:").len(), 7, "start, 5 inputs, finish");
    assert_eq!(entries(&log, "bad:"), ["bad:start", "bad:0", "bad:1"]);
}

#[test]
fn a_failed_task_is_handed_to_the_hook_and_restarts_on_its_inbox() {
    let pool = Pool::new(2).unwrap();
    let (failed_tx, failed_rx) = std::sync::mpsc::channel::<TaskHandle>();
    let failed_tx = Mutex::new(failed_tx);
    pool.on_failure(move |task| {
        let _ = failed_tx.lock().unwrap().send(task);
    });
    let log = Log::default();
    let mut bad = Probe::new("bad", &log);
    bad.panic_at = Some(1);
    let task = pool.spawn("bad", Box::new(bad), 100);
    for t in 0..3 {
        // Refused once the task failed.
        let _ = task.send(Input::AdvanceTo(t));
    }
    let told = failed_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(told.same_task(&task));
    let failure = task.failure().unwrap();
    assert!(failure.message.contains("input 1 is poison"), "{failure:?}");
    assert_eq!(failure.node, None, "a probe has no nodes");
    assert_eq!(task.offer(Input::AdvanceTo(5)), 0, "refused while failed");
    let dropped = task.counts().dropped;

    assert!(task.restart(Box::new(Probe::new("again", &log))));
    assert!(
        !task.restart(Box::new(Probe::new("twice", &log))),
        "it runs"
    );
    assert_eq!(task.failure(), None);
    task.send(Input::AdvanceTo(7)).unwrap();
    close_and_wait(&task);
    assert_eq!(
        entries(&log, "again:"),
        ["again:start", "again:7", "again:finish"]
    );
    assert_eq!(task.counts().dropped, dropped, "nothing lost since");
    assert!(!task.restart(Box::new(Probe::new("late", &log))), "closed");
}

#[test]
fn ten_thousand_tasks_share_two_workers() {
    let pool = Pool::new(2).unwrap();
    let log = Log::default();
    let tasks: Vec<TaskHandle> = (0..10_000)
        .map(|i| {
            let t = pool.spawn(&format!("t{i}"), Box::new(Probe::new("x", &log)), 10);
            t.offer(Input::AdvanceTo(i));
            t
        })
        .collect();
    for t in &tasks {
        t.close();
    }
    for t in &tasks {
        assert!(t.wait(Duration::from_secs(30)));
    }
    assert_eq!(pool.workers(), 2);
    assert_eq!(entries(&log, "x:finish").len(), 10_000);
    assert_eq!(entries(&log, "x:start").len(), 10_000);
}

/// Waits in [`host::blocking`] until `release` is set, then notes its input.
struct Blocker {
    log: Log,
    release: Arc<AtomicBool>,
}

impl Unit for Blocker {
    fn start(&mut self, _now: i64) {}
    fn tick(&mut self, _now: i64) {}
    fn input(&mut self, _input: Input) {
        host::blocking(|| {
            while !self.release.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        self.log.lock().unwrap().push("blocker:done".into());
    }
    fn due(&self) -> Option<i64> {
        None
    }
    fn finish(&mut self) {}
}

#[test]
fn a_task_waiting_in_blocking_leaves_its_worker_to_the_others() {
    // One worker, held by a task that waits: the other task still runs.
    let pool = Pool::new(1).unwrap();
    let log = Log::default();
    let release = Arc::new(AtomicBool::new(false));
    let blocker = pool.spawn(
        "blocker",
        Box::new(Blocker {
            log: log.clone(),
            release: release.clone(),
        }),
        10,
    );
    blocker.offer(Input::AdvanceTo(1));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pool.threads() < 2 {
        assert!(std::time::Instant::now() < deadline, "no stand-in came");
        std::thread::sleep(Duration::from_millis(2));
    }
    let other = pool.spawn("other", Box::new(Probe::new("other", &log)), 10);
    other.offer(Input::AdvanceTo(5));
    close_and_wait(&other);
    assert_eq!(
        entries(&log, "blocker:"),
        Vec::<String>::new(),
        "still waiting"
    );
    release.store(true, Ordering::SeqCst);
    close_and_wait(&blocker);
    assert_eq!(entries(&log, "blocker:"), ["blocker:done"]);
    // The stand-in goes once it has lingered.
    while pool.threads() > 1 {
        assert!(std::time::Instant::now() < deadline, "the stand-in stayed");
        std::thread::sleep(Duration::from_millis(20));
    }
}
