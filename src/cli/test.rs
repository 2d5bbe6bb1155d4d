//! `kapacitor test CASE_DIR...`: runs task test cases offline, in Kapacitor's
//! conformance format, and prints PASS or FAIL per case with what differed.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::replay::testcase::{RunOptions, find_cases, run_case};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Case directories (holding script.tick, input and expected.json), or
    /// directories of them.
    #[arg(required = true)]
    cases: Vec<PathBuf>,
    /// Run every node with this many parallel instances.
    #[arg(long, default_value_t = 1)]
    parallelism: usize,
    /// Hand points to the task this many at a time.
    #[arg(long, default_value_t = 1)]
    delivery_batch: usize,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cases = find_cases(&args.cases);
    if cases.is_empty() {
        anyhow::bail!("no test cases (directories with expected.json) under the given paths");
    }
    let opts = RunOptions {
        parallelism: args.parallelism.max(1),
        delivery_batch: args.delivery_batch.max(1),
    };
    let (mut passed, mut failed) = (0, 0);
    let mut report = Vec::new();
    for dir in cases {
        let result = run_case(&dir, opts);
        match result.failure {
            None => {
                passed += 1;
                report.push(serde_json::json!({"case": result.name, "passed": true}));
                if !args.json {
                    println!("PASS {}", result.name);
                }
            }
            Some(why) => {
                failed += 1;
                if !args.json {
                    println!("FAIL {}", result.name);
                    for line in why.0.lines() {
                        println!("    {line}");
                    }
                }
                report.push(
                    serde_json::json!({"case": result.name, "passed": false, "failure": why.0}),
                );
            }
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({"passed": passed, "failed": failed, "cases": report})
        );
    } else {
        println!("{passed} passed, {failed} failed");
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
