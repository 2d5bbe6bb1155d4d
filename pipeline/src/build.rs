//! Building a running task from its plan: one constructor per node kind,
//! the edges wired as the plan says, `.parallelism(n)` instances.

use std::sync::Arc;

use dsl::{NodeSpec, Plan};

use crate::batch::Message;
use crate::group::GroupKey;
use crate::node::{Node, PassThrough};
use crate::nodes::alert::{AlertNode, AlertSink, AlertSpec, AlertStateStore};
use crate::nodes::barrier::BarrierNode;
use crate::nodes::change_detect::ChangeDetectNode;
use crate::nodes::combine::CombineNode;
use crate::nodes::deadman::DeadmanNode;
use crate::nodes::default_node::DefaultNode;
use crate::nodes::delete::DeleteNode;
use crate::nodes::derivative::DerivativeNode;
use crate::nodes::eval::EvalNode;
use crate::nodes::filter::FilterNode;
use crate::nodes::flatten::FlattenNode;
use crate::nodes::from::{DbRpFilter, FromNode};
use crate::nodes::group_by::GroupByNode;
use crate::nodes::http_out::{HttpOutEndpoint, HttpOutNode};
use crate::nodes::http_post::HttpPostNode;
use crate::nodes::influxdb_out::InfluxDbOutNode;
use crate::nodes::influxql::{InfluxQlNode, InfluxQlSpec};
use crate::nodes::join::JoinNode;
use crate::nodes::log::LogNode;
use crate::nodes::loopback::LoopbackNode;
use crate::nodes::query::QueryNode;
use crate::nodes::sample::SampleNode;
use crate::nodes::shift::ShiftNode;
use crate::nodes::state_tracking::StateTrackingNode;
use crate::nodes::stats::StatsNode;
use crate::nodes::trickle::TrickleNode;
use crate::nodes::union::UnionNode;
use crate::nodes::where_node::WhereNode;
use crate::nodes::window::{WindowNode, WindowSpec};
use crate::output::{Output, OutputSpec};
use crate::point::PointBatch;
use crate::router::PointSink;
use crate::runtime::{Clock, NodeStats, RunNode, TaskDag};
use crate::spec::{BuildError, SpecExt};

/// What a task's nodes need from the world around them.
pub trait TaskEnv {
    /// The task's id.
    fn task_name(&self) -> &str;
    /// The shared state of the `httpOut` endpoint `name` of this task.
    fn http_out(&self, name: &str) -> Arc<HttpOutEndpoint>;
    /// Where the `alert` node `spec` sends its events: its handlers (and the
    /// server's alert history).
    fn alert_sink(&self, spec: &NodeSpec) -> Result<Arc<dyn AlertSink>, BuildError>;
    /// After how long (ns, on the task's clock) a group that got no point
    /// is deleted; `None` keeps groups forever.
    fn group_idle_timeout(&self) -> Option<i64> {
        None
    }
    /// After how long (ns, on the task's clock) without a point an alert
    /// that is not OK is forgotten, its recovery never sent; `None` keeps
    /// it until it recovers.
    fn alert_state_idle_timeout(&self) -> Option<i64> {
        None
    }
    /// The destination of output node `spec` (`httpPost`, `influxDBOut`).
    fn output(&self, spec: &NodeSpec, output: OutputSpec) -> Result<Arc<dyn Output>, BuildError> {
        let _ = output;
        Err(BuildError::invalid(spec, "outputs are not available here"))
    }
    /// The config's named HTTP endpoint `name` (`.endpoint(NAME)`): its URL
    /// and the headers to send (credentials included); `None`: no such
    /// endpoint.
    fn http_endpoint(&self, name: &str) -> Option<HttpEndpoint> {
        let _ = name;
        None
    }
    /// The values `sideload` node `spec` reads from `source`
    /// (`file:///dir`).
    fn sideload(
        &self,
        spec: &NodeSpec,
        source: &str,
    ) -> Result<Arc<dyn crate::nodes::sideload::SideloadSource>, BuildError> {
        let _ = source;
        Err(BuildError::invalid(spec, "sideload is not available here"))
    }
    /// Where `kapacitorLoopback` writes: the server's router.
    fn loopback(&self, spec: &NodeSpec) -> Result<Arc<dyn PointSink>, BuildError> {
        Err(BuildError::invalid(spec, "loopback is not available here"))
    }
    /// The ID and message templates of `deadman` nodes that set none;
    /// `None`: Kapacitor's defaults.
    fn deadman_templates(&self) -> (Option<String>, Option<String>) {
        (None, None)
    }
    /// Where the task's alert nodes keep their states across restarts;
    /// `None`: in memory only.
    fn alert_states(&self) -> Option<Arc<dyn AlertStateStore>> {
        None
    }
    /// The server's inhibitors, for `.inhibit()` and `.category()`;
    /// `None`: they do nothing.
    fn inhibitions(&self) -> Option<Arc<crate::nodes::alert::Inhibitions>> {
        None
    }
}

