//! `httpPost(url)`: POSTs each point or batch, as Kapacitor's result JSON
//! `{"series":[{name, tags, columns, values}]}`, to `url` with the
//! `.header(k, v)`s, and passes the data on unchanged. The URL may be a
//! template of the measurement and tags, as in Kapacitor:
//! `'http://hook/{{.Name}}?host={{index .Tags "host"}}'`. The POST happens
//! off the data path (see [`crate::output`]): a slow endpoint costs the task
//! nothing, and what its queue cannot hold is dropped and counted. For the
//! same reason `.codeField()` (which waits for each answer) is refused.
//! `.captureResponse()` is accepted and changes nothing: an answer other
//! than 2xx is always logged with its body.

use std::sync::Arc;

use dsl::{NodeSpec, Value};

use crate::batch::Message;
use crate::node::{Node, NodeError};
use crate::nodes::alert::{Level, ServerInfo, Template, TemplateData, TemplateKind};
use crate::output::{Output, OutputCounts, OutputSpec, Payload};
use crate::point::{Fields, Name, Tags};
use crate::result::{Result as Rows, Series};
use crate::spec::{BuildError, SpecExt};

pub struct HttpPostNode {
    output: Arc<dyn Output>,
    /// The URL when it is a template; `None`: the output's own URL.
    url: Option<Template>,
    /// What a URL template sees besides the name and tags: nothing.
    no_fields: Fields,
    no_server_info: ServerInfo,
}

impl HttpPostNode {
    /// What the node asks of the server, from its plan entry.
    pub fn output_spec(spec: &NodeSpec) -> Result<OutputSpec, BuildError> {
        for unsupported in ["endpoint", "codeField", "skipSSLVerification"] {
            if spec.has_prop(unsupported) {
                return Err(BuildError::invalid(
                    spec,
                    format!(
                        ".{unsupported}() is not supported: posts are sent off the data path, to the URL given to httpPost()"
                    ),
                ));
            }
        }
        let mut headers = Vec::new();
        for p in spec.properties.iter().filter(|p| p.name == "header") {
            if let [Value::String(k), Value::String(v)] = &p.args[..] {
                if k.eq_ignore_ascii_case("authenticate") {
                    return Err(BuildError::invalid(
                        spec,
                        "cannot set the 'authenticate' header",
                    ));
                }
                headers.push((k.clone(), v.clone()));
            }
        }
        Ok(OutputSpec::HttpPost {
            url: Self::url(spec)?.to_owned(),
            headers,
            timeout: spec.prop_duration("timeout")?,
        })
    }

    fn url(spec: &NodeSpec) -> Result<&str, BuildError> {
        match spec.arg(0) {
            Some(Value::String(url)) => Ok(url),
            _ => Err(BuildError::invalid(spec, "httpPost needs a URL")),
        }
    }

    /// The node of `spec`, posting through `output`; refuses a URL
    /// template that does not parse, saying where.
    pub fn new(spec: &NodeSpec, output: Arc<dyn Output>) -> Result<Self, BuildError> {
        let url = Template::parse(TemplateKind::Url, Self::url(spec)?)
            .map_err(|e| BuildError::invalid(spec, format!("httpPost: {e}")))?;
        Ok(HttpPostNode {
            output,
            url: (!url.is_literal()).then_some(url),
            no_fields: Fields::from_pairs([]),
            no_server_info: ServerInfo::default(),
        })
    }

    fn post(&self, series: Series, name: &Name, tags: &Tags) -> Result<(), NodeError> {
        let url = match &self.url {
            Some(template) => Some(
                template
                    .render(&TemplateData {
                        name,
                        task_name: "",
                        group: "",
                        tags,
                        server_info: &self.no_server_info,
                        id: "",
                        fields: &self.no_fields,
                        level: Level::Ok,
                        time: 0,
                        duration: 0,
                        message: "",
                    })
                    .map_err(|e| NodeError::new(format!("httpPost: {e}")))?,
            ),
            None => None,
        };
        let mut body = serde_json::to_vec(&Rows {
            series: vec![series],
        })
        .unwrap_or_default();
        body.push(b'\n');
        self.output.offer(Payload { body, url });
        Ok(())
    }
}

impl Node for HttpPostNode {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        let posted = match &msg {
            Message::Point(p, _) => self.post(Series::from_point(p), p.measurement(), p.tags()),
            Message::Batch(b) => self.post(Series::from_batch(b), &b.name, &b.tags),
            Message::Barrier { .. } | Message::DeleteGroup(_) => Ok(()),
        };
        // Passed on even when its URL could not be made: what follows does
        // not depend on the post.
        out.push(msg);
        posted
    }

    fn output_counts(&self) -> Option<OutputCounts> {
        Some(self.output.counts())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::point::{FieldValue, Point};

    /// Keeps what it is offered.
    #[derive(Default)]
    struct Kept(Mutex<Vec<Payload>>);

    impl Output for Kept {
        fn offer(&self, payload: Payload) {
            self.0.lock().unwrap().push(payload);
        }
        fn counts(&self) -> OutputCounts {
            OutputCounts::default()
        }
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

    #[test]
    fn a_url_template_gives_each_post_its_url_and_a_plain_url_none() {
        let kept = Arc::new(Kept::default());
        let mut node = HttpPostNode::new(
            &spec("stream|from()|httpPost('http://h/{{.Name}}?host={{index .Tags \"host\"}}')"),
            kept.clone(),
        )
        .unwrap();
        let mut plain =
            HttpPostNode::new(&spec("stream|from()|httpPost('http://h/x')"), kept.clone()).unwrap();
        let mut out = Vec::new();
        node.process(point("a"), &mut out).unwrap();
        plain.process(point("b"), &mut out).unwrap();
        assert_eq!(out.len(), 2, "both passed on");
        let urls: Vec<_> = kept
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|p| p.url.clone())
            .collect();
        assert_eq!(urls, [Some("http://h/cpu?host=a".to_string()), None]);
    }

    #[test]
    fn a_url_template_reading_what_a_post_lacks_is_refused_with_its_place() {
        let err = HttpPostNode::new(
            &spec("stream|from()|httpPost('http://h/{{.Level}}')"),
            Arc::new(Kept::default()),
        )
        .map(|_| ())
        .expect_err("refused")
        .to_string();
        assert!(
            err.contains("url template 1:12") && err.contains("can't evaluate field Level"),
            "{err}"
        );
    }

    fn spec(script: &str) -> NodeSpec {
        crate::testing::node_spec(script, "httpPost")
    }

    #[test]
    fn headers_and_capture_response_are_taken_and_code_field_is_refused() {
        let taken = HttpPostNode::output_spec(&spec(
            "stream|from()|httpPost('http://127.0.0.1:1/x').header('X-A', 'b').captureResponse()",
        ))
        .unwrap();
        assert!(matches!(
            taken,
            OutputSpec::HttpPost { url, headers, timeout: None }
                if url == "http://127.0.0.1:1/x" && headers == [("X-A".to_string(), "b".to_string())]
        ));
        let refused = HttpPostNode::output_spec(&spec(
            "stream|from()|httpPost('http://127.0.0.1:1/x').codeField('code')",
        ))
        .map(|_| ())
        .expect_err("codeField is refused")
        .to_string();
        assert!(
            refused.contains(".codeField() is not supported"),
            "{refused}"
        );
    }
}
