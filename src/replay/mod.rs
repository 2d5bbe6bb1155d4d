//! Running tasks on recorded data: the recording formats (Kapacitor's
//! `.srpl` and `.brpl`, and our own stream file), recordings kept under the
//! data dir, replays into a task instance of their own, and the runner of
//! `kapacitor test` cases. Replays and test cases run a task the same way
//! ([`instance`]): the daemon's runner ([`host::Runner`]) on the data's
//! clock, its effects captured. What it does not own: the task host itself
//! (`host`) and what a task's nodes are given ([`crate::tasks`]).

pub mod file;
pub mod instance;
pub mod job;
pub mod queried;
pub mod recording;
pub mod recordings;
pub mod replays;
pub mod testcase;
