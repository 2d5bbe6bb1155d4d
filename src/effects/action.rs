//! What an alert handler of kind `post`, `tcp`, `log` or `exec` does with
//! one event's JSON, built either from a script's handler (`.post(URL)
//! .header(...)`) or from a topic handler's options (`kind: post`,
//! `options: {url: ..., headers: {...}}`), so both run the same code.
//!
//! Every action has a timeout: `.post()` 10 s unless `.timeout()` (or the
//! `timeout` option) says otherwise, `.tcp()` 10 s to connect and write,
//! `.exec()` 10 s, after which the program is killed.

use std::path::Path;
use std::time::Duration;

use dsl::{HandlerSpec, Value};
use pipeline::spec::BuildError;
use serde_json::{Map, Value as Json};
use tokio::io::AsyncWriteExt as _;

use crate::effects::endpoints::HttpEndpoints;
use crate::effects::http_client::{HttpClient, Tls};

pub(crate) const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `.tcp()` may take to connect and write an event.
pub(crate) const TCP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an `.exec()` program may run before it is killed (Kapacitor
/// has no such property, and waits forever).
pub(crate) const EXEC_TIMEOUT: Duration = Duration::from_secs(10);
/// A log file's mode when none is given (Kapacitor's).
const DEFAULT_LOG_MODE: u32 = 0o600;

/// What a handler does with one event's JSON.
pub(crate) enum Action {
    Post {
        url: String,
        headers: Vec<(String, String)>,
        tls: Tls,
        timeout: Duration,
    },
    Tcp {
        addr: String,
    },
    Log {
        path: String,
        mode: Option<u32>,
    },
    Exec {
        program: String,
        args: Vec<String>,
    },
}

/// The (first) value of handler property `name`, if set.
fn setting<'a>(h: &'a HandlerSpec, name: &str) -> Option<&'a Value> {
    h.properties
        .iter()
        .find(|p| p.name == name)
        .and_then(|p| p.args.first())
}

impl Action {
    /// The action of a script's handler `h` of alert node `node`.
    pub(crate) fn from_spec(
        node: &str,
        h: &HandlerSpec,
        endpoints: &HttpEndpoints,
    ) -> Result<Action, BuildError> {
        let invalid = |message: String| BuildError::at(node, h.span, message);
        let string = |v: Option<&Value>, what: &str| match v {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(invalid(format!(".{}() needs {what}", h.kind))),
        };
        Ok(match h.kind.as_str() {
            "post" => {
                let endpoint = match h.properties.iter().find(|p| p.name == "endpoint") {
                    Some(p) => {
                        let name = string(p.args.first(), "an endpoint name")?;
                        Some(endpoints.get(&name).ok_or_else(|| {
                            BuildError::at(
                                node,
                                p.span,
                                format!("no endpoint named `{name}` in the config's `httppost`"),
                            )
                        })?)
                    }
                    None => None,
                };
                // A URL or an endpoint, not both: `dsl::compile` checks.
                let (url, mut headers) = match endpoint {
                    Some(e) => (e.url, e.headers),
                    None => (string(h.args.first(), "a URL")?, Vec::new()),
                };
                for p in h.properties.iter().filter(|p| p.name == "header") {
                    match (p.args.first(), p.args.get(1)) {
                        (Some(Value::String(k)), Some(Value::String(v))) => {
                            headers.retain(|(old, _)| !old.eq_ignore_ascii_case(k));
                            headers.push((k.clone(), v.clone()))
                        }
                        _ => {
                            return Err(invalid(
                                ".post().header() takes a name and a value".into(),
                            ));
                        }
                    }
                }
                let tls = Tls::skipping_verification(
                    h.properties.iter().any(|p| p.name == "skipSSLVerification"),
                );
                // Positive: `dsl::compile` checks.
                let timeout = match setting(h, "timeout") {
                    Some(Value::Duration(ns)) => u64::try_from(*ns).ok(),
                    _ => None,
                }
                .map_or(POST_TIMEOUT, Duration::from_nanos);
                Action::Post {
                    url,
                    headers,
                    tls,
                    timeout,
                }
            }
            "tcp" => Action::Tcp {
                addr: string(h.args.first(), "an address host:port")?,
            },
            "log" => {
                let mode = match setting(h, "mode") {
                    Some(Value::Int(m)) => u32::try_from(*m).ok(),
                    _ => None,
                };
                Action::Log {
                    path: string(h.args.first(), "a file path")?,
                    mode,
                }
            }
            "exec" => {
                let program = string(h.args.first(), "a program")?;
                let args = h.args[1..]
                    .iter()
                    .map(|a| string(Some(a), "string arguments"))
                    .collect::<Result<_, _>>()?;
                Action::Exec { program, args }
            }
            other => {
                return Err(invalid(format!(
                    "the .{other}() alert handler is not supported yet (post, tcp, log and exec are)"
                )));
            }
        })
    }

