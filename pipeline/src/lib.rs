//! The core of kapacitord: the point model every other crate speaks, the
//! [`Router`] that decides which task receives which point, and (in later
//! steps) the DAG runtime, its nodes, alert state and the `AlertHandler` and
//! `Output` traits. A point's [`Name`]s and [`DbRp`] are `model`'s,
//! re-exported here.
//!
//! This crate owns data and its processing only. It knows nothing of sockets,
//! files or HTTP: listeners (`ingest`), the store (`storage`) and the API
//! depend on it, never the other way round.

mod batch;
pub mod build;
#[cfg(debug_assertions)]
pub mod failpoint;
mod group;
pub mod holt_winters;
pub mod idle;
pub mod lambda;
mod node;
pub mod nodes;
pub mod output;
mod point;
mod prefetch;
pub mod result;
mod router;
pub mod runtime;
pub mod spec;
mod table;
#[cfg(test)]
mod testing;
pub mod time;

pub use batch::{Batch, BatchPoint, Message};
pub use group::{Dimensions, GroupKey, GroupMap};
pub use node::{Node, NodeError, Prefetch};
pub use point::{DbRp, FieldValue, Fields, Name, Point, PointBatch, Series, SeriesError, Tags};
pub use router::{Held, PointFilter, PointSink, Route, Router, TaskInbox};
