//! Running tasks on recorded data: the recording formats (`.srpl` stream
//! points, `.brpl` batches) and the runner of `kapacitor test` cases, which
//! feeds a task through the daemon's own runner ([`host::Runner`]) on the
//! data's clock. What it does not own: the task host itself (`host`) and
//! what a task's nodes are given ([`crate::tasks`]).

pub mod recording;
pub mod testcase;
