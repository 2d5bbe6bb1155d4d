//! The CLI's HTTP client: one request at a time to the kapacitord API, with
//! credentials taken from the URL (`http://user:pass@host:9092`) when given.
//! `https://` URLs are checked against the system's roots (`SSL_CERT_FILE`
//! and `SSL_CERT_DIR` are honoured) or, with `--ca`, against that CA only.

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::{Context, bail};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::Connect;
use hyper_util::rt::TokioExecutor;

/// The CA file `--ca` names, set once at start.
static CA: OnceLock<PathBuf> = OnceLock::new();

/// Trust only the CA certificates (PEM) in `path` for `https://` URLs.
pub fn trust_ca(path: PathBuf) {
    let _ = CA.set(path);
}

type Https = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

fn https_connector() -> anyhow::Result<Https> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let Some(path) = CA.get() else {
        return Ok(crate::effects::http_client::connector(
            crate::effects::http_client::Tls::Verify,
        ));
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("--ca {}: cannot read it", path.display()))?;
    for cert in certs {
        let cert = cert.with_context(|| format!("--ca {}: not PEM", path.display()))?;
        roots
            .add(cert)
            .with_context(|| format!("--ca {}: not a CA certificate", path.display()))?;
    }
    if roots.is_empty() {
        bail!("--ca {}: holds no certificate", path.display());
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .build())
}

async fn exchange<C>(
    client: Client<C, Full<Bytes>>,
    request: Request<Full<Bytes>>,
    base: &str,
) -> anyhow::Result<Reply>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let response = client
        .request(request)
        .await
        .map_err(|e| anyhow::anyhow!("{}", causes(&e)))
        .with_context(|| format!("cannot reach kapacitord at {base}"))?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Reply { status, body })
}

/// An error and its causes: hyper's own message ("client error
/// (Connect)") says little without the TLS or I/O error under it.
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

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
    let scheme = match base_uri.scheme_str() {
        Some(s @ ("http" | "https")) => s,
        _ => bail!("--url {base:?}: only http:// and https:// URLs are supported"),
    };
    let authority = base_uri.authority().context("--url has no host")?;
    let (credentials, host) = match authority.as_str().rsplit_once('@') {
        Some((userinfo, host)) => (Some(userinfo.to_string()), host.to_string()),
        None => (None, authority.as_str().to_string()),
    };
    let prefix = base_uri.path().trim_end_matches('/');
    let uri: Uri = format!("{scheme}://{host}{prefix}{path_and_query}")
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
        let builder = Client::builder(TokioExecutor::new());
        if scheme == "https" {
            exchange(builder.build(https_connector()?), request, base).await
        } else {
            exchange(builder.build_http(), request, base).await
        }
    })
}
