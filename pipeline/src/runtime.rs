//! The DAG runtime of one task: nodes built from a plan, run synchronously
//! in the order messages flow, with per-node counters.
//!
//! A message handed to the task goes to a node, whose output goes to each of
//! its children in turn (depth first), so a point crosses the whole pipeline
//! before the next one enters. Along a chain (a node with one child, which
//! has no other parent) a node's whole output goes on at once: the order
//! every node sees is the same, and the per-message overhead is paid once
//! per write rather than once per point and node. `.parallelism(n)` gives a node n instances,
//! each owning the groups whose hash falls to it, so results do not depend on
//! n.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;

use crate::batch::Message;
use crate::node::{Node, NodeError, Prefetch};

/// Counters of one node, shared with whoever shows status.
#[derive(Debug, Default)]
pub struct NodeStats {
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    errors: AtomicU64,
    /// Time spent inside the node over the timed messages, and how many
    /// were timed: one message in [`TIMING_SAMPLE`], since reading the clock
    /// for every message would cost more than most nodes' work.
    busy_ns: AtomicU64,
    timed: AtomicU64,
    /// Groups held, as of the last [`TaskDag::refresh_gauges`].
    groups: AtomicU64,
    /// Alert events by level as of then, when the node alerts.
    alerts: Option<[AtomicU64; 4]>,
    /// The outputs of an output node's instances, whose counters are read
    /// when status is shown (their deliveries happen off the task).
    outputs: Outputs,
}

/// An output node's outputs; empty for the other nodes.
#[derive(Default)]
struct Outputs(Vec<Arc<dyn crate::output::Output>>);

impl std::fmt::Debug for Outputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} outputs", self.0.len())
    }
}

impl Outputs {
    fn counts(&self) -> Option<crate::output::OutputCounts> {
        if self.0.is_empty() {
            return None;
        }
        let mut sum = crate::output::OutputCounts::default();
        for c in self.0.iter().map(|o| o.counts()) {
            sum.written += c.written;
            sum.failed += c.failed;
            sum.dropped += c.dropped;
            sum.retried += c.retried;
        }
        Some(sum)
    }
}

/// Messages fed to a task's root at once (see [`TaskDag::push_all`]).
const RUN: usize = 128;

/// How many messages ahead of the one it processes a node is told of
/// ([`Node::prefetch`]), for each stage: far enough that memory answers in
/// time, near enough that what it brings is still cached when used.
const TABLE_AHEAD: usize = 32;
const STATE_AHEAD: usize = 16;

/// One message in this many is timed for the average execution time.
const TIMING_SAMPLE: u64 = 64;

/// A point-in-time copy of [`NodeStats`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NodeStatsSnapshot {
    pub name: String,
    pub kind: String,
    pub messages_in: u64,
    pub messages_out: u64,
    pub errors: u64,
    pub avg_exec_ns: u64,
    pub groups: u64,
    /// Events an alerting node sent, by level, named as Kapacitor names
    /// them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertsTriggered>,
    /// What an output node (httpPost, influxDBOut) delivered, failed to
    /// and dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<crate::output::OutputCounts>,
}

/// An alerting node's events by level.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AlertsTriggered {
    pub alerts_triggered: u64,
    pub oks_triggered: u64,
    pub infos_triggered: u64,
    pub warns_triggered: u64,
    pub crits_triggered: u64,
}

impl NodeStats {
    /// Counters for a node; `alerting` when it sends alert events,
    /// `outputs` (one per instance) when it delivers somewhere.
    pub fn new(alerting: bool, outputs: Vec<Arc<dyn crate::output::Output>>) -> Self {
        NodeStats {
            alerts: alerting.then(Default::default),
            outputs: Outputs(outputs),
            ..NodeStats::default()
        }
    }

