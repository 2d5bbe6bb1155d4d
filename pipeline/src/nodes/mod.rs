//! Every node kind, one per file.

pub mod alert;
pub mod barrier;
pub mod change_detect;
pub mod deadman;
pub mod default_node;
pub mod delete;
pub mod derivative;
pub mod eval;
pub mod filter;
pub mod flatten;
pub mod from;
pub mod group_by;
pub mod http_out;
pub mod influxql;
pub mod join;
pub mod log;
pub mod query;
pub mod sample;
pub mod shift;
pub mod state_tracking;
pub mod stats;
pub mod union;
pub mod where_node;
pub mod window;
