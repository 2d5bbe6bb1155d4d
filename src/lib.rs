//! kapacitord and the kapacitor CLI: wiring of the crates into a [`Server`]
//! that tests start in-process on port 0, the HTTP API, and the CLI.

pub mod cli;