    pub fn snapshot(&self, name: &str, kind: &str) -> NodeStatsSnapshot {
        let messages_in = self.messages_in.load(Ordering::Relaxed);
        let busy = self.busy_ns.load(Ordering::Relaxed);
        let timed = self.timed.load(Ordering::Relaxed);
        NodeStatsSnapshot {
            name: name.to_string(),
            kind: kind.to_string(),
            messages_in,
            messages_out: self.messages_out.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            avg_exec_ns: busy.checked_div(timed).unwrap_or(0),
            groups: self.groups.load(Ordering::Relaxed),
            alerts: self.alerts.as_ref().map(|a| {
                let [ok, info, warn, crit] = a.each_ref().map(|n| n.load(Ordering::Relaxed));
                AlertsTriggered {
                    alerts_triggered: ok + info + warn + crit,
                    oks_triggered: ok,
                    infos_triggered: info,
                    warns_triggered: warn,
                    crits_triggered: crit,
                }
            }),
            output: self.outputs.counts(),
        }
    }
}

/// The task's clock as its nodes read it (ns): the wall clock in the
/// daemon, the replay's clock in `kapacitor test`. Whoever drives the task
/// moves it ([`TaskDag::start`], [`TaskDag::tick`]); nodes that time groups
/// out (a barrier's idle timer) read it when data arrives.
#[derive(Clone, Debug, Default)]
pub struct Clock(Arc<AtomicI64>);

impl Clock {
    pub fn now(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, now: i64) {
        self.0.store(now, Ordering::Relaxed);
    }
}

/// One node of the running DAG with everything the executor needs.
pub struct RunNode {
    pub name: String,
    pub kind: String,
    /// One per `.parallelism(n)` instance; at least one.
    pub instances: Vec<Box<dyn Node>>,
    /// Children as (node index, this node's position among the child's parents).
    pub children: Vec<(usize, usize)>,
    pub stats: Arc<NodeStats>,
    /// Shard parallel instances by these group tags only, not the whole
    /// group: a join `.on('host')` pairs groups that differ in other tags,
    /// so both sides must reach the same instance.
    pub shard_on: Option<Vec<crate::point::Name>>,
}

/// A task's running DAG.
pub struct TaskDag {
    nodes: Vec<RunNode>,
    /// Reused output buffers, one per node, so steady state allocates nothing.
    buffers: Vec<Vec<Message>>,
    /// The reused run of messages fed to the root.
    run: Vec<Message>,
    /// Per node: its only child, when that child has no other parent.
    chain: Vec<Option<(usize, usize)>>,
    last_error: Option<(String, NodeError)>,
    /// Node instances that asked to be ticked: (node, instance, when).
    timers: Vec<(usize, usize, i64)>,
    clock: Clock,
    /// The node running now, if any: after a panic, the node that panicked.
    running: Option<usize>,
}

impl TaskDag {
    /// A DAG from nodes indexed as in the plan (node 0 is the root).
    pub fn new(nodes: Vec<RunNode>) -> Self {
        let buffers = nodes.iter().map(|_| Vec::new()).collect();
        let mut parents = vec![0usize; nodes.len()];
        for n in &nodes {
            for &(child, _) in &n.children {
                if let Some(p) = parents.get_mut(child) {
                    *p += 1;
                }
            }
        }
        let chain = nodes
            .iter()
            .map(|n| match n.children[..] {
                [(child, parent)] if parents.get(child) == Some(&1) => Some((child, parent)),
                _ => None,
            })
            .collect();
        TaskDag {
            nodes,
            buffers,
            run: Vec::new(),
            chain,
            last_error: None,
            timers: Vec::new(),
            clock: Clock::default(),
            running: None,
        }
    }

    /// The node (name, kind) that was running when the task stopped
    /// midway: after a panic, the one that panicked.
    pub fn running_node(&self) -> Option<(&str, &str)> {
        let node = self.nodes.get(self.running?)?;
        Some((&node.name, &node.kind))
    }

    /// The DAG, its nodes reading `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Starts the task's clock at `now` (ns): every node is ticked once and
    /// says when it next wants to be (see [`Node::tick`]).
    pub fn start(&mut self, now: i64) {
        self.clock.set(now);
        self.timers.clear();
        for id in 0..self.nodes.len() {
            for instance in 0..self.nodes[id].instances.len() {
                if let Some(due) = self.tick_one(id, instance, now) {
                    self.timers.push((id, instance, due));
                }
            }
        }
    }

    /// When the next node wants its tick; `None` when no node does, which
    /// is when a task needs no clock at all.
    pub fn next_tick(&self) -> Option<i64> {
        self.timers.iter().map(|&(_, _, due)| due).min()
    }

