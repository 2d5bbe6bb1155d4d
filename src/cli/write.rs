//! (in progress)

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args, _url: &str) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