/// A named HTTP endpoint from the config, as nodes and handlers use it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpEndpoint {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// A stream task's DAG with the database/retention-policy filters of the
/// `from` nodes under its root, which must be applied before points enter
/// (points do not carry their database).
pub struct StreamTask {
    pub dag: TaskDag,
    /// For each child of the root, in edge order: its node id and its filter.
    root_children: Vec<(usize, usize, DbRpFilter)>,
}

impl StreamTask {
    /// Feeds a routed batch of points through the task.
    pub fn push_points(&mut self, batch: PointBatch) {
        let wanted: Vec<(usize, usize)> = self
            .root_children
            .iter()
            .filter(|(_, _, f)| f.accepts(&batch.dbrp))
            .map(|(id, parent, _)| (*id, *parent))
            .collect();
        if wanted.len() == self.root_children.len() {
            self.dag.push_all(
                batch
                    .points
                    .into_iter()
                    .map(|p| Message::Point(p, GroupKey::nil())),
            );
        } else {
            for p in batch.points {
                for &(id, parent) in &wanted {
                    self.dag
                        .push_to(id, parent, Message::Point(p.clone(), GroupKey::nil()));
                }
            }
        }
    }
}

/// Builds the DAG of `plan`; the first node that cannot be built says why.
pub fn build_dag(plan: &Plan, env: &dyn TaskEnv) -> Result<TaskDag, BuildError> {
    build_dag_all(plan, env).map_err(|errors| {
        errors
            .into_iter()
            .next()
            .unwrap_or_else(|| BuildError::at("task", dsl::Span::default(), "cannot be built"))
    })
}