    /// Ticks every node whose time has come, parents before children, and
    /// passes on what they emit.
    pub fn tick(&mut self, now: i64) {
        self.clock.set(now);
        let mut done = false;
        for i in 0..self.timers.len() {
            let (id, instance, due) = self.timers[i];
            if due > now {
                continue;
            }
            match self.tick_one(id, instance, now) {
                Some(next) => self.timers[i].2 = next,
                None => {
                    self.timers[i].2 = i64::MIN;
                    done = true;
                }
            }
        }
        if done {
            self.timers.retain(|&(_, _, due)| due != i64::MIN);
        }
    }

    /// Ticks one node instance and forwards its output; when it next wants
    /// a tick, always after `now` so a clock driven in steps moves on.
    fn tick_one(&mut self, id: usize, instance: usize, now: i64) -> Option<i64> {
        let mut out = std::mem::take(&mut self.buffers[id]);
        self.running = Some(id);
        let due = self.nodes[id].instances[instance].tick(now, &mut out);
        self.running = None;
        self.forward(id, &mut out);
        self.buffers[id] = out;
        due.map(|due| due.max(now.saturating_add(1)))
    }

    /// Feeds messages to the root, in order, a run of [`RUN`] at a time:
    /// enough to pay the per-message overhead once per run, few enough that
    /// the run stays in cache from node to node. Taking an iterator lets a
    /// caller turn its points into messages as they go in, rather than all
    /// of a write first.
    pub fn push_all(&mut self, msgs: impl IntoIterator<Item = Message>) {
        let mut run = std::mem::take(&mut self.run);
        let mut msgs = msgs.into_iter();
        loop {
            run.extend(msgs.by_ref().take(RUN));
            if run.is_empty() {
                break;
            }
            self.deliver_all(0, 0, &mut run);
            // Nodes normally drain it; a run left over is not fed twice.
            run.clear();
        }
        self.run = run;
    }

    /// Feeds a message to the root.
    pub fn push(&mut self, msg: Message) {
        self.deliver(0, 0, msg);
    }

    /// Feeds a message to node `id` as if from its parent number `parent`
    /// (replays feed a batch task's query nodes this way).
    pub fn push_to(&mut self, id: usize, parent: usize, msg: Message) {
        if id < self.nodes.len() {
            self.deliver(id, parent, msg);
        }
    }

    /// Lets every node emit what it still holds, parents before children.
    pub fn finish(&mut self) {
        self.refresh_gauges();
        for id in 0..self.nodes.len() {
            let mut out = std::mem::take(&mut self.buffers[id]);
            self.running = Some(id);
            for instance in &mut self.nodes[id].instances {
                instance.finish(&mut out);
            }
            self.running = None;
            self.forward(id, &mut out);
            self.buffers[id] = out;
        }
    }

    /// Updates what the nodes count themselves in their counters (groups
    /// held, alerts sent), asking every instance: for a status view, now
    /// and then, not per point.
    pub fn refresh_gauges(&self) {
        for node in &self.nodes {
            let groups: usize = node.instances.iter().map(|i| i.groups()).sum();
            node.stats.groups.store(groups as u64, Ordering::Relaxed);
            if let Some(alerts) = &node.stats.alerts {
                let mut sum = [0; 4];
                for counts in node.instances.iter().filter_map(|i| i.alerts_triggered()) {
                    for (s, c) in sum.iter_mut().zip(counts) {
                        *s += c;
                    }
                }
                for (a, s) in alerts.iter().zip(sum) {
                    a.store(s, Ordering::Relaxed);
                }
            }
        }
    }

    /// Counters of every node, in plan order.
    pub fn stats(&self) -> Vec<NodeStatsSnapshot> {
        self.nodes
            .iter()
            .map(|n| n.stats.snapshot(&n.name, &n.kind))
            .collect()
    }

    /// Shared handles to the counters, for a status view that outlives a borrow.
    pub fn stats_handles(&self) -> Vec<(String, String, Arc<NodeStats>)> {
        self.nodes
            .iter()
            .map(|n| (n.name.clone(), n.kind.clone(), n.stats.clone()))
            .collect()
    }

    /// The most recent error a node reported, with the node's name.
    pub fn last_error(&self) -> Option<&(String, NodeError)> {
        self.last_error.as_ref()
    }

