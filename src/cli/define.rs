//! `kapacitor define`: Kapacitor's `define ID [-tick F] [-type T] [-dbrp
//! db.rp]... [-vars F] [-file F]`, which creates a task or changes only
//! what it is given, and the seed's `define streamer|batcher --name N ...`
//! ([`seed`]), which defines a task whole. Redefining a task updates it and
//! keeps it enabled if it was.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use hyper::Method;
use pipeline::DbRp;
use serde_json::{Value, json};

use super::http::{Reply, send, send_json};

mod seed;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    seed: Option<seed::Kind>,
    /// The task's id (Kapacitor's form; or `streamer`/`batcher`, the
    /// seed's).
    #[arg(required = true)]
    id: Option<String>,
    /// The TICKscript file (needed to create a task).
    #[arg(long)]
    tick: Option<PathBuf>,
    /// stream or batch; by default what the script starts with.
    #[arg(long = "type", value_parser = ["stream", "batch"])]
    task_type: Option<String>,
    /// A database and retention policy to read, "db"."rp" (quotes
    /// optional); repeatable, and all of them replace the task's. Without
    /// any, the script's `dbrp` statements say.
    #[arg(long, value_parser = parse_dbrp)]
    dbrp: Vec<DbRp>,
    /// A JSON or YAML file of values for the script's vars:
    /// {"crit": {"type": "float", "value": 90}} (or Kapacitor's
    /// {"vars": {...}}).
    #[arg(long)]
    vars: Option<PathBuf>,
    /// A YAML or JSON task file, as Kapacitor's: `id`, `dbrps` ([{db, rp}])
    /// and `vars` (its `template-id` needs templates, not supported yet).
    #[arg(long)]
    file: Option<PathBuf>,
    /// Kapacitor's: do not reload an enabled task. Accepted and ignored:
    /// kapacitord applies a redefinition at once, and a task whose script
    /// and settings did not change keeps running with its state.
    #[arg(long)]
    no_reload: bool,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

/// `db.rp` as the daemon reads it (`"my.db".rp` for a name with a dot); a
/// bare `db` takes `autogen`.
pub(super) fn parse_dbrp(s: &str) -> Result<DbRp, String> {
    s.parse()
        .or_else(|e| format!("{s}.autogen").parse().map_err(|_| e))
}

fn read_script(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// A JSON or (by its extension) YAML file's top value.
fn read_json_or_yaml(path: &Path) -> anyhow::Result<Value> {
    let text = read_script(path)?;
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    if yaml {
        let map = config::read_yaml_values(&text, path).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Value::Object(map))
    } else {
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))
    }
}

/// Values for the script's vars, checked before they are sent.
fn read_vars(path: &Path) -> anyhow::Result<Value> {
    let mut vars = read_json_or_yaml(path)?;
    // Kapacitor also takes its task file's shape, {"vars": {...}}.
    if vars["vars"].is_object() && vars["vars"].get("type").is_none() {
        vars = vars["vars"].take();
    }
    crate::tasks::vars::from_json(&vars).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(vars)
}

/// Kapacitor's task file (`-file`): what it gives, as API members.
fn read_task_file(path: &Path, id: &str, body: &mut Value) -> anyhow::Result<()> {
    let file = read_json_or_yaml(path)?;
    let Some(members) = file.as_object() else {
        bail!(
            "{}: not a task file (a mapping of id, dbrps, vars)",
            path.display()
        );
    };
    for (key, value) in members {
        match key.as_str() {
            "id" if value.as_str().is_some_and(|v| v != id) => bail!(
                "task id given on the command line does not match the id in {}",
                path.display()
            ),
            "id" => {}
            "dbrps" => {
                let dbrps: Vec<DbRp> = serde_json::from_value(value.clone())
                    .with_context(|| format!("{}: dbrps", path.display()))?;
                body["dbrps"] = json!(dbrps);
            }
            "vars" => {
                crate::tasks::vars::from_json(value)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                body["vars"] = value.clone();
            }
            "template-id" => bail!(
                "{}: template-id: task templates are not supported yet",
                path.display()
            ),
            other => bail!("{}: unknown key {other:?}", path.display()),
        }
    }
    Ok(())
}

