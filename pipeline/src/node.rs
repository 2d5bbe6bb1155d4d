//! The contract between the DAG runtime and a node.
//!
//! A task runs its nodes synchronously in topological order: the runtime
//! hands a node one message, the node pushes whatever it emits, and the
//! runtime passes that on to the node's children. No channel sits between
//! two nodes of one task, so a point crosses a whole pipeline without a
//! context switch. Timers and handlers that must not block live outside this
//! loop.

use crate::batch::Message;

/// Why a node could not process one message. The runtime counts and logs it
/// and goes on with the next message: one bad point never stops a task.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct NodeError(pub String);

impl NodeError {
    pub fn new(msg: impl Into<String>) -> Self {
        NodeError(msg.into())
    }
}

/// Which of its two early looks at a message a node is given: with 10k
/// groups, a node's state for a point is typically two dependent cache
/// misses away (a table slot, then what it points to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefetch {
    /// Several messages ahead: fetch where the state's address is kept.
    Table,
    /// Fewer messages ahead, when that has arrived: fetch the state.
    State,
}

/// One node of a running task.
pub trait Node: Send {
    /// Processes one message, pushing what it emits onto `out`.
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError>;

    /// Like [`Node::process`], saying which parent (by position among the
    /// node's parents, in script order) sent the message. Only nodes with
    /// several parents (join, union) care; the rest keep this default.
    fn process_from(
        &mut self,
        _parent: usize,
        msg: Message,
        out: &mut Vec<Message>,
    ) -> Result<(), NodeError> {
        self.process(msg, out)
    }

    /// Told of a message a few places before it arrives, twice (see
    /// [`Prefetch`]), so that a node whose per-group state lies in memory
    /// that is not cached can ask for it early
    /// ([`crate::prefetch::prefetch`]); it must not change what the node
    /// does. Most nodes ignore it.
    fn prefetch(&self, _msg: &Message, _stage: Prefetch) {}

    /// Whether the node passes every message on unchanged, so the runtime
    /// may hand its input straight to its children (counting it as seen).
    fn passes_through(&self) -> bool {
        false
    }

    /// Whether the node only edits or drops the messages it gets, one by
    /// one, emitting nothing else (`from`, `where`): the runtime then calls
    /// [`Node::edit`] instead of [`Node::process`], and no message moves.
    fn edits_in_place(&self) -> bool {
        false
    }

    /// For a node that [edits in place](Node::edits_in_place): does to `msg`
    /// what [`Node::process`] would, saying whether it goes on, and what
    /// went wrong (a point that fails is dropped; a batch that fails in
    /// part may go on).
    fn edit(&mut self, msg: &mut Message) -> (bool, Result<(), NodeError>) {
        let _ = msg;
        (
            false,
            Err(NodeError::new("this node does not edit in place")),
        )
    }

    /// Called once when the task stops, after the last message: a node may
    /// emit what it still holds. Most nodes hold nothing.
    fn finish(&mut self, _out: &mut Vec<Message>) {}

    /// Lets a node act on the passage of time rather than on data (stats
    /// every interval, a barrier for an idle group, expiring idle groups).
    /// `now` is the task's clock in ns: the wall clock in the daemon, the
    /// replay's clock in `kapacitor test`. The runtime calls it once when
    /// the task starts and then whenever the time the node last returned
    /// has come; `None` means "never again", which is all most nodes say.
    fn tick(&mut self, _now: i64, _out: &mut Vec<Message>) -> Option<i64> {
        None
    }

    /// How many groups the node holds state for, for the status view.
    fn groups(&self) -> usize {
        0
    }

    /// An alerting node's events so far by level (OK, INFO, WARNING,
    /// CRITICAL); `None` for the rest.
    fn alerts_triggered(&self) -> Option<[u64; 4]> {
        None
    }

    /// An output node's output, whose counters show its deliveries;
    /// `None` for the rest.
    fn output(&self) -> Option<std::sync::Arc<dyn crate::output::Output>> {
        None
    }
}

/// [`Node::process`] for a node that edits in place: the edited message
/// goes to `out` unless dropped.
pub fn process_by_edit(
    node: &mut impl Node,
    mut msg: Message,
    out: &mut Vec<Message>,
) -> Result<(), NodeError> {
    let (keep, result) = node.edit(&mut msg);
    if keep {
        out.push(msg);
    }
    result
}

/// A node that passes every message on unchanged: a task's root, and the
/// stand-in for an aggregate whose work its window does (see
/// [`crate::nodes::window::WindowNode::fuse`]), which keeps the plan's node
/// ids and counters as they were.
pub struct PassThrough;

impl Node for PassThrough {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        out.push(msg);
        Ok(())
    }

    fn passes_through(&self) -> bool {
        true
    }
}
