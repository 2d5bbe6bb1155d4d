//! `kapacitor version`: this client's version, in Kapacitor's form.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let version = env!("CARGO_PKG_VERSION");
    if args.json {
        println!(
            "{}",
            serde_json::json!({"version": version, "platform": "OSS", "product": "kapacitord"})
        );
    } else {
        // Kapacitor prints `Kapacitor OSS 1.7.1 (git: HEAD abc123)`.
        println!("Kapacitor OSS {version} (kapacitord)");
    }
    Ok(ExitCode::SUCCESS)
}
