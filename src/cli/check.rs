//! `kapacitor check FILE.tick...`: compiles scripts offline, with no daemon,
//! and prints every diagnostic; `--dot` prints each task's DAG.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TaskTypeArg {
    Stream,
    Batch,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// TICKscript files to check.
    #[arg(required = true, value_name = "FILE.tick")]
    files: Vec<PathBuf>,
    /// Task type; by default taken from the root the script starts from.
    #[arg(long = "type", value_enum)]
    task_type: Option<TaskTypeArg>,
    /// Print each DAG in Graphviz DOT, with Kapacitor's node names.
    #[arg(long)]
    dot: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for path in &args.files {
        let source =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let task_type = match args.task_type {
            Some(TaskTypeArg::Stream) => dsl::TaskType::Stream,
            Some(TaskTypeArg::Batch) => dsl::TaskType::Batch,
            None => dsl::detect_task_type(&source),
        };
        match dsl::compile(&source, task_type) {
            Ok(plan) => {
                if args.dot {
                    let name = path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    out.write_all(plan.to_dot(&name).as_bytes())?;
                }
            }
            Err(diags) => {
                failed = true;
                eprint!("{}", diags.render(&path.display().to_string(), &source));
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
