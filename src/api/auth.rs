//! Optional authentication over the write routes and the API alike, in the
//! forms InfluxDB 1.x clients send: `Authorization: Basic`, `Token
//! user:password` (the v2 compatibility API), `Token <token>` / `Bearer
//! <token>`, and `?u=&p=` query parameters. `/ping` stays open, as in
//! InfluxDB, so health checks need no credentials.
//!
//! Secrets are compared in time that does not depend on where they differ,
//! and a refused request is counted and logged without what it sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use ingest::http::json_error;

/// The credentials a server accepts; `None` when auth is off.
pub struct Auth {
    credentials: Option<Credentials>,
    failures: AtomicU64,
}

struct Credentials {
    users: Vec<(String, String)>,
    tokens: Vec<String>,
}

impl Auth {
    pub fn from_config(cfg: &config::AuthConfig) -> Self {
        let credentials = cfg.enabled.then(|| Credentials {
            users: cfg
                .users
                .iter()
                .map(|u| (u.username.clone(), u.password.clone()))
                .collect(),
            tokens: cfg.tokens.clone(),
        });
        Auth {
            credentials,
            failures: AtomicU64::new(0),
        }
    }

    /// Requests refused for missing or wrong credentials.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

/// Whether `a == b`, looking at every byte of the longer one whatever the
/// answer, so the time taken does not tell how much of a guess was right.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    std::hint::black_box(diff) == 0
}

/// Whether any of `candidates` matches: every one is compared, so the time
/// does not tell which (or whether one) did.
fn any_matches<'a>(candidates: impl Iterator<Item = bool> + 'a) -> bool {
    candidates.fold(false, |found, m| found | m)
}

impl Credentials {
    fn user(&self, name: &str, password: &str) -> bool {
        any_matches(
            self.users
                .iter()
                .map(|(u, p)| same_secret(u, name) & same_secret(p, password)),
        )
    }

    fn allows(&self, req: &Request) -> bool {
        if let Some(value) = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
            let rest = rest.trim();
            if scheme.eq_ignore_ascii_case("basic") {
                let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest) else {
                    return false;
                };
                let decoded = String::from_utf8_lossy(&decoded);
                let (user, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
                return self.user(user, password);
            }
            if scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer") {
                if any_matches(self.tokens.iter().map(|t| same_secret(t, rest))) {
                    return true;
                }
                return rest.split_once(':').is_some_and(|(u, p)| self.user(u, p));
            }
            return false;
        }
        let query = req.uri().query().unwrap_or("");
        let params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        match (get("u"), get("p")) {
            (Some(u), Some(p)) => self.user(u, p),
            _ => false,
        }
    }
}

fn is_open_route(path: &str) -> bool {
    matches!(path, "/ping" | "/kapacitor/v1/ping")
}

/// Middleware: passes the request on when auth is off, the route is open, or
/// the credentials match; answers 401 JSON otherwise.
pub async fn require(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    let Some(credentials) = &auth.credentials else {
        return next.run(req).await;
    };
    if is_open_route(req.uri().path()) || credentials.allows(&req) {
        return next.run(req).await;
    }
    let has_credentials = req.headers().contains_key(header::AUTHORIZATION)
        || req.uri().query().is_some_and(|q| q.contains("u="));
    let message = if has_credentials {
        "authorization failed"
    } else {
        "unable to parse authentication credentials"
    };
    auth.failures.fetch_add(1, Ordering::Relaxed);
    // Never what was sent: a mistyped password is often a real one.
    tracing::warn!(
        method = %req.method(),
        path = req.uri().path(),
        "refused a request: {message}"
    );
    let mut response = json_error(StatusCode::UNAUTHORIZED, message);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"kapacitord\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_secret_is_equality() {
        assert!(same_secret("", ""));
        assert!(same_secret("s3cr3t", "s3cr3t"));
        assert!(!same_secret("s3cr3t", "s3cr3u"));
        assert!(!same_secret("s3cr3t", "s3cr3"));
        assert!(!same_secret("s3cr3", "s3cr3t"));
        assert!(!same_secret("", "x"));
        // A longer guess whose extra bytes are NUL is still wrong.
        assert!(!same_secret("ab", "ab\0"));
    }
}
