//! kapacitord and the kapacitor CLI: wiring of the crates into a [`Server`]
//! that tests start in-process on port 0, the HTTP API, and the CLI.
//!
//! Data flows one way: listeners (`ingest`) → router and tasks (`pipeline`)
//! → handlers. This crate only connects them and serves the API.

pub mod alert_states;
mod api;
pub mod cli;
mod effects;
pub mod endpoints;
pub mod handlers;
mod http_client;
pub mod outputs;
pub mod recording;
mod server;
pub mod sideload;
pub mod signals;
pub mod task_check;
pub mod task_vars;
pub mod taskdir;
pub mod tasks;
pub mod testcase;

pub use server::{BoundAddrs, Server, ServerError, ServerState};
