//! DNS-rebinding protection. With auth off, a web page the user visits
//! could otherwise rebind its own name to 127.0.0.1 and post tasks (an
//! `.exec()` among them) to the API. Such a request carries the page's
//! name in `Host`: a name in a public domain, so with auth off a dotted
//! name is served only when it is in `http.allowed_hosts` (or is
//! `localhost`). IP addresses and single-label names (`kapacitor` in a
//! Docker network), which no foreign page can make its own, are served.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use ingest::http::json_error;

/// Which `Host` names are served.
pub struct HostCheck {
    /// Off when auth is on (credentials already stop a foreign page) or
    /// `allowed_hosts` holds `*`.
    active: bool,
    allowed: Vec<String>,
    refused: AtomicU64,
}

impl HostCheck {
    pub fn from_config(config: &config::DaemonConfig) -> Self {
        let allowed: Vec<String> = config
            .http
            .allowed_hosts
            .iter()
            .map(|h| normalise(h))
            .collect();
        HostCheck {
            active: !config.auth.enabled && !allowed.iter().any(|h| h == "*"),
            allowed,
            refused: AtomicU64::new(0),
        }
    }

    /// Requests refused for their `Host`.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Whether a request whose `Host` (or absolute URI authority) is
    /// `host` is served; no host at all (HTTP/1.0) is, as no browser sends
    /// such a request.
    fn allows(&self, host: Option<&str>) -> bool {
        let Some(host) = host else { return true };
        let name = normalise(strip_port(host));
        name.starts_with('[') // an IPv6 literal
            || name.parse::<Ipv4Addr>().is_ok()
            || !name.contains('.')
            || name.ends_with(".localhost")
            || self.allowed.contains(&name)
    }
}

/// Lower case, without the trailing dot of a fully qualified name.
fn normalise(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// `name:port` → `name`; `[v6]:port` → `[v6]`.
fn strip_port(host: &str) -> &str {
    if let Some(end) = host.find(']') {
        return &host[..=end];
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Middleware: answers 403 to a request for a name that is not served.
pub async fn require(State(check): State<Arc<HostCheck>>, req: Request, next: Next) -> Response {
    if !check.active {
        return next.run(req).await;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    if check.allows(host) {
        return next.run(req).await;
    }
    check.refused.fetch_add(1, Ordering::Relaxed);
    let host = host.unwrap_or_default();
    tracing::warn!(
        host,
        path = req.uri().path(),
        "refused a request for an unknown host name"
    );
    json_error(
        StatusCode::FORBIDDEN,
        format!(
            "host {host:?} is not served: with auth off, a dotted host name must be listed in \
             http.allowed_hosts (protection against DNS rebinding); add it there or turn auth on"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(allowed: &[&str], auth: bool) -> HostCheck {
        let mut c = config::DaemonConfig::default();
        c.http.allowed_hosts = allowed.iter().map(|s| s.to_string()).collect();
        c.auth.enabled = auth;
        HostCheck::from_config(&c)
    }

    #[test]
    fn loopback_addresses_and_listed_names_are_served_other_names_are_not() {
        let c = check(&["Kapacitor.Example.com."], false);
        for ok in [
            "127.0.0.1:9092",
            "localhost:9092",
            "LOCALHOST",
            "app.localhost",
            "[::1]:9092",
            "10.1.2.3",
            "kapacitor.example.com:9092",
            "kapacitor.example.com.",
            "kapacitor:9092",
        ] {
            assert!(c.allows(Some(ok)), "{ok}");
        }
        assert!(c.allows(None));
        for refused in [
            "evil.example",
            "evil.example:9092",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
        ] {
            assert!(!c.allows(Some(refused)), "{refused}");
        }
        assert!(c.active);
    }

    #[test]
    fn auth_on_or_a_star_turns_the_check_off() {
        assert!(!check(&[], true).active);
        assert!(!check(&["*"], false).active);
    }
}
