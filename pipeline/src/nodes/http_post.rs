//! `httpPost(url)`: POSTs each point or batch, as Kapacitor's result JSON
//! `{"series":[{name, tags, columns, values}]}`, to `url` with the
//! `.header(k, v)`s, and passes the data on unchanged. The URL is given, or
//! is that of a named endpoint of the config (`.endpoint(NAME)`, whose
//! headers and credentials come along). It may be a
//! template of the measurement and tags, as in Kapacitor:
//! `'http://hook/{{.Name}}?host={{index .Tags "host"}}'`. The POST happens
//! off the data path (see [`crate::output`]): a slow endpoint costs the task
//! nothing, and what its queue cannot hold is dropped and counted. Unless
//! `.codeField(NAME)` asks for each answer's status as a field (0 when none
//! came): then each post is made on the task's thread, which waits for it,
//! as in Kapacitor, so a slow endpoint slows the task.
//! `.captureResponse()` is accepted and changes nothing: an answer other
//! than 2xx is always logged with its body. `https://` certificates are
//! checked unless `.skipSSLVerification()`.

use std::sync::Arc;

use dsl::{NodeSpec, Value};

use crate::batch::Message;
use crate::build::TaskEnv;
use crate::node::{Node, NodeError};
use crate::nodes::alert::{Template, TemplateData, TemplateKind};
use crate::output::{Output, OutputSpec, Payload};
use crate::point::{FieldValue, Fields, Name, Tags};
use crate::result::{Result as Rows, Series};
use crate::spec::{BuildError, SpecExt};

pub struct HttpPostNode {
    output: Arc<dyn Output>,
    /// The URL when it is a template; `None`: the output's own URL.
    url: Option<Template>,
    /// `.codeField(NAME)`: wait for each answer and add its status (0 for
    /// none) to the data as this integer field.
    code_field: Option<Name>,
}

impl HttpPostNode {
    /// The node of `spec`: its URL (given, or an endpoint's from the
    /// config) parsed as a template, and its output from `env`.
    pub fn build(spec: &NodeSpec, env: &dyn TaskEnv) -> Result<Self, BuildError> {
        let output = Self::output_spec(spec, env)?;
        let OutputSpec::HttpPost { url, .. } = &output else {
            unreachable!("output_spec makes an HttpPost");
        };
        // A URL of the script that does not parse was refused by
        // `dsl::compile`; an endpoint's comes from the config.
        let url = Template::parse(TemplateKind::Url, url).map_err(|e| {
            if e.syntax && spec.arg(0).is_some() {
                BuildError::unchecked(spec, "the URL template")
            } else {
                BuildError::invalid(spec, format!("httpPost: {e}"))
            }
        })?;
        Ok(HttpPostNode {
            output: env.output(spec, output)?,
            url: (!url.is_literal()).then_some(url),
            code_field: spec
                .prop_string("codeField")?
                .map(|f| Name::from(f.as_str())),
        })
    }

    /// What the node asks of the server: where to post, with what headers.
    /// An endpoint's headers come first; the node's own `.header()`s win.
    pub fn output_spec(spec: &NodeSpec, env: &dyn TaskEnv) -> Result<OutputSpec, BuildError> {
        let endpoint = match spec.prop_string("endpoint")? {
            Some(name) => Some(env.http_endpoint(&name).ok_or_else(|| {
                BuildError::property(
                    spec,
                    "endpoint",
                    format!("no endpoint named `{name}` in the config's `httppost`"),
                )
            })?),
            None => None,
        };
        let (url, mut headers) = match (spec.arg(0), endpoint) {
            (Some(Value::String(url)), None) => (url.clone(), Vec::new()),
            (None, Some(e)) => (e.url, e.headers),
            _ => return Err(BuildError::unchecked(spec, "the URL or .endpoint()")),
        };
        for p in spec.properties.iter().filter(|p| p.name == "header") {
            if let [Value::String(k), Value::String(v)] = &p.args[..] {
                headers.retain(|(old, _)| !old.eq_ignore_ascii_case(k));
                headers.push((k.clone(), v.clone()));
            }
        }
        Ok(OutputSpec::HttpPost {
            url,
            headers,
            timeout: spec.prop_duration("timeout")?,
            skip_tls_verify: spec.has_prop("skipSSLVerification"),
            wait: spec.has_prop("codeField"),
        })
    }