/// Builds the DAG of `plan`, or says why of every node that cannot be
/// built (in plan order): what a check reports all at once.
pub fn build_dag_all(plan: &Plan, env: &dyn TaskEnv) -> Result<TaskDag, Vec<BuildError>> {
    let fused = fused_windows(plan).map_err(|e| vec![e])?;
    let clock = Clock::default();
    let mut nodes = Vec::with_capacity(plan.nodes.len());
    let mut errors = Vec::new();
    for spec in &plan.nodes {
        // Nodes that act on the clock see every group at once, so their
        // output does not depend on how groups fall to instances.
        let timed = matches!(spec.kind.as_str(), "stats" | "deadman" | "barrier");
        let n = if timed {
            1
        } else {
            spec.parallelism().max(1) as usize
        };
        let mut instances: Vec<Box<dyn Node>> = Vec::with_capacity(n);
        let fused_with = fused.iter().find(|(w, _)| *w == spec.id).map(|(_, a)| *a);
        let fused_into = fused.iter().any(|(_, a)| *a == spec.id);
        for _ in 0..n {
            let built = match (fused_with.and_then(|a| plan.node(a)), fused_into) {
                (Some(agg), _) => fused_window(spec, agg).map(|w| Box::new(w) as Box<dyn Node>),
                (None, true) => Ok(Box::new(PassThrough) as Box<dyn Node>),
                (None, false) if spec.kind == "deadman" => deadman(plan, spec, env),
                (None, false) if spec.kind == "barrier" => {
                    BarrierNode::from_spec(spec, clock.clone())
                        .map(|b| Box::new(b) as Box<dyn Node>)
                }
                (None, false) => build_node(spec, env),
            };
            match built {
                Ok(node) => instances.push(node),
                Err(e) => {
                    errors.push(e);
                    break;
                }
            }
        }
        let children = plan
            .edges
            .iter()
            .filter(|e| e.from == spec.id)
            .map(|e| {
                let position = plan
                    .edges
                    .iter()
                    .filter(|p| p.to == e.to)
                    .position(|p| p.from == spec.id);
                (e.to, position.unwrap_or(0))
            })
            .collect();
        // A join `.on(dims)` pairs groups across other tags: shard on dims.
        let shard_on = match spec.prop_args("on") {
            Some(args) if spec.kind == "join" => {
                let mut on = Vec::new();
                if let Err(e) = crate::spec::names(spec, "on", args, &mut on) {
                    errors.push(e);
                }
                Some(on)
            }
            _ => None,
        };
        let alerting = instances
            .first()
            .is_some_and(|i| i.alerts_triggered().is_some());
        let outputs = instances.iter().filter_map(|i| i.output()).collect();
        nodes.push(RunNode {
            name: spec.name.clone(),
            kind: spec.kind.clone(),
            instances,
            children,
            stats: Arc::new(NodeStats::new(alerting, outputs)),
            shard_on,
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(TaskDag::new(nodes).with_clock(clock))
}

/// Builds a stream task (see [`StreamTask`]).
pub fn build_stream_task(plan: &Plan, env: &dyn TaskEnv) -> Result<StreamTask, BuildError> {
    let dag = build_dag(plan, env)?;
    let root_children = plan
        .edges
        .iter()
        .filter(|e| e.from == 0)
        .filter_map(|e| plan.node(e.to))
        .map(|child| {
            let filter = if child.kind == "from" {
                DbRpFilter::from_spec(child)?
            } else {
                DbRpFilter::default()
            };
            Ok((child.id, 0, filter))
        })
        .collect::<Result<_, BuildError>>()?;
    Ok(StreamTask { dag, root_children })
}

/// The tumbling windows whose only child is an incremental aggregate that
/// has no other parent, as (window id, aggregate id): the window does the
/// aggregate's work ([`WindowNode::fuse`]) and the aggregate passes its
/// results on.
fn fused_windows(plan: &Plan) -> Result<Vec<(usize, usize)>, BuildError> {
    let mut fused = Vec::new();
    for spec in plan.nodes.iter().filter(|n| n.kind == "window") {
        let mut children = plan.edges.iter().filter(|e| e.from == spec.id);
        let (Some(edge), None) = (children.next(), children.next()) else {
            continue;
        };
        let Some(child) = plan.node(edge.to) else {
            continue;
        };
        let only_parent = plan.edges.iter().filter(|e| e.to == child.id).count() == 1;
        if only_parent
            && WindowNode::fusable(&window_spec(spec)?)
            && fused_window(spec, child).is_ok()
        {
            fused.push((spec.id, child.id));
        }
    }
    Ok(fused)
}

/// A window fused with the aggregate `agg`; an error when they cannot be.
fn fused_window(spec: &NodeSpec, agg: &NodeSpec) -> Result<WindowNode, BuildError> {
    let mut window = window_node(spec)?;
    let influxql = InfluxQlSpec::from_spec(agg)?
        .ok_or_else(|| BuildError::invalid(agg, "not an aggregate"))?;
    let influxql =
        InfluxQlNode::new(influxql).map_err(|e| BuildError::invalid(agg, e.to_string()))?;
    window
        .fuse(influxql)
        .map_err(|_| BuildError::invalid(agg, "cannot be fused with its window"))?;
    Ok(window)
}

fn window_spec(spec: &NodeSpec) -> Result<WindowSpec, BuildError> {
    let count = |name| -> Result<Option<usize>, BuildError> {
        Ok(spec.prop_int(name)?.map(|n| n.max(0) as usize))
    };
    Ok(WindowSpec {
        period: spec.prop_duration("period")?,
        every: spec.prop_duration("every")?,
        period_count: count("periodCount")?,
        every_count: count("everyCount")?,
        align: spec.has_prop("align"),
        fill_period: spec.has_prop("fillPeriod"),
    })
}

fn window_node(spec: &NodeSpec) -> Result<WindowNode, BuildError> {
    WindowNode::new(window_spec(spec)?).map_err(|e| BuildError::invalid(spec, e.to_string()))
}

/// A deadman switch on the node it hangs from, which names its alerts.
fn deadman(plan: &Plan, spec: &NodeSpec, env: &dyn TaskEnv) -> Result<Box<dyn Node>, BuildError> {
    let source = plan
        .edges
        .iter()
        .find(|e| e.to == spec.id)
        .and_then(|e| plan.node(e.from))
        .map_or(spec.name.as_str(), |n| n.name.as_str());
    let sink = env.alert_sink(spec)?;
    let (id, message) = env.deadman_templates();
    let mut node = DeadmanNode::from_spec(
        spec,
        source,
        env.task_name(),
        sink,
        id.as_deref(),
        message.as_deref(),
    )?;
    if let Some(store) = env.alert_states() {
        node = node.with_state_store(store);
    }
    if let Some(inhibitions) = env.inhibitions() {
        node = node.with_inhibitions(inhibitions);
    }
    Ok(Box::new(node))
}

fn build_node(spec: &NodeSpec, env: &dyn TaskEnv) -> Result<Box<dyn Node>, BuildError> {
    let node: Box<dyn Node> = match spec.kind.as_str() {
        // The root: what arrives was already routed to the task (points,
        // in the nil group for `from` to regroup) or queried for it.
        "stream" | "batch" | "noOp" => Box::new(PassThrough),
        "query" => Box::new(QueryNode),
        "from" => Box::new(FromNode::from_spec(spec)?.with_idle_timeout(env.group_idle_timeout())),
        "where" => Box::new(WhereNode::from_spec(spec)?),
        "filter" => Box::new(FilterNode::from_spec(spec)?),
        "default" => Box::new(DefaultNode::from_spec(spec)?),
        "delete" => Box::new(DeleteNode::from_spec(spec)?),
        "shift" => Box::new(ShiftNode::from_spec(spec)?),
        "sample" => Box::new(SampleNode::from_spec(spec)?),
        "derivative" => Box::new(DerivativeNode::from_spec(spec)?),
        "log" => Box::new(LogNode::from_spec(spec)?),
        "stateDuration" | "stateCount" => Box::new(StateTrackingNode::from_spec(spec)?),
        "stats" => Box::new(StatsNode::from_spec(spec)?),
        "combine" => Box::new(CombineNode::from_spec(spec)?),
        "changeDetect" => Box::new(ChangeDetectNode::from_spec(spec)?),
        "eval" => Box::new(EvalNode::from_spec(spec)?),
        "groupBy" => {
            Box::new(GroupByNode::from_spec(spec)?.with_idle_timeout(env.group_idle_timeout()))
        }
        "join" => Box::new(JoinNode::from_spec(spec)?),
        "union" => Box::new(UnionNode::from_spec(spec)?),
        "flatten" => Box::new(FlattenNode::from_spec(spec)?),
        "trickle" => Box::new(TrickleNode),
        "sideload" => Box::new(crate::nodes::sideload::SideloadNode::build(spec, env)?),
        "alert" => {
            let alert = AlertSpec::from_plan(spec, env.task_name())?;
            let sink = env.alert_sink(spec)?;
            let mut node = AlertNode::new(alert, sink)
                .map_err(|e| BuildError::invalid(spec, e.to_string()))?
                .with_standing_expiry(env.alert_state_idle_timeout(), env.group_idle_timeout());
            if let Some(store) = env.alert_states() {
                node = node.with_state_store(store);
            }
            if let Some(inhibitions) = env.inhibitions() {
                node = node.with_inhibitions(inhibitions);
            }
            Box::new(node)
        }
        "httpOut" => Box::new(HttpOutNode::new(env.http_out(&spec.arg_string(0)?))),
        "httpPost" => Box::new(HttpPostNode::build(spec, env)?),
        "influxDBOut" => {
            let output = env.output(spec, InfluxDbOutNode::output_spec(spec)?)?;
            Box::new(InfluxDbOutNode::new(spec, output)?)
        }
        "kapacitorLoopback" => Box::new(LoopbackNode::from_spec(spec, env.loopback(spec)?)?),
        "window" => Box::new(window_node(spec)?),
        _ if let Some(influxql) = InfluxQlSpec::from_spec(spec)? => Box::new(
            InfluxQlNode::new(influxql).map_err(|e| BuildError::invalid(spec, e.to_string()))?,
        ),
        other => {
            return Err(BuildError::Unsupported {
                node: spec.name.clone(),
                kind: other.to_string(),
                span: spec.span,
            });
        }
    };
    Ok(node)
}