    /// Does it with one event's JSON; the error says why not.
    pub(crate) async fn run(&self, json: &str) -> Result<(), String> {
        match self {
            Action::Post {
                url,
                headers,
                tls,
                timeout,
            } => {
                let answer = HttpClient::new(*tls)
                    .post(
                        url,
                        headers,
                        "application/json",
                        json.as_bytes().to_vec(),
                        *timeout,
                    )
                    .await?;
                if (200..300).contains(&answer.status) {
                    Ok(())
                } else {
                    // The answer's body says why (`.captureResponse()` in
                    // Kapacitor; here always).
                    Err(format!(
                        "post {url}: {} {}",
                        answer.status,
                        answer.body.trim()
                    ))
                }
            }
            Action::Tcp { addr } => {
                let send = async {
                    let mut stream = tokio::net::TcpStream::connect(addr.as_str()).await?;
                    stream.write_all(json.as_bytes()).await?;
                    stream.write_all(b"\n").await?;
                    stream.shutdown().await
                };
                tokio::time::timeout(TCP_TIMEOUT, send)
                    .await
                    .map_err(|_| format!("tcp {addr}: timed out after {TCP_TIMEOUT:?}"))?
                    .map_err(|e| format!("tcp {addr}: {e}"))
            }
            Action::Log { path, mode } => {
                let mut options = tokio::fs::OpenOptions::new();
                options.create(true).append(true);
                #[cfg(unix)]
                options.mode(mode.unwrap_or(0o600));
                #[cfg(not(unix))]
                let _ = mode;
                let mut file = options
                    .open(path)
                    .await
                    .map_err(|e| format!("log {path}: {e}"))?;
                file.write_all(format!("{json}\n").as_bytes())
                    .await
                    .map_err(|e| format!("log {path}: {e}"))
            }
            Action::Exec { program, args } => {
                let mut child = tokio::process::Command::new(program)
                    .args(args)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::null())
                    // Abandoned at a stop: the program goes too.
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| format!("exec {program}: {e}"))?;
                let run = async {
                    if let Some(mut stdin) = child.stdin.take() {
                        // A program that does not read its input is fine.
                        let _ = stdin.write_all(json.as_bytes()).await;
                    }
                    child.wait().await
                };
                let status = match tokio::time::timeout(EXEC_TIMEOUT, run).await {
                    Ok(status) => status.map_err(|e| format!("exec {program}: {e}"))?,
                    Err(_) => {
                        let _ = child.kill().await;
                        return Err(format!(
                            "exec {program}: killed, still running after {EXEC_TIMEOUT:?}"
                        ));
                    }
                };
                if status.success() {
                    Ok(())
                } else {
                    Err(format!("exec {program}: {status}"))
                }
            }
        }
    }
}

/// The kinds [`Action::from_options`] builds.
pub(crate) const KINDS: &[&str] = &["post", "tcp", "log", "exec"];

/// Reads a topic handler's options, refusing (as Kapacitor's decoder does)
/// keys the kind does not have.
struct Options<'a> {
    kind: &'a str,
    map: &'a Map<String, Json>,
}

impl<'a> Options<'a> {
    fn check_keys(&self, known: &[&str]) -> Result<(), String> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(format!(
                "{} handler: unknown option {k:?} (it has {})",
                self.kind,
                known.join(", ")
            )),
            None => Ok(()),
        }
    }

    fn string(&self, key: &str) -> Result<Option<&'a str>, String> {
        match self.map.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(other) => Err(format!(
                "{} handler: option {key:?} must be a string, not {other}",
                self.kind
            )),
        }
    }

    fn required(&self, key: &str) -> Result<&'a str, String> {
        self.string(key)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("{} handler: option {key:?} is required", self.kind))
    }

    fn bool(&self, key: &str) -> Result<bool, String> {
        match self.map.get(key) {
            None | Some(Json::Null) => Ok(false),
            Some(Json::Bool(b)) => Ok(*b),
            Some(other) => Err(format!(
                "{} handler: option {key:?} must be true or false, not {other}",
                self.kind
            )),
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, String> {
        match self.map.get(key) {
            None | Some(Json::Null) => Ok(Vec::new()),
            Some(Json::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Json::String(s) => Ok(s.clone()),
                    other => Err(format!(
                        "{} handler: option {key:?} must be a list of strings, not {other}",
                        self.kind
                    )),
                })
                .collect(),
            Some(other) => Err(format!(
                "{} handler: option {key:?} must be a list of strings, not {other}",
                self.kind
            )),
        }
    }

    /// A duration: nanoseconds (as Kapacitor's options give them) or text
    /// such as `10s`.
    fn duration(&self, key: &str) -> Result<Option<Duration>, String> {
        duration_option(self.kind, key, self.map.get(key))
    }
}

