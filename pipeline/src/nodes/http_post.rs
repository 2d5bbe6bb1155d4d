//! `httpPost(url)`: POSTs each point or batch, as Kapacitor's result JSON
//! `{"series":[{name, tags, columns, values}]}`, to `url` with the
//! `.header(k, v)`s, and passes the data on unchanged. The POST happens off
//! the data path (see [`crate::output`]): a slow endpoint costs the task
//! nothing, and what its queue cannot hold is dropped and counted. For the
//! same reason `.codeField()` (which waits for each answer) is refused.
//! `.captureResponse()` is accepted and changes nothing: an answer other
//! than 2xx is always logged with its body.

use std::sync::Arc;

use dsl::{NodeSpec, Value};

use crate::batch::Message;
use crate::node::{Node, NodeError};
use crate::output::{Output, OutputCounts, OutputSpec};
use crate::result::{Result as Rows, Series};
use crate::spec::{BuildError, SpecExt};

pub struct HttpPostNode {
    output: Arc<dyn Output>,
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
        let url = match spec.arg(0) {
            Some(Value::String(url)) => url.clone(),
            _ => return Err(BuildError::invalid(spec, "httpPost needs a URL")),
        };
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
            url,
            headers,
            timeout: spec.prop_duration("timeout")?,
        })
    }

    pub fn new(output: Arc<dyn Output>) -> Self {
        HttpPostNode { output }
    }

    fn post(&self, series: Series) {
        let mut body = serde_json::to_vec(&Rows {
            series: vec![series],
        })
        .unwrap_or_default();
        body.push(b'\n');
        self.output.offer(body);
    }
}

impl Node for HttpPostNode {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        match &msg {
            Message::Point(p, _) => self.post(Series::from_point(p)),
            Message::Batch(b) => self.post(Series::from_batch(b)),
            Message::Barrier { .. } | Message::DeleteGroup(_) => {}
        }
        out.push(msg);
        Ok(())
    }

    fn output_counts(&self) -> Option<OutputCounts> {
        Some(self.output.counts())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
