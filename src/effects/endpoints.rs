//! The config's named HTTP endpoints (`httppost`), as httpPost's
//! `.endpoint(NAME)` and alert `.post().endpoint(NAME)` find them: a URL and
//! the headers to send, basic-auth credentials already made a header.

use config::HttpPostConfig;
use pipeline::build::HttpEndpoint;

/// Every named endpoint, looked up by name.
#[derive(Debug, Default, Clone)]
pub struct HttpEndpoints {
    named: Vec<(String, HttpEndpoint)>,
    /// What a name that is not configured finds; `None`: nothing.
    any: Option<HttpEndpoint>,
}

impl HttpEndpoints {
    pub fn from_config(endpoints: &[HttpPostConfig]) -> Self {
        let named = endpoints
            .iter()
            .map(|e| {
                let mut headers = Vec::with_capacity(e.headers.len() + 1);
                if !e.username.is_empty() {
                    headers.push((
                        "Authorization".to_owned(),
                        basic_auth(&e.username, &e.password),
                    ));
                }
                headers.extend(e.headers.iter().cloned());
                let endpoint = HttpEndpoint {
                    url: e.url.clone(),
                    headers,
                };
                (e.endpoint.clone(), endpoint)
            })
            .collect();
        HttpEndpoints { named, any: None }
    }

    /// Every name is an endpoint at `url`, without headers: `kapacitor test`
    /// sends what a task posts to any endpoint to its own sink.
    pub fn any_name(url: &str) -> Self {
        HttpEndpoints {
            named: Vec::new(),
            any: Some(HttpEndpoint {
                url: url.to_owned(),
                headers: Vec::new(),
            }),
        }
    }

    pub fn get(&self, name: &str) -> Option<HttpEndpoint> {
        self.named
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.clone())
            .or_else(|| self.any.clone())
    }
}

/// The `Authorization` header value of HTTP basic auth.
pub fn basic_auth(username: &str, password: &str) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_become_a_header_before_the_configured_ones() {
        let endpoints = HttpEndpoints::from_config(&[HttpPostConfig {
            endpoint: "hook".into(),
            url: "http://127.0.0.1:1/".into(),
            headers: vec![("X-A".into(), "b".into())],
            username: "u".into(),
            password: "p".into(),
        }]);
        let hook = endpoints.get("hook").expect("configured");
        assert_eq!(hook.url, "http://127.0.0.1:1/");
        assert_eq!(
            hook.headers,
            [
                ("Authorization".to_string(), "Basic dTpw".to_string()),
                ("X-A".to_string(), "b".to_string())
            ]
        );
        assert_eq!(endpoints.get("other"), None);
    }
}