    fn deliver(&mut self, id: usize, parent: usize, msg: Message) {
        let mut out = std::mem::take(&mut self.buffers[id]);
        self.dispatch(id, parent, msg, &mut out);
        self.forward(id, &mut out);
        self.buffers[id] = out;
    }

    /// Like [`TaskDag::deliver`] for several messages: all go through the
    /// node before its output moves on.
    fn deliver_all(&mut self, id: usize, parent: usize, msgs: &mut Vec<Message>) {
        let mut out = std::mem::take(&mut self.buffers[id]);
        if self.nodes[id].instances.len() == 1 {
            self.run_all(id, parent, msgs, &mut out);
        } else {
            for msg in msgs.drain(..) {
                self.dispatch(id, parent, msg, &mut out);
            }
        }
        self.forward(id, &mut out);
        self.buffers[id] = out;
    }

    /// Runs the messages on a node's only instance, the hot path: counters
    /// are updated once per run, the clock read for one run in
    /// [`TIMING_SAMPLE`] messages, and the node told of what comes next
    /// ([`Node::prefetch`]). A node that edits in place keeps the messages
    /// where they are ([`Node::edit`]).
    fn run_all(
        &mut self,
        id: usize,
        parent: usize,
        msgs: &mut Vec<Message>,
        out: &mut Vec<Message>,
    ) {
        self.running = Some(id);
        let node = &mut self.nodes[id];
        #[cfg(debug_assertions)]
        if id > 0 {
            crate::failpoint::check(&node.name, &node.kind, msgs);
        }
        let stats = &node.stats;
        let instance = &mut node.instances[0];
        let count = msgs.len() as u64;
        let seen = add(&stats.messages_in, count);
        if instance.passes_through() {
            hand_over(msgs, out);
            self.running = None;
            return;
        }
        // Timed when the run holds message number 0, 64, 128, …: as with
        // one message at a time, the first is timed, so a quiet node shows
        // a time as soon as it has seen anything.
        let timed = seen.next_multiple_of(TIMING_SAMPLE) < seen + count;
        let started = timed.then(Instant::now);
        let (mut errors, mut last_error) = (0, None);
        for ahead in msgs.iter().take(TABLE_AHEAD) {
            instance.prefetch(ahead, Prefetch::Table);
        }
        if instance.edits_in_place() {
            let mut kept = 0;
            for i in 0..msgs.len() {
                prefetch_ahead(instance.as_ref(), &msgs[i + 1..]);
                let (keep, result) = instance.edit(&mut msgs[i]);
                if keep {
                    if kept != i {
                        msgs.swap(kept, i);
                    }
                    kept += 1;
                }
                if let Err(e) = result {
                    errors += 1;
                    last_error = Some(e);
                }
            }
            msgs.truncate(kept);
            hand_over(msgs, out);
        } else {
            let mut drain = msgs.drain(..);
            while let Some(msg) = drain.next() {
                prefetch_ahead(instance.as_ref(), drain.as_slice());
                if let Err(e) = instance.process_from(parent, msg, out) {
                    errors += 1;
                    last_error = Some(e);
                }
            }
        }
        self.running = None;
        if let Some(started) = started {
            add(&stats.busy_ns, started.elapsed().as_nanos() as u64);
            add(&stats.timed, count);
        }
        if let Some(e) = last_error {
            add(&stats.errors, errors);
            tracing::debug!(node = %node.name, "{e}");
            self.last_error = Some((node.name.clone(), e));
        }
    }

    /// Runs `msg` on the instance that owns its group.
    fn dispatch(&mut self, id: usize, parent: usize, msg: Message, out: &mut Vec<Message>) {
        let n = self.nodes[id].instances.len();
        if n > 1 && matches!(msg, Message::Barrier { group: None, .. }) {
            // A barrier for every group concerns every instance.
            for i in 0..n {
                self.run(id, i, parent, msg.clone(), out);
            }
        } else {
            let instance = if n == 1 {
                0
            } else {
                shard(&msg, n, self.nodes[id].shard_on.as_deref())
            };
            self.run(id, instance, parent, msg, out);
        }
    }

