//! Helpers for the nodes' unit tests.

use std::sync::Arc;

use dsl::NodeSpec;

use crate::build::{HttpEndpoint, TaskEnv};
use crate::nodes::alert::AlertSink;
use crate::nodes::http_out::HttpOutEndpoint;
use crate::nodes::sideload::SideloadSource;
use crate::output::{Output, OutputSpec};
use crate::spec::BuildError;

/// A task environment for node tests: what a test gives it, and refusals
/// for the rest.
#[derive(Default)]
pub(crate) struct TestEnv {
    pub output: Option<Arc<dyn Output>>,
    /// The config's named endpoints.
    pub endpoints: Vec<(&'static str, HttpEndpoint)>,
    pub sideload: Option<Arc<dyn SideloadSource>>,
}

impl TaskEnv for TestEnv {
    fn task_name(&self) -> &str {
        "t"
    }
    fn http_out(&self, _name: &str) -> Arc<HttpOutEndpoint> {
        HttpOutEndpoint::new()
    }
    fn alert_sink(&self, spec: &NodeSpec) -> Result<Arc<dyn AlertSink>, BuildError> {
        Err(BuildError::invalid(spec, "no alerts here"))
    }
    fn output(&self, spec: &NodeSpec, _: OutputSpec) -> Result<Arc<dyn Output>, BuildError> {
        self.output
            .clone()
            .ok_or_else(|| BuildError::invalid(spec, "no outputs here"))
    }
    fn http_endpoint(&self, name: &str) -> Option<HttpEndpoint> {
        self.endpoints
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, e)| e.clone())
    }
    fn sideload(
        &self,
        spec: &NodeSpec,
        _source: &str,
    ) -> Result<Arc<dyn SideloadSource>, BuildError> {
        self.sideload
            .clone()
            .ok_or_else(|| BuildError::invalid(spec, "no sideload here"))
    }
}

/// The plan entry of the first `kind` node of `script`, compiled as the task
/// type the script starts from.
pub(crate) fn node_spec(script: &str, kind: &str) -> NodeSpec {
    let plan = dsl::compile(script, dsl::detect_task_type(script)).expect("script compiles");
    plan.nodes
        .into_iter()
        .find(|n| n.kind == kind)
        .unwrap_or_else(|| panic!("the script has no {kind} node"))
}