/// Creates task `id` with `body`, or changes what `body` gives of it.
/// Whether it existed, and the answer.
pub(super) fn upsert_task(url: &str, id: &str, body: &Value) -> anyhow::Result<(bool, Reply)> {
    let path = format!("/kapacitor/v1/tasks/{id}");
    let exists = send(Method::GET, url, &path, Vec::new())?
        .status
        .is_success();
    let reply = if exists {
        send_json(Method::PATCH, url, &path, body)?
    } else {
        send_json(Method::POST, url, "/kapacitor/v1/tasks", body)?
    };
    Ok((exists, reply))
}

pub fn run(args: Args, url: &str) -> anyhow::Result<ExitCode> {
    let json = args.json;
    let (id, body) = match args.seed {
        Some(kind) => seed::body(kind)?,
        None => kapacitor_body(args)?,
    };
    let (exists, reply) = upsert_task(url, &id, &body)?;
    if !reply.status.is_success() {
        let mut message = reply.error_text();
        if !exists && body.get("script").is_none() {
            message = format!("task {id:?} does not exist; define it with -tick FILE ({message})");
        }
        return Ok(super::fail(json, &message));
    }
    Ok(super::done(
        json,
        json!({"ok": true, "task": id, "defined": if exists { "updated" } else { "created" }}),
    ))
}

/// Kapacitor's form: only what is given, so a later `define ID -dbrp x.y`
/// changes the dbrps alone.
fn kapacitor_body(args: Args) -> anyhow::Result<(String, Value)> {
    let Some(id) = args.id else {
        bail!("define needs a task id: define ID -tick FILE");
    };
    let mut body = json!({ "id": id });
    if let Some(path) = &args.file {
        read_task_file(path, &id, &mut body)?;
    }
    if let Some(path) = &args.tick {
        body["script"] = json!(read_script(path)?);
    }
    if let Some(t) = &args.task_type {
        body["type"] = json!(t);
    }
    if !args.dbrp.is_empty() {
        body["dbrps"] = json!(args.dbrp);
    }
    if let Some(path) = &args.vars {
        body["vars"] = read_vars(path)?;
    }
    Ok((id, body))
}

#[cfg(test)]
mod tests {
    use pipeline::DbRp;

    use super::parse_dbrp;

    #[test]
    fn dbrp_forms() {
        assert_eq!(
            parse_dbrp("telegraf.autogen"),
            Ok(DbRp::new("telegraf", "autogen"))
        );
        assert_eq!(parse_dbrp("telegraf"), Ok(DbRp::new("telegraf", "autogen")));
        assert_eq!(parse_dbrp("\"my.db\""), Ok(DbRp::new("my.db", "autogen")));
        assert_eq!(
            parse_dbrp("\"telegraf\".\"autogen\""),
            Ok(DbRp::new("telegraf", "autogen"))
        );
        assert_eq!(
            parse_dbrp("a.b.c").unwrap_err(),
            "`a.b.c` is not a db.rp; expected database and retention policy such as \
             `telegraf.autogen`, quoting a name that holds a dot: `\"my.db\".\"autogen\"`"
        );
        assert!(parse_dbrp(".x").is_err());
    }

    #[test]
    fn kapacitor_task_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cpu.yaml");
        std::fs::write(
            &path,
            "id: cpu\ndbrps:\n - { db: \"telegraf\", rp: \"autogen\"}\nvars: {\"crit\": {\"type\": \"float\", \"value\": 90}}\n",
        )
        .unwrap();
        let mut body = serde_json::json!({"id": "cpu"});
        super::read_task_file(&path, "cpu", &mut body).unwrap();
        assert_eq!(
            body["dbrps"],
            serde_json::json!([{"db": "telegraf", "rp": "autogen"}])
        );
        assert_eq!(body["vars"]["crit"]["value"], 90);
        let e = super::read_task_file(&path, "other", &mut body).unwrap_err();
        assert!(e.to_string().contains("does not match"), "{e}");
    }
}
