//! Every node kind, one per file.

pub mod http_out;
pub mod window;