    fn run(
        &mut self,
        id: usize,
        instance: usize,
        parent: usize,
        msg: Message,
        out: &mut Vec<Message>,
    ) {
        self.running = Some(id);
        let node = &mut self.nodes[id];
        #[cfg(debug_assertions)]
        if id > 0 {
            crate::failpoint::check(&node.name, &node.kind, std::slice::from_ref(&msg));
        }
        let stats = &node.stats;
        let seen = add(&stats.messages_in, 1);
        let result = if seen.is_multiple_of(TIMING_SAMPLE) {
            let started = Instant::now();
            let result = node.instances[instance].process_from(parent, msg, out);
            add(&stats.busy_ns, started.elapsed().as_nanos() as u64);
            add(&stats.timed, 1);
            result
        } else {
            node.instances[instance].process_from(parent, msg, out)
        };
        self.running = None;
        if let Err(e) = result {
            add(&stats.errors, 1);
            tracing::debug!(node = %node.name, "{e}");
            self.last_error = Some((node.name.clone(), e));
        }
    }

    /// Hands `out` (emitted by `id`) to each child, moving into the last one.
    fn forward(&mut self, id: usize, out: &mut Vec<Message>) {
        if out.is_empty() {
            return;
        }
        add(&self.nodes[id].stats.messages_out, out.len() as u64);
        if let Some((child, parent)) = self.chain[id] {
            self.deliver_all(child, parent, out);
            return;
        }
        let children = std::mem::take(&mut self.nodes[id].children);
        for msg in out.drain(..) {
            if let Some(((last, last_parent), rest)) = children.split_last() {
                for &(child, parent) in rest {
                    self.deliver(child, parent, msg.clone());
                }
                self.deliver(*last, *last_parent, msg);
            }
        }
        self.nodes[id].children = children;
    }
}

/// Tells `node`, about to process a message, of those [`TABLE_AHEAD`] and
/// [`STATE_AHEAD`] places after it; `after` holds the ones after it.
fn prefetch_ahead(node: &dyn Node, after: &[Message]) {
    if let Some(m) = after.get(TABLE_AHEAD - 1) {
        node.prefetch(m, Prefetch::Table);
    }
    if let Some(m) = after.get(STATE_AHEAD - 1) {
        node.prefetch(m, Prefetch::State);
    }
}

/// Moves all of `from` to the end of `to`; when `to` is empty (as a node's
/// output buffer is when it starts) by swapping the buffers, so no message
/// is copied.
fn hand_over(from: &mut Vec<Message>, to: &mut Vec<Message>) {
    if to.is_empty() {
        std::mem::swap(from, to);
    } else {
        to.append(from);
    }
}

/// Adds `n` to a counter and returns its old value. Only the task's own
/// thread writes its counters (readers only load them), so a plain load and
/// store do: no locked read-modify-write on every message.
fn add(counter: &AtomicU64, n: u64) -> u64 {
    let old = counter.load(Ordering::Relaxed);
    counter.store(old.wrapping_add(n), Ordering::Relaxed);
    old
}

