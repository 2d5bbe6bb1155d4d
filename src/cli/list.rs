//! `kapacitor list tasks`: one line per task.

use std::process::ExitCode;

use hyper::Method;
use serde_json::Value;

use super::http::send;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to list: tasks.
    what: What,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum What {
    Tasks,
}

pub fn run(args: Args, url: &str) -> anyhow::Result<ExitCode> {
    let What::Tasks = args.what;
    let reply = send(Method::GET, url, "/kapacitor/v1/tasks", Vec::new())?.ok()?;
    let body: Value = serde_json::from_slice(&reply.body)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&body));
    Ok(ExitCode::SUCCESS)
}

fn render(body: &Value) -> String {
    let mut out = format!(
        "{:<30} {:<7} {:<9} {:<10} {}\n",
        "ID", "Type", "Status", "Executing", "Databases and Retention Policies"
    );
    for t in body["tasks"].as_array().into_iter().flatten() {
        let dbrps: Vec<String> = t["dbrps"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                format!(
                    "{:?}.{:?}",
                    d["db"].as_str().unwrap_or(""),
                    d["rp"].as_str().unwrap_or("")
                )
            })
            .collect();
        out.push_str(&format!(
            "{:<30} {:<7} {:<9} {:<10} [{}]\n",
            t["id"].as_str().unwrap_or(""),
            t["type"].as_str().unwrap_or(""),
            t["status"].as_str().unwrap_or(""),
            t["executing"].as_bool().unwrap_or(false),
            dbrps.join(" ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_line_per_task_like_kapacitor() {
        let body = serde_json::json!({"tasks": [{"id": "cpu", "type": "stream", "status": "enabled", "executing": true,
            "dbrps": [{"db": "telegraf", "rp": "autogen"}]}]});
        let text = super::render(&body);
        assert!(text.lines().nth(1).unwrap().starts_with("cpu "), "{text}");
        assert!(text.contains("[\"telegraf\".\"autogen\"]"), "{text}");
    }
}
