//! A blocking HTTP/1 client for worker threads (alert handlers, output
//! nodes): each worker owns one, with its own single-threaded runtime, so
//! nothing it waits for touches the server's runtime or a task's thread.

use std::time::Duration;

use http_body_util::BodyExt as _;

pub struct HttpClient {
    runtime: Option<tokio::runtime::Runtime>,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
}

/// An answer: its status and (a bounded start of) its body.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// Most of an answer's body kept, for error messages.
const BODY_KEPT: usize = 4096;

impl HttpClient {
    pub fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        HttpClient { runtime, client }
    }

    /// POSTs `body` to `url` and waits at most `timeout` for the answer.
    /// `Err` when no answer came (refused, timed out, bad URL).
    pub fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        content_type: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Answer, String> {
        let runtime = self.runtime.as_ref().ok_or("no runtime for HTTP posts")?;
        let mut request = hyper::Request::post(url).header("content-type", content_type);
        for (k, v) in headers {
            request = request.header(k.as_str(), v.as_str());
        }
        let request = request
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .map_err(|e| format!("post {url}: {e}"))?;
        runtime.block_on(async {
            tokio::time::timeout(timeout, async {
                let response = self
                    .client
                    .request(request)
                    .await
                    .map_err(|e| format!("post {url}: {e}"))?;
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
        })
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}