    /// Posts `series`; with `.codeField()`, waits and returns the status.
    fn post(&self, series: Series, name: &Name, tags: &Tags) -> Result<Option<u16>, NodeError> {
        let url = match &self.url {
            Some(template) => Some(
                template
                    .render(&TemplateData::of_series(name, tags))
                    .map_err(|e| NodeError::new(format!("httpPost: {e}")))?,
            ),
            None => None,
        };
        let mut body = serde_json::to_vec(&Rows {
            series: vec![series],
        })
        .unwrap_or_default();
        body.push(b'\n');
        let payload = Payload { body, url };
        if self.code_field.is_some() {
            return Ok(Some(self.output.offer_and_wait(payload)));
        }
        self.output.offer(payload);
        Ok(None)
    }
}

impl Node for HttpPostNode {
    fn process(&mut self, mut msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        let posted = match &msg {
            Message::Point(p, _) => self.post(Series::from_point(p), p.measurement(), p.tags()),
            Message::Batch(b) => self.post(Series::from_batch(b), &b.name, &b.tags),
            Message::Barrier { .. } | Message::DeleteGroup(_) => Ok(None),
        };
        // A failed post is code 0, as in Kapacitor, so the field is always
        // there when asked for.
        if let Some(field) = &self.code_field
            && !matches!(msg, Message::Barrier { .. } | Message::DeleteGroup(_))
        {
            let code = match posted {
                Ok(Some(status)) => FieldValue::Integer(i64::from(status)),
                _ => FieldValue::Integer(0),
            };
            let with_code = |fields: &Fields| fields.with([(field.clone(), code.clone())]);
            match &mut msg {
                Message::Point(p, _) => p.fields = with_code(&p.fields),
                Message::Batch(b) => {
                    for p in &mut b.points {
                        p.fields = with_code(&p.fields);
                    }
                }
                _ => {}
            }
        }
        // Passed on even when its URL could not be made: what follows does
        // not depend on the post.
        out.push(msg);
        posted.map(|_| ())
    }

