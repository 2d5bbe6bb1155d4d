//! The CLI's HTTP client: one request at a time to the kapacitord API, with
//! credentials taken from the URL (`http://user:pass@host:9092`) when given.

use anyhow::{Context, bail};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Reply {
    /// The `error` of a JSON error body, or the body as text.
    pub fn error_text(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| text.trim().to_string())
    }

    /// Fails with the server's own error text unless the status is 2xx.
    pub fn ok(self) -> anyhow::Result<Reply> {
        if self.status.is_success() {
            Ok(self)
        } else {
            bail!("{} ({})", self.error_text(), self.status)
        }
    }
}

/// Sends one request to `base` + `path_and_query` and reads the reply.
pub fn send(
    method: Method,
    base: &str,
    path_and_query: &str,
    body: Vec<u8>,
) -> anyhow::Result<Reply> {
    send_typed(method, base, path_and_query, body, None)
}

/// Sends `value` as a JSON body.
pub fn send_json(
    method: Method,
    base: &str,
    path_and_query: &str,
    value: &serde_json::Value,
) -> anyhow::Result<Reply> {
    let body = serde_json::to_vec(value)?;
    send_typed(method, base, path_and_query, body, Some("application/json"))
}

fn send_typed(
    method: Method,
    base: &str,
    path_and_query: &str,
    body: Vec<u8>,
    content_type: Option<&str>,
) -> anyhow::Result<Reply> {
    let base_uri: Uri = base
        .parse()
        .with_context(|| format!("invalid --url {base:?}"))?;
    if base_uri.scheme_str() != Some("http") {
        bail!("--url {base:?}: only http:// URLs are supported");
    }
    let authority = base_uri.authority().context("--url has no host")?;
    let (credentials, host) = match authority.as_str().rsplit_once('@') {
        Some((userinfo, host)) => (Some(userinfo.to_string()), host.to_string()),
        None => (None, authority.as_str().to_string()),
    };
    let prefix = base_uri.path().trim_end_matches('/');
    let uri: Uri = format!("http://{host}{prefix}{path_and_query}")
        .parse()
        .context("cannot build the request URL")?;
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(userinfo) = credentials {
        let encoded = base64::engine::general_purpose::STANDARD.encode(userinfo);
        request = request.header("authorization", format!("Basic {encoded}"));
    }
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let request = request.body(Full::new(Bytes::from(body)))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = Client::builder(TokioExecutor::new()).build_http();
        let response = client
            .request(request)
            .await
            .with_context(|| format!("cannot reach kapacitord at {base}"))?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Reply { status, body })
    })
}
