//! Ingest: turns bytes from the network into [`pipeline::PointBatch`]es.
//!
//! It owns line-protocol decoding ([`lp`]) with InfluxDB 1.x rules and the
//! HTTP, UDP and TCP listeners that hand decoded batches to a
//! [`pipeline::PointSink`]. It does not decide what happens to points: that
//! is the router's job in `pipeline`.

pub mod lp;
