//! Ingest: turns bytes from the network into [`pipeline::PointBatch`]es.
//!
//! It owns line-protocol decoding ([`lp`]) with InfluxDB 1.x rules and the
//! HTTP ([`http`]), UDP ([`udp`]) and TCP ([`tcp`]) listeners that hand
//! decoded batches to a [`pipeline::PointSink`], with counters per listener
//! and per database/retention policy ([`stats`]). It does not decide what
//! happens to points: that is the router's job in `pipeline`.

pub mod http;
pub mod lp;
pub mod stats;
pub mod tcp;
pub mod udp;
pub mod write;
