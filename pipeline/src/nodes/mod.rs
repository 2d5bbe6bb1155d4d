//! Every node kind, one per file.

pub mod filter;
pub mod from;
pub mod http_out;
pub mod influxql;
pub mod query;
pub mod root;
pub mod where_node;
pub mod window;
pub mod alert;
pub mod default_node;
pub mod delete;
pub mod shift;
pub mod sample;
pub mod derivative;
pub mod log;
pub mod state_tracking;
pub mod change_detect;
pub mod eval;
pub mod group_by;
pub mod join;
pub mod union;
pub mod flatten;
