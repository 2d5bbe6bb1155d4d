//! The runner: one task's DAG and the clock it runs on. The same runner
//! serves the live daemon (the wall clock) and `kapacitor test` and replays
//! (the data's own time).

use pipeline::build::StreamTask;
use pipeline::runtime::TaskDag;
use pipeline::{Message, PointBatch};

use crate::inbox::Input;
use crate::pool::Unit;

/// What a task's nodes count of themselves (groups held, alerts sent) is
/// brought up to date this often (ns) while the task is busy.
const GAUGES_EVERY: i64 = 1_000_000_000;

/// A task's DAG: fed points at its stream root, or batches at its query
/// nodes.
pub enum TaskKind {
    Stream(StreamTask),
    Batch(TaskDag),
}

impl TaskKind {
    pub fn dag(&self) -> &TaskDag {
        match self {
            TaskKind::Stream(t) => &t.dag,
            TaskKind::Batch(d) => d,
        }
    }

    fn dag_mut(&mut self) -> &mut TaskDag {
        match self {
            TaskKind::Stream(t) => &mut t.dag,
            TaskKind::Batch(d) => d,
        }
    }
}

/// Which clock a task's time-driven nodes (stats, deadman, barrier, idle
/// group expiry) follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMode {
    /// The wall clock: they are ticked as it moves, with or without data.
    Wall,
    /// The data's time, starting at this instant (ns): the clock reaches a
    /// point's time before the point is delivered, and moves on only with
    /// data or [`Input::AdvanceTo`].
    Data { start: i64 },
}

/// A task's DAG and its clock, run by the pool.
pub struct Runner {
    task: TaskKind,
    mode: ClockMode,
    /// On the data's clock: whether any node wanted a tick at the start,
    /// so points must reach the nodes one time at a time.
    timed: bool,
    /// The wall-clock time of the last run.
    now: i64,
    /// When the gauges are next brought up to date; `None` while nothing
    /// happened since they last were.
    gauges_due: Option<i64>,
    gauges_at: i64,
}

impl Runner {
    pub fn new(task: TaskKind, mode: ClockMode) -> Self {
        Runner {
            task,
            mode,
            timed: false,
            now: 0,
            gauges_due: None,
            gauges_at: i64::MIN,
        }
    }

    pub fn task(&self) -> &TaskKind {
        &self.task
    }

    /// Something happened: the gauges are due a second after they last
    /// were brought up to date.
    fn touched(&mut self) {
        if self.mode == ClockMode::Wall && self.gauges_due.is_none() {
            self.gauges_due = Some(self.gauges_at.saturating_add(GAUGES_EVERY).max(self.now));
        }
    }

    fn push_points(&mut self, batch: PointBatch) {
        let on_data_clock = matches!(self.mode, ClockMode::Data { .. }) && self.timed;
        match &mut self.task {
            TaskKind::Stream(task) if on_data_clock => {
                // One time at a time, the clock at that time first.
                let dbrp = batch.dbrp;
                let mut points = batch.points.into_iter().peekable();
                while let Some(first) = points.next() {
                    let time = first.time;
                    let mut run = vec![first];
                    while let Some(p) = points.next_if(|p| p.time == time) {
                        run.push(p);
                    }
                    advance_clock(&mut task.dag, time);
                    task.push_points(PointBatch {
                        dbrp: dbrp.clone(),
                        points: run,
                    });
                }
            }
            TaskKind::Stream(task) => task.push_points(batch),
            TaskKind::Batch(dag) => {
                for p in batch.points {
                    dag.push(Message::Point(p, pipeline::GroupKey::nil()));
                }
            }
        }
    }
}

impl Unit for Runner {
    fn start(&mut self, now: i64) {
        self.now = now;
        let start = match self.mode {
            ClockMode::Wall => now,
            ClockMode::Data { start } => start,
        };
        let dag = self.task.dag_mut();
        dag.start(start);
        self.timed = dag.next_tick().is_some();
        self.gauges_at = now;
    }

    fn tick(&mut self, now: i64) {
        self.now = now;
        if self.mode != ClockMode::Wall {
            return;
        }
        let dag = self.task.dag_mut();
        if let Some(due) = dag.next_tick() {
            // Also moves the clock that nodes read as data arrives.
            dag.tick(now);
            if due <= now {
                // A node acted on time (a group may have expired).
                self.touched();
            }
        }
        if self.gauges_due.is_some_and(|due| now >= due) {
            self.task.dag().refresh_gauges();
            self.gauges_due = None;
            self.gauges_at = now;
        }
    }

    fn input(&mut self, input: Input) {
        match input {
            Input::Points(batch) => self.push_points(batch),
            Input::Batch { node, batch } => {
                self.task.dag_mut().push_to(node, 0, Message::Batch(batch));
            }
            Input::AdvanceTo(time) => {
                if matches!(self.mode, ClockMode::Data { .. }) {
                    advance_clock(self.task.dag_mut(), time);
                }
            }
        }
        self.touched();
    }

    fn due(&self) -> Option<i64> {
        match self.mode {
            ClockMode::Wall => match (self.task.dag().next_tick(), self.gauges_due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            ClockMode::Data { .. } => None,
        }
    }

    fn finish(&mut self) {
        self.task.dag_mut().finish();
    }

    fn panicked_in(&self) -> Option<String> {
        let (name, _) = self.task.dag().running_node()?;
        Some(name.to_string())
    }
}

/// Moves a task's clock to `to`, ticking every node whose time comes on
/// the way, in time order.
pub(crate) fn advance_clock(dag: &mut TaskDag, to: i64) {
    while let Some(due) = dag.next_tick().filter(|&due| due <= to) {
        dag.tick(due);
    }
    dag.tick(to);
}
