//! `kapacitor check FILE.tick...`: compiles scripts offline, with no daemon,
//! and prints every diagnostic; `--dot` prints each task's DAG.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// TICKscript files to check.
    #[arg(required = true, value_name = "FILE.tick")]
    files: Vec<PathBuf>,
    /// Task type, stream or batch; by default taken from the root the
    /// script starts from.
    #[arg(long = "type")]
    task_type: Option<dsl::TaskType>,
    /// Print each DAG in Graphviz DOT, with Kapacitor's node names.
    #[arg(long)]
    dot: bool,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut report = Vec::new();
    for path in &args.files {
        let source =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let task_type = args
            .task_type
            .unwrap_or_else(|| dsl::detect_task_type(&source));
        let id = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        // What define refuses too: the compiler's errors, then what only
        // building the nodes finds.
        let result = dsl::compile(&source, task_type)
            .and_then(|plan| crate::tasks::check::check_offline(&id, &plan).map(|()| plan));
        if args.json {
            let file = path.display().to_string();
            report.push(match &result {
                Ok(plan) => serde_json::json!({"file": file, "ok": true, "dot": plan.to_dot(&file)}),
                Err(diags) => {
                    failed = true;
                    let errors: Vec<serde_json::Value> = diags
                        .0
                        .iter()
                        .map(|d| {
                            let (line, column) = dsl::Diagnostic::line_col(&source, d.span.start);
                            serde_json::json!({"line": line, "column": column, "message": d.message, "help": d.help})
                        })
                        .collect();
                    serde_json::json!({"file": file, "ok": false, "errors": errors})
                }
            });
            continue;
        }
        match result {
            Ok(plan) => {
                if args.dot {
                    out.write_all(plan.to_dot(&id).as_bytes())?;
                }
            }
            Err(diags) => {
                failed = true;
                eprint!("{}", diags.render(&path.display().to_string(), &source));
            }
        }
    }
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"ok": !failed, "files": report})
        )?;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
