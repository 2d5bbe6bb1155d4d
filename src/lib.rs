//! kapacitord and the kapacitor CLI: wiring of the crates into a [`Server`]
//! that tests start in-process on port 0, the HTTP API, and the CLI.
//!
//! Data flows one way: listeners (`ingest`) → router (`pipeline`) → tasks on
//! the worker pool (`host`) → effects. This crate connects them and serves
//! the API; what runs where:
//!
//! - [`tasks`]: the task manager (define, enable, stop; the store and the
//!   tasks directory), what a task's nodes are given, and checking a script
//!   as define does.
//! - [`effects`]: what tasks hand off and never wait for: alert handlers,
//!   output nodes' deliveries, the alert-state writer, on one shared runtime.
//! - [`replay`]: recordings and `kapacitor test`'s case runner, which run a
//!   task on the data's own clock.

mod api;
pub mod batch;
pub mod cli;
pub mod effects;
pub mod logging;
pub mod replay;
pub mod serve;
mod server;
pub mod signals;
pub mod tasks;

pub use server::{BoundAddrs, Server, ServerError, ServerState};