/// Which of `n` instances owns the message's group. (A barrier for every
/// group is broadcast before this is asked.)
fn shard(msg: &Message, n: usize, on: Option<&[crate::point::Name]>) -> usize {
    let group = match msg {
        Message::Point(_, g) | Message::DeleteGroup(g) => g,
        Message::Batch(b) => &b.group,
        Message::Barrier { group: Some(g), .. } => g,
        Message::Barrier { group: None, .. } => return 0,
    };
    let hash = match on {
        None => group.shard_hash(),
        Some(names) => {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::hash::DefaultHasher::new();
            for (k, v) in group.tags().iter().filter(|(k, _)| names.contains(k)) {
                k.hash(&mut hasher);
                v.hash(&mut hasher);
            }
            hasher.finish()
        }
    };
    (hash % n as u64) as usize
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::group::{Dimensions, GroupKey};
    use crate::point::{FieldValue, Fields, Name, Point, Series};

    /// Passes messages on, recording what it saw.
    struct Tap(Arc<Mutex<Vec<String>>>, &'static str);

    impl Node for Tap {
        fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
            if let Message::Point(p, _) = &msg {
                self.0
                    .lock()
                    .unwrap()
                    .push(format!("{}:{}", self.1, p.time));
                if p.time == 99 {
                    return Err(NodeError::new("bad point"));
                }
            }
            out.push(msg);
            Ok(())
        }
    }

    fn point(host: &str, time: i64) -> Message {
        let s = Series::new("cpu".into(), vec![(Name::from("host"), Name::from(host))]).unwrap();
        let dims = Dimensions::new(false, vec!["host".into()]);
        let group = GroupKey::for_series(&dims, &s);
        let p = Point {
            series: Arc::new(s),
            fields: Fields::from_pairs([("v".into(), FieldValue::Float(1.0))]),
            time,
        };
        Message::Point(p, group)
    }

    /// A node of `instances`, of kind `name`.
    fn run_node(
        name: &str,
        instances: Vec<Box<dyn Node>>,
        children: Vec<(usize, usize)>,
    ) -> RunNode {
        RunNode {
            name: name.into(),
            kind: name.into(),
            instances,
            children,
            stats: Arc::default(),
            shard_on: None,
        }
    }

    /// A [`Tap`] node logging with `tag`.
    fn node(
        name: &str,
        log: &Arc<Mutex<Vec<String>>>,
        tag: &'static str,
        children: Vec<(usize, usize)>,
    ) -> RunNode {
        run_node(name, vec![Box::new(Tap(log.clone(), tag))], children)
    }

    #[test]
    fn messages_flow_depth_first_to_every_child_and_errors_are_counted() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut dag = TaskDag::new(vec![
            node("stream0", &log, "root", vec![(1, 0), (2, 0)]),
            node("a1", &log, "a", vec![]),
            node("b2", &log, "b", vec![]),
        ]);
        dag.push(point("x", 1));
        dag.push(point("x", 99));
        assert_eq!(*log.lock().unwrap(), ["root:1", "a:1", "b:1", "root:99"]);
        let stats = dag.stats();
        assert_eq!(
            (stats[0].messages_in, stats[0].messages_out, stats[0].errors),
            (2, 1, 1)
        );
        assert_eq!(stats[1].messages_in, 1);
        assert_eq!(dag.last_error().map(|(n, _)| n.as_str()), Some("stream0"));
    }

    /// Panics on every point.
    struct Bomb;

    impl Node for Bomb {
        fn process(&mut self, _msg: Message, _out: &mut Vec<Message>) -> Result<(), NodeError> {
            panic!("boom");
        }
    }

    #[test]
    fn after_a_panic_the_dag_names_the_node_that_panicked() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut dag = TaskDag::new(vec![
            node("stream0", &log, "root", vec![(1, 0)]),
            node("tap1", &log, "tap", vec![(2, 0)]),
            run_node("bomb2", vec![Box::new(Bomb)], vec![]),
        ]);
        assert_eq!(dag.running_node(), None);
        let one =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dag.push(point("x", 1))));
        assert!(one.is_err());
        assert_eq!(dag.running_node(), Some(("bomb2", "bomb2")));
        let mut dag = TaskDag::new(vec![
            node("stream0", &log, "root", vec![(1, 0)]),
            run_node("bomb1", vec![Box::new(Bomb)], vec![]),
        ]);
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            dag.push_all([point("x", 1), point("x", 2)])
        }));
        assert!(run.is_err());
        assert_eq!(dag.running_node().map(|n| n.0), Some("bomb1"));
    }

    /// Edits in place: drops points at odd times, fails (and drops) at 77,
    /// moves the rest on by 1000.
    struct Editor;

    impl Node for Editor {
        fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
            crate::node::process_by_edit(self, msg, out)
        }

        fn edits_in_place(&self) -> bool {
            true
        }

        fn edit(&mut self, msg: &mut Message) -> (bool, Result<(), NodeError>) {
            let Message::Point(p, _) = msg else {
                return (true, Ok(()));
            };
            match p.time {
                77 => (false, Err(NodeError::new("bad point"))),
                t if t % 2 == 1 => (false, Ok(())),
                _ => {
                    p.time += 1000;
                    (true, Ok(()))
                }
            }
        }
    }

    #[test]
    fn runs_through_a_node_that_edits_in_place_keep_order_and_counts() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut dag = TaskDag::new(vec![
            node("stream0", &log, "root", vec![(1, 0)]),
            run_node("edit1", vec![Box::new(Editor)], vec![(2, 0)]),
            node("tap2", &log, "tap", vec![]),
        ]);
        // More than one run, so runs and buffers are reused.
        let times: Vec<i64> = (100..400).chain([77, 1, 2]).collect();
        dag.push_all(times.iter().map(|&t| point("x", t)));
        let seen: Vec<String> = log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("tap:"))
            .cloned()
            .collect();
        let expected: Vec<String> = times
            .iter()
            .filter(|&&t| t % 2 == 0)
            .map(|t| format!("tap:{}", t + 1000))
            .collect();
        assert_eq!(seen, expected);
        let stats = dag.stats();
        assert_eq!(
            (stats[1].messages_in, stats[1].messages_out, stats[1].errors),
            (303, 151, 1)
        );
        assert_eq!(dag.last_error().map(|(n, _)| n.as_str()), Some("edit1"));
    }

    #[test]
    fn a_node_is_timed_from_its_first_message() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut dag = TaskDag::new(vec![
            node("stream0", &log, "root", vec![(1, 0)]),
            node("tap1", &log, "tap", vec![]),
        ]);
        dag.push_all([point("x", 1), point("x", 2)]);
        assert_eq!(dag.nodes[1].stats.timed.load(Ordering::Relaxed), 2);
        dag.push_all((3..60).map(|t| point("x", t)));
        assert_eq!(
            dag.nodes[1].stats.timed.load(Ordering::Relaxed),
            2,
            "the next timed run holds message 64"
        );
        dag.push_all((60..70).map(|t| point("x", t)));
        assert_eq!(dag.nodes[1].stats.timed.load(Ordering::Relaxed), 12);
    }

    /// Emits a point every 5 ns of the task's clock, three times.
    struct Ticker(u32);

    impl Node for Ticker {
        fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
            out.push(msg);
            Ok(())
        }

        fn tick(&mut self, now: i64, out: &mut Vec<Message>) -> Option<i64> {
            if self.0 > 0 {
                out.push(point("t", now));
            }
            self.0 += 1;
            (self.0 <= 3).then_some(now + 5)
        }
    }

    #[test]
    fn ticks_come_when_due_and_their_output_flows_on() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut dag = TaskDag::new(vec![
            node("stream0", &log, "root", vec![(1, 0)]),
            run_node("ticker1", vec![Box::new(Ticker(0))], vec![(2, 0)]),
            node("tap2", &log, "tap", vec![]),
        ]);
        assert_eq!(dag.next_tick(), None, "no clock before the task starts");
        dag.start(100);
        assert_eq!(dag.next_tick(), Some(105));
        dag.tick(104);
        assert!(log.lock().unwrap().is_empty(), "not due yet");
        dag.tick(105);
        dag.tick(112);
        assert_eq!(dag.next_tick(), Some(117));
        dag.tick(117);
        assert_eq!(dag.next_tick(), None, "the node asked for no more");
        assert_eq!(*log.lock().unwrap(), ["tap:105", "tap:112", "tap:117"]);
        assert_eq!(dag.stats()[1].messages_out, 3);
    }

    #[test]
    fn parallel_instances_own_whole_groups() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let taps: Vec<Arc<Mutex<Vec<String>>>> =
            (0..4).map(|_| Arc::new(Mutex::new(Vec::new()))).collect();
        let instances: Vec<Box<dyn Node>> = taps
            .iter()
            .map(|t| Box::new(Tap(t.clone(), "i")) as Box<dyn Node>)
            .collect();
        let mut dag = TaskDag::new(vec![
            node("stream0", &log, "root", vec![(1, 0)]),
            run_node("p1", instances, vec![]),
        ]);
        for (i, host) in ["a", "b", "c", "d", "e", "f", "a", "b"].iter().enumerate() {
            dag.push(point(host, i as i64));
        }
        let total: usize = taps.iter().map(|t| t.lock().unwrap().len()).sum();
        assert_eq!(total, 8);
        // Both points of host a went to the same instance.
        let owner = |t: i64| {
            taps.iter()
                .position(|tap| tap.lock().unwrap().contains(&format!("i:{t}")))
        };
        assert_eq!(owner(0), owner(6));
        assert_eq!(owner(1), owner(7));
    }
}