    fn output(&self) -> Option<Arc<dyn Output>> {
        Some(self.output.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::build::HttpEndpoint;
    use crate::point::Point;
    use crate::testing::TestEnv;

    /// Keeps what it is offered.
    #[derive(Default)]
    struct Kept(Mutex<Vec<Payload>>);

    impl Output for Kept {
        fn offer(&self, payload: Payload) {
            self.0.lock().unwrap().push(payload);
        }
        /// Keeps it and answers 201 Created.
        fn offer_and_wait(&self, payload: Payload) -> u16 {
            self.offer(payload);
            201
        }
        fn counts(&self) -> crate::output::OutputCounts {
            crate::output::OutputCounts::default()
        }
    }

    /// Outputs go to `kept`; the config has one endpoint, `hook`.
    struct Env {
        kept: Arc<Kept>,
        env: TestEnv,
    }

    fn env() -> Env {
        let kept = Arc::new(Kept::default());
        let hook = HttpEndpoint {
            url: "http://e/{{.Name}}".into(),
            headers: vec![
                ("Authorization".into(), "Basic dTpw".into()),
                ("X-A".into(), "endpoint".into()),
            ],
        };
        Env {
            env: TestEnv {
                output: Some(kept.clone()),
                endpoints: vec![("hook", hook)],
                ..TestEnv::default()
            },
            kept,
        }
    }

    fn spec(script: &str) -> NodeSpec {
        crate::testing::node_spec(script, "httpPost")
    }

    fn point(host: &str) -> Message {
        let series = crate::point::Series::new(
            Name::from("cpu"),
            vec![(Name::from("host"), Name::from(host))],
        )
        .unwrap();
        Message::Point(
            Point {
                series: Arc::new(series),
                fields: Fields::from_pairs([(Name::from("value"), FieldValue::Float(1.0))]),
                time: 0,
            },
            crate::group::GroupKey::nil(),
        )
    }

    fn refusal(script: &str) -> String {
        HttpPostNode::build(&spec(script), &env().env)
            .map(|_| ())
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn headers_and_capture_response_are_taken() {
        let taken = HttpPostNode::output_spec(
            &spec("stream|from()|httpPost('http://127.0.0.1:1/x').header('X-A', 'b').captureResponse()"),
            &env().env,
        )
        .unwrap();
        assert!(matches!(
            taken,
            OutputSpec::HttpPost { url, headers, timeout: None, skip_tls_verify: false, wait: false }
                if url == "http://127.0.0.1:1/x" && headers == [("X-A".to_string(), "b".to_string())]
        ));
    }

    #[test]
    fn code_field_waits_for_each_answer_and_adds_its_status() {
        let env = env();
        let mut node = HttpPostNode::build(
            &spec("stream|from()|httpPost('http://h/x').codeField('code')"),
            &env.env,
        )
        .unwrap();
        let mut out = Vec::new();
        node.process(point("a"), &mut out).unwrap();
        let Some(Message::Point(p, _)) = out.pop() else {
            panic!("the point goes on");
        };
        assert_eq!(p.fields.get("value"), Some(&FieldValue::Float(1.0)));
        assert_eq!(p.fields.get("code"), Some(&FieldValue::Integer(201)));
        assert_eq!(env.kept.0.lock().unwrap().len(), 1);
    }

    #[test]
    fn an_endpoint_gives_its_url_and_headers_and_the_node_s_headers_win() {
        let taken = HttpPostNode::output_spec(
            &spec("stream|from()|httpPost().endpoint('hook').header('x-a', 'node')"),
            &env().env,
        )
        .unwrap();
        let OutputSpec::HttpPost { url, headers, .. } = taken else {
            panic!("{taken:?}");
        };
        assert_eq!(url, "http://e/{{.Name}}");
        assert_eq!(
            headers,
            [
                ("Authorization".to_string(), "Basic dTpw".to_string()),
                ("x-a".to_string(), "node".to_string())
            ]
        );
        // Only the config knows its endpoints; the rest is the DSL's to refuse.
        let refused = refusal("stream|from()|httpPost().endpoint('nope')");
        assert!(refused.contains("no endpoint named `nope`"), "{refused}");
    }

    #[test]
    fn a_url_template_gives_each_post_its_url_and_a_plain_url_none() {
        let env = env();
        let mut node = HttpPostNode::build(
            &spec("stream|from()|httpPost('http://h/{{.Name}}?host={{index .Tags \"host\"}}')"),
            &env.env,
        )
        .unwrap();
        let mut plain =
            HttpPostNode::build(&spec("stream|from()|httpPost('http://h/x')"), &env.env).unwrap();
        let mut endpoint =
            HttpPostNode::build(&spec("stream|from()|httpPost().endpoint('hook')"), &env.env)
                .unwrap();
        let mut out = Vec::new();
        node.process(point("a"), &mut out).unwrap();
        plain.process(point("b"), &mut out).unwrap();
        endpoint.process(point("c"), &mut out).unwrap();
        assert_eq!(out.len(), 3, "all passed on");
        let urls: Vec<_> = env
            .kept
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|p| p.url.clone())
            .collect();
        assert_eq!(
            urls,
            [
                Some("http://h/cpu?host=a".to_string()),
                None,
                Some("http://e/cpu".to_string())
            ]
        );
    }

    #[test]
    fn a_url_template_reading_what_a_post_lacks_is_refused_with_its_place() {
        let err = refusal("stream|from()|httpPost('http://h/{{.Level}}')");
        assert!(
            err.contains("url template 1:12") && err.contains("can't evaluate field Level"),
            "{err}"
        );
    }
}