/// A duration option: nanoseconds, or text such as `10s`; `None` when
/// absent. Zero and negative durations are refused.
pub(crate) fn duration_option(
    kind: &str,
    key: &str,
    value: Option<&Json>,
) -> Result<Option<Duration>, String> {
    let bad = |why: String| format!("{kind} handler: option {key:?} {why}");
    let d = match value {
        None | Some(Json::Null) => return Ok(None),
        Some(Json::Number(n)) => match n.as_u64() {
            Some(ns) => Duration::from_nanos(ns),
            None => return Err(bad(format!("must be a positive duration, not {n}"))),
        },
        Some(Json::String(s)) => config::parse_duration(s).map_err(bad)?,
        Some(other) => return Err(bad(format!("must be a duration, not {other}"))),
    };
    if d.is_zero() {
        return Err(bad("must be more than zero".into()));
    }
    Ok(Some(d))
}

impl Action {
    /// The action of a topic handler of `kind` with `options` (Kapacitor's
    /// option names), or why it cannot be built.
    pub(crate) fn from_options(
        kind: &str,
        options: &Map<String, Json>,
        endpoints: &HttpEndpoints,
    ) -> Result<Action, String> {
        let o = Options { kind, map: options };
        Ok(match kind {
            "post" => {
                o.check_keys(&[
                    "url",
                    "endpoint",
                    "headers",
                    "capture-response",
                    "timeout",
                    "skip-ssl-verification",
                    // As Kapacitor's documentation spells it.
                    "skipSSLVerification",
                ])?;
                let (url, mut headers) = match (o.string("url")?, o.string("endpoint")?) {
                    (_, Some(name)) if !name.is_empty() => {
                        let e = endpoints.get(name).ok_or_else(|| {
                            format!("post handler: no endpoint named {name:?} in the config's `httppost`")
                        })?;
                        (e.url, e.headers)
                    }
                    (Some(url), _) if !url.is_empty() => (url.to_owned(), Vec::new()),
                    _ => {
                        return Err(
                            "post handler: option \"url\" or \"endpoint\" is required".into()
                        );
                    }
                };
                match options.get("headers") {
                    None | Some(Json::Null) => {}
                    Some(Json::Object(given)) => {
                        for (k, v) in given {
                            let Json::String(v) = v else {
                                return Err(format!(
                                    "post handler: header {k:?} must be a string, not {v}"
                                ));
                            };
                            headers.retain(|(old, _)| !old.eq_ignore_ascii_case(k));
                            headers.push((k.clone(), v.clone()));
                        }
                    }
                    Some(other) => {
                        return Err(format!(
                            "post handler: option \"headers\" must be a mapping, not {other}"
                        ));
                    }
                }
                // Answers that are not 2xx are always logged with their body.
                o.bool("capture-response")?;
                let skip = o.bool("skip-ssl-verification")? || o.bool("skipSSLVerification")?;
                Action::Post {
                    url,
                    headers,
                    tls: Tls::skipping_verification(skip),
                    timeout: o.duration("timeout")?.unwrap_or(POST_TIMEOUT),
                }
            }
            "tcp" => {
                o.check_keys(&["address"])?;
                Action::Tcp {
                    addr: o.required("address")?.to_owned(),
                }
            }
            "log" => {
                o.check_keys(&["path", "mode"])?;
                let path = o.required("path")?;
                if !Path::new(path).is_absolute() {
                    return Err(format!(
                        "log handler: log path must be absolute: {path} is not absolute"
                    ));
                }
                let mode = match options.get("mode") {
                    None | Some(Json::Null) => DEFAULT_LOG_MODE,
                    Some(Json::Number(n)) => n
                        .as_u64()
                        .and_then(|m| u32::try_from(m).ok())
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| format!("log handler: invalid file mode {n}"))?,
                    // `"0644"`: octal, as written.
                    Some(Json::String(s)) => u32::from_str_radix(s.trim_start_matches("0o"), 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| format!("log handler: invalid file mode {s:?}"))?,
                    Some(other) => return Err(format!("log handler: invalid file mode {other}")),
                };
                if mode & 0o200 == 0 {
                    return Err(format!(
                        "log handler: invalid file mode {mode:#o}, must be user writable"
                    ));
                }
                Action::Log {
                    path: path.to_owned(),
                    mode: Some(mode),
                }
            }
            "exec" => {
                o.check_keys(&["prog", "args"])?;
                Action::Exec {
                    program: o.required("prog")?.to_owned(),
                    args: o.strings("args")?,
                }
            }
            other => return Err(format!("{other} is not a post, tcp, log or exec handler")),
        })
    }
}
