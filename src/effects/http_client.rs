//! The HTTP/1 client, `http://` and `https://`, of every alert handler and
//! output node: async, on the effects runtime ([`crate::effects`]), with one
//! connection pool per kind of certificate check for the whole process.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::BodyExt as _;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;

type Client = hyper_util::client::legacy::Client<
    HttpsConnector<HttpConnector>,
    http_body_util::Full<bytes::Bytes>,
>;

/// The shared client that checks certificates as `tls` says.
#[derive(Clone, Copy, Debug)]
pub struct HttpClient {
    tls: Tls,
}

/// An answer: its status and (a bounded start of) its body.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// Most of an answer's body kept, for error messages.
const BODY_KEPT: usize = 4096;

/// Whether an `https://` server's certificate is checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tls {
    /// Against the system's trusted roots (`SSL_CERT_FILE` and
    /// `SSL_CERT_DIR` are honoured), or Mozilla's when the system has none.
    #[default]
    Verify,
    /// Not at all (`.skipSSLVerification()`): any certificate for any name,
    /// though the handshake's signatures are still checked.
    SkipVerify,
}

impl Tls {
    /// [`Tls::SkipVerify`] when `skip` (the script or config asked), else
    /// [`Tls::Verify`].
    pub fn skipping_verification(skip: bool) -> Tls {
        if skip { Tls::SkipVerify } else { Tls::Verify }
    }
}

impl HttpClient {
    /// The client for `http://` and `https://` URLs.
    pub fn new(tls: Tls) -> Self {
        HttpClient { tls }
    }

    /// The process's pool for this kind of check, made on first use.
    fn pool(&self) -> &'static Client {
        static VERIFY: OnceLock<Client> = OnceLock::new();
        static SKIP_VERIFY: OnceLock<Client> = OnceLock::new();
        let cell = match self.tls {
            Tls::Verify => &VERIFY,
            Tls::SkipVerify => &SKIP_VERIFY,
        };
        cell.get_or_init(|| {
            // Connections are driven by tasks of the effects runtime,
            // whichever thread first asked.
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector(self.tls))
        })
    }

    /// POSTs `body` to `url` and waits at most `timeout` for the answer.
    /// `Err` when no answer came (refused, timed out, bad URL). Must run
    /// on the effects runtime.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        content_type: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Answer, String> {
        let mut request = hyper::Request::post(url).header("content-type", content_type);
        for (k, v) in headers {
            request = request.header(k.as_str(), v.as_str());
        }
        let request = request
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .map_err(|e| format!("post {url}: {e}"))?;
        tokio::time::timeout(timeout, async {
            let response = self
                .pool()
                .request(request)
                .await
                .map_err(|e| format!("post {url}: {}", causes(&e)))?;
            let status = response.status().as_u16();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let kept = &bytes[..bytes.len().min(BODY_KEPT)];
            Ok(Answer {
                status,
                body: String::from_utf8_lossy(kept).into_owned(),
            })
        })
        .await
        .map_err(|_| format!("post {url}: timed out after {timeout:?}"))?
    }
}

impl HttpClient {
    /// Sends a `method` request with `body` to `url` and reads the whole
    /// answer, refusing one whose body is larger than `limit` bytes; waits
    /// at most `timeout` for all of it. `Err` when no whole answer came.
    /// Must run on the effects runtime.
    pub async fn send(
        &self,
        method: hyper::Method,
        url: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
        timeout: Duration,
        limit: usize,
    ) -> Result<(u16, bytes::Bytes), String> {
        let mut request = hyper::Request::builder().method(method.clone()).uri(url);
        for (k, v) in headers {
            request = request.header(k.as_str(), v.as_str());
        }
        let request = request
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .map_err(|e| format!("{method} {url}: {e}"))?;
        tokio::time::timeout(timeout, async {
            let response = self
                .pool()
                .request(request)
                .await
                .map_err(|e| format!("{method} {url}: {}", causes(&e)))?;
            let status = response.status().as_u16();
            let mut body = response.into_body();
            let mut out = bytes::BytesMut::new();
            while let Some(frame) = body.frame().await {
                let frame = frame
                    .map_err(|e| format!("{method} {url}: reading the answer: {}", causes(&e)))?;
                if let Ok(data) = frame.into_data() {
                    if out.len() + data.len() > limit {
                        return Err(format!(
                            "{method} {url}: the answer is larger than {limit} bytes"
                        ));
                    }
                    out.extend_from_slice(&data);
                }
            }
            Ok((status, out.freeze()))
        })
        .await
        .map_err(|_| format!("{method} {url}: timed out after {timeout:?}"))?
    }
}

/// An error and what caused it, down to the root: hyper's own message
/// ("client error (Connect)") says little without the TLS or I/O error.
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

pub(crate) fn connector(tls: Tls) -> HttpsConnector<HttpConnector> {
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match tls {
        Tls::Verify => builder.with_native_roots().unwrap_or_else(|e| {
            tracing::debug!("no system TLS roots ({e}); using Mozilla's");
            hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots()
        }),
        Tls::SkipVerify => {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map(|b| {
                    b.dangerous()
                        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                        .with_no_client_auth()
                });
            match config {
                Ok(config) => builder.with_tls_config(config),
                Err(e) => {
                    tracing::warn!("TLS without verification unavailable ({e}); verifying");
                    return connector(Tls::Verify);
                }
            }
        }
    };
    builder.https_or_http().enable_http1().build()
}

/// Accepts any server certificate for any name, checking only that the
/// server holds its key (the handshake signatures), as Go's
/// `InsecureSkipVerify` does for Kapacitor's `.skipSSLVerification()`.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
