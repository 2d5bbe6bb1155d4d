//! Checking a task without running it: its nodes are built once against
//! inert stand-ins, so what only building can see (a named endpoint the
//! config lacks, a template reading what its data lacks) is reported at define and
//! by `kapacitor check`, every error at its line and column.

use std::sync::Arc;

use pipeline::PointBatch;
use pipeline::build::TaskEnv;
use pipeline::nodes::alert::AlertSink;
use pipeline::nodes::http_out::HttpOutEndpoint;
use pipeline::nodes::sideload::SideloadSource;
use pipeline::spec::BuildError;

use crate::effects::endpoints::HttpEndpoints;
use crate::tasks::sideload::Sideloads;
use crate::tasks::{deadman_templates, sideload_source};

/// What a task's nodes are given when it is only checked: the same
/// answers as [`crate::tasks::Env`] where they can refuse a node, and inert
/// stand-ins where it would start something (handlers, output workers) or
/// touch shared state (httpOut endpoints, the router).
pub struct CheckEnv<'a> {
    pub task: &'a str,
    pub group_idle_timeout: Option<i64>,
    pub deadman: &'a config::DeadmanConfig,
    pub endpoints: &'a HttpEndpoints,
    pub sideloads: &'a Sideloads,
}

impl CheckEnv<'_> {
    /// Builds `plan`'s nodes inertly: every node that would refuse to be
    /// built says why, at its place in the script.
    pub fn build(&self, plan: &dsl::Plan) -> Result<(), dsl::Diagnostics> {
        match pipeline::build::build_dag_all(plan, self) {
            Ok(_) => Ok(()),
            Err(errors) => Err(dsl::Diagnostics(
                errors.iter().map(BuildError::diagnostic).collect(),
            )),
        }
    }
}

/// Checks a compiled script as define would, without a daemon: no config,
/// so every `.endpoint(NAME)` is taken to exist.
pub fn check_offline(id: &str, plan: &dsl::Plan) -> Result<(), dsl::Diagnostics> {
    let endpoints = HttpEndpoints::any_name("http://127.0.0.1:1/");
    CheckEnv {
        task: id,
        group_idle_timeout: None,
        deadman: &config::DeadmanConfig::default(),
        endpoints: &endpoints,
        sideloads: &Sideloads::default(),
    }
    .build(plan)
}

/// Takes whatever a checked task would send, and does nothing with it.
struct Inert;

impl AlertSink for Inert {
    fn publish(&self, _event: &pipeline::nodes::alert::AlertEvent) {}
}

impl pipeline::PointSink for Inert {
    fn write(&self, _batch: PointBatch) {}
}

impl pipeline::output::Output for Inert {
    fn offer(&self, _payload: pipeline::output::Payload) {}
    fn counts(&self) -> pipeline::output::OutputCounts {
        pipeline::output::OutputCounts::default()
    }
}

impl TaskEnv for CheckEnv<'_> {
    fn task_name(&self) -> &str {
        self.task
    }

    fn group_idle_timeout(&self) -> Option<i64> {
        self.group_idle_timeout
    }

    fn output(
        &self,
        _spec: &dsl::NodeSpec,
        _output: pipeline::output::OutputSpec,
    ) -> Result<Arc<dyn pipeline::output::Output>, BuildError> {
        Ok(Arc::new(Inert))
    }

    fn deadman_templates(&self) -> (Option<String>, Option<String>) {
        deadman_templates(Some(self.deadman))
    }

    fn loopback(&self, _spec: &dsl::NodeSpec) -> Result<Arc<dyn pipeline::PointSink>, BuildError> {
        Ok(Arc::new(Inert))
    }

    fn http_out(&self, _name: &str) -> Arc<HttpOutEndpoint> {
        HttpOutEndpoint::new()
    }

    fn alert_sink(&self, spec: &dsl::NodeSpec) -> Result<Arc<dyn AlertSink>, BuildError> {
        crate::effects::handlers::HandlerSet::check(&spec.name, &spec.handlers, self.endpoints)?;
        Ok(Arc::new(Inert))
    }

    fn http_endpoint(&self, name: &str) -> Option<pipeline::build::HttpEndpoint> {
        self.endpoints.get(name)
    }

    fn sideload(
        &self,
        spec: &dsl::NodeSpec,
        source: &str,
    ) -> Result<Arc<dyn SideloadSource>, BuildError> {
        sideload_source(self.sideloads, spec, source)
    }
}
