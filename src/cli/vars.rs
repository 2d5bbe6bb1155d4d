//! `kapacitor vars`: `/kapacitor/v1/debug/vars`, as JSON.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Set by the global `--json` (the output is JSON either way).
    #[arg(skip)]
    pub json: bool,
}

pub fn run(_args: Args, url: &str) -> anyhow::Result<ExitCode> {
    let vars = super::stats::vars(url)?;
    println!("{}", serde_json::to_string_pretty(&vars)?);
    Ok(ExitCode::SUCCESS)
}
