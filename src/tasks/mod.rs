//! The task manager: defines, enables, disables and deletes tasks, keeps
//! the router's table in step, and runs every enabled task on the shared
//! worker pool ([`host::Pool`]) behind an inbox bounded in points.
//!
//! The worker running a task owns its DAG for that run, so nodes need no
//! locks. The router offers points without blocking; when a task's inbox is
//! full the points are dropped and counted against that task, never slowing
//! ingest or the other tasks. A panic inside a task marks that task errored
//! and leaves the rest running.

pub mod check;
pub mod dir;
pub mod sideload;
pub mod vars;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::effects::alert_states::AlertStates;
use crate::effects::endpoints::HttpEndpoints;
use crate::effects::outputs::OutputRegistry;
use crate::tasks::check::CheckEnv;
use crate::tasks::sideload::Sideloads;
use pipeline::nodes::sideload::SideloadSource;

use pipeline::build::{TaskEnv, build_dag, build_stream_task};
use pipeline::nodes::alert::AlertSink;
use pipeline::spec::BuildError;

use crate::effects::handlers::{AlertHistory, HandlerRegistry};
use pipeline::nodes::http_out::HttpOutEndpoint;
use pipeline::runtime::{NodeStats, NodeStatsSnapshot};
use pipeline::{DbRp, Name, Route, Router};
use serde::Serialize;

/// How long stopping a task waits for it to process what it holds before
/// going on without it (it still ends on the pool when it can). With
/// [`EFFECTS_STOP_WAIT`], a disable, delete or shutdown answers within 5 s.
const STOP_WAIT: Duration = Duration::from_secs(1);
/// How long a stopped task's handlers and outputs may go on delivering
/// what they hold before the rest is abandoned (counted as dropped): an
/// endpoint that never answers must not hold up a disable or a shutdown.
const EFFECTS_STOP_WAIT: Duration = Duration::from_secs(2);

/// What defines a task.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskDefinition {
    pub id: String,
    pub task_type: dsl::TaskType,
    /// Empty: every database and retention policy.
    pub dbrps: Vec<DbRp>,
    pub script: String,
    /// Only points of this measurement reach the task (the YAML `from`).
    pub measurement: Option<String>,
    /// Batch schedule as given (`query`, `period`, `cron`, `group_by`):
    /// stored with the task; the batch scheduler executes it.
    pub meta: BTreeMap<String, String>,
}

/// Why a task could not be defined or enabled.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("{0}")]
    Script(String),
    #[error("task {0:?} does not exist")]
    NotFound(String),
    #[error("{0}")]
    Build(#[from] pipeline::spec::BuildError),
    #[error("{0}")]
    Store(#[from] storage::StoreError),
    #[error("where {0}")]
    Where(#[from] config::WhereError),
}

/// A task's state as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Enabled,
    Disabled,
    Errored,
}

/// A task as the API and status endpoint show it.
#[derive(Clone, Debug, Serialize)]
pub struct TaskInfo {
    pub id: String,
    #[serde(rename = "type")]
    pub task_type: dsl::TaskType,
    pub dbrps: Vec<DbRp>,
    pub script: String,
    /// The YAML `from`: only this measurement reaches the task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
    /// Values given for the script's vars, in Kapacitor's shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vars: Option<serde_json::Value>,
    pub status: TaskStatus,
    pub executing: bool,
    pub error: String,
    pub points_received: u64,
    pub points_dropped: u64,
    pub nodes: Vec<NodeStatsSnapshot>,
    pub dot: String,
    pub created: String,
    pub modified: String,
    #[serde(rename = "last-enabled")]
    pub last_enabled: Option<String>,
}

/// The `httpOut` endpoints of every task, for the API to read.
#[derive(Default)]
pub struct HttpOutRegistry {
    endpoints: Mutex<HashMap<(String, String), Arc<HttpOutEndpoint>>>,
}

impl HttpOutRegistry {
    pub fn get(&self, task: &str, name: &str) -> Option<Arc<HttpOutEndpoint>> {
        self.lock()
            .get(&(task.to_string(), name.to_string()))
            .cloned()
    }

    /// The endpoint, created on first use.
    pub fn endpoint(&self, task: &str, name: &str) -> Arc<HttpOutEndpoint> {
        self.lock()
            .entry((task.to_string(), name.to_string()))
            .or_default()
            .clone()
    }

    fn remove_task(&self, task: &str) {
        self.lock().retain(|(t, _), _| t != task);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Arc<HttpOutEndpoint>>> {
        self.endpoints.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a task's nodes are given: its httpOut endpoints and alert handlers.
pub struct Env<'a> {
    pub task: &'a str,
    pub http_out: &'a HttpOutRegistry,
    pub handlers: &'a HandlerRegistry,
    /// `pipeline.group_idle_timeout` in ns; `None`: groups never expire.
    pub group_idle_timeout: Option<i64>,
    /// Where alert states outlive the task; `None`: they do not.
    pub alert_states: Option<Arc<dyn pipeline::nodes::alert::AlertStateStore>>,
    /// The task's output workers (httpPost, influxDBOut).
    pub outputs: &'a OutputRegistry,
    /// Where kapacitorLoopback writes; `None`: it is not available.
    pub loopback: Option<Arc<dyn pipeline::PointSink>>,
    /// The `deadman` section: default templates of deadman alerts.
    pub deadman: Option<&'a config::DeadmanConfig>,
    /// The config's named HTTP endpoints.
    pub endpoints: &'a HttpEndpoints,
    /// The files sideload nodes read.
    pub sideloads: &'a Sideloads,
}

impl TaskEnv for Env<'_> {
    fn task_name(&self) -> &str {
        self.task
    }

    fn group_idle_timeout(&self) -> Option<i64> {
        self.group_idle_timeout
    }

    fn alert_states(&self) -> Option<Arc<dyn pipeline::nodes::alert::AlertStateStore>> {
        self.alert_states.clone()
    }

    fn output(
        &self,
        spec: &dsl::NodeSpec,
        output: pipeline::output::OutputSpec,
    ) -> Result<Arc<dyn pipeline::output::Output>, BuildError> {
        self.outputs
            .start(&spec.name, output)
            .map_err(|e| BuildError::invalid(spec, e))
    }

    fn deadman_templates(&self) -> (Option<String>, Option<String>) {
        deadman_templates(self.deadman)
    }

    fn loopback(&self, spec: &dsl::NodeSpec) -> Result<Arc<dyn pipeline::PointSink>, BuildError> {
        self.loopback
            .clone()
            .ok_or_else(|| BuildError::invalid(spec, "kapacitorLoopback is not available here"))
    }

    fn http_out(&self, name: &str) -> Arc<HttpOutEndpoint> {
        self.http_out.endpoint(self.task, name)
    }

    fn alert_sink(&self, spec: &dsl::NodeSpec) -> Result<Arc<dyn AlertSink>, BuildError> {
        self.handlers.sink_for(spec)
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

/// The sideload source `source` of node `spec`.
pub(crate) fn sideload_source(
    sideloads: &Sideloads,
    spec: &dsl::NodeSpec,
    source: &str,
) -> Result<Arc<dyn SideloadSource>, BuildError> {
    let source = sideloads
        .source(source)
        .map_err(|e| BuildError::invalid(spec, e))?;
    Ok(source)
}

/// The `deadman` section's templates; `None` where it sets none.
pub(crate) fn deadman_templates(
    deadman: Option<&config::DeadmanConfig>,
) -> (Option<String>, Option<String>) {
    let given = |s: &str| (!s.is_empty()).then(|| s.to_string());
    deadman.map_or((None, None), |d| (given(&d.id), given(&d.message)))
}

/// A running task: its place on the pool, its effects, and handles to its
/// counters.
struct Running {
    task: host::TaskHandle,
    handlers: Arc<HandlerRegistry>,
    outputs: Arc<OutputRegistry>,
    stats: Vec<(String, String, Arc<NodeStats>)>,
}

struct Entry {
    def: TaskDefinition,
    plan: dsl::Plan,
    enabled: bool,
    running: Option<Running>,
    created: SystemTime,
    modified: SystemTime,
    last_enabled: Option<SystemTime>,
}

/// Every task of the server.
pub struct TaskManager {
    router: Arc<Router>,
    http_out: Arc<HttpOutRegistry>,
    history: Arc<AlertHistory>,
    tasks: Mutex<BTreeMap<String, Entry>>,
    store: Option<Arc<storage::Store>>,
    /// Tasks that come from the tasks directory: rebuilt from it, not stored.
    dir_tasks: Mutex<std::collections::BTreeSet<String>>,
    /// The last problem with a task's files, shown until a good version lands.
    file_errors: Mutex<BTreeMap<String, String>>,
    /// See [`Env::group_idle_timeout`].
    group_idle_timeout: Option<i64>,
    /// Alert states by task and alert id, kept across reloads (and, with a
    /// store, restarts).
    alert_states: AlertStates,
    /// The InfluxDB servers influxDBOut writes to.
    influxdb: Arc<[config::InfluxDbConfig]>,
    /// Deadman defaults, and whether every stream task gets a switch.
    deadman: config::DeadmanConfig,
    /// The config's named HTTP endpoints (`httppost`).
    endpoints: HttpEndpoints,
    /// The files sideload nodes read.
    sideloads: Sideloads,
    /// The workers every task runs on.
    pool: host::Pool,
    /// Points a task may have waiting (`pipeline.inbox_points`).
    inbox_points: usize,
    /// While many tasks are loaded at once: the routes of the tasks
    /// enabled meanwhile, installed together at the end.
    deferred_routes: Mutex<Option<HashMap<String, Route>>>,
}

/// A stored task's times, kept across restarts.
#[derive(Clone, Copy)]
struct Times {
    created: SystemTime,
    modified: SystemTime,
    last_enabled: Option<SystemTime>,
}

fn to_ns(t: SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn from_ns(ns: i64) -> SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns.max(0) as u64)
}

impl TaskManager {
    pub fn new(router: Arc<Router>) -> Self {
        TaskManager {
            router,
            http_out: Arc::default(),
            history: Arc::default(),
            tasks: Mutex::default(),
            store: None,
            dir_tasks: Mutex::default(),
            file_errors: Mutex::default(),
            group_idle_timeout: None,
            alert_states: AlertStates::in_memory(),
            influxdb: Arc::from([]),
            deadman: config::DeadmanConfig::default(),
            endpoints: HttpEndpoints::default(),
            sideloads: Sideloads::default(),
            pool: start_pool(0),
            inbox_points: config::PipelineConfig::default().inbox_points,
            deferred_routes: Mutex::default(),
        }
    }

    /// Runs `load` (which defines and enables many tasks) with the router
    /// updated once at the end rather than once per task: its table is
    /// rebuilt whole at each change, so a thousand tasks loaded one route
    /// at a time would cost a million route copies.
    pub fn loading_many<R>(&self, load: impl FnOnce() -> R) -> R {
        *self.deferred() = Some(HashMap::new());
        let out = load();
        let routes = self.deferred().take().unwrap_or_default();
        self.router.upsert_many(routes.into_values().collect());
        out
    }

    fn deferred(&self) -> std::sync::MutexGuard<'_, Option<HashMap<String, Route>>> {
        self.deferred_routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `route`'s task its points, now or, while loading many, at the
    /// end of the load.
    fn install_route(&self, route: Route) {
        let mut deferred = self.deferred();
        match deferred.as_mut() {
            Some(routes) => {
                routes.insert(route.task.to_string(), route);
            }
            None => {
                drop(deferred);
                self.router.upsert(route);
            }
        }
    }

    /// Stops routing points to task `id`.
    fn remove_route(&self, id: &str) {
        if let Some(routes) = self.deferred().as_mut() {
            routes.remove(id);
        }
        self.router.remove(id);
    }

    /// Tasks run on `workers` threads (0: one per core), each with an inbox
    /// of `inbox_points`. Call before any task is enabled.
    pub fn with_workers(mut self, workers: usize, inbox_points: usize) -> Self {
        self.pool = start_pool(workers);
        self.inbox_points = inbox_points.max(1);
        self
    }

    /// How many threads run the tasks.
    pub fn workers(&self) -> usize {
        self.pool.workers()
    }

    /// Deadman defaults; with `global`, tasks defined from now on get a
    /// deadman switch on their stream.
    pub fn with_deadman(mut self, deadman: config::DeadmanConfig) -> Self {
        self.deadman = deadman;
        self
    }

    /// Where `.endpoint(NAME)` finds its endpoint, for tasks defined and
    /// started from now on.
    pub fn with_http_endpoints(mut self, endpoints: &[config::HttpPostConfig]) -> Self {
        self.endpoints = HttpEndpoints::from_config(endpoints);
        self
    }

    /// Tasks started from now on write influxDBOut points to `servers`.
    pub fn with_influxdb(mut self, servers: &[config::InfluxDbConfig]) -> Self {
        self.influxdb = Arc::from(servers);
        self
    }

    /// Tasks started from now on delete a group that got no point for
    /// `timeout` (zero: never).
    pub fn with_group_idle_timeout(mut self, timeout: Duration) -> Self {
        self.group_idle_timeout =
            Some(i64::try_from(timeout.as_nanos()).unwrap_or(i64::MAX)).filter(|&t| t > 0);
        self
    }

    /// Defines a task from the tasks directory and enables or disables it as
    /// its YAML says. An unchanged task keeps running with its state.
    pub fn define_from_dir(&self, def: TaskDefinition, enabled: bool) -> Result<(), TaskError> {
        let id = def.id.clone();
        self.dir_tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone());
        self.define(def)?;
        if enabled {
            self.enable(&id)?;
        } else {
            self.disable(&id)?;
        }
        self.set_file_error(&id, None);
        Ok(())
    }

    /// Deletes a task whose files were removed from the tasks directory.
    pub fn remove_dir_task(&self, id: &str) {
        if let Err(e) = self.delete(id) {
            tracing::debug!(task = id, "{e}");
        }
        self.dir_tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        self.set_file_error(id, None);
    }

    /// Records (or clears) a problem with a task's files.
    pub fn set_file_error(&self, id: &str, error: Option<String>) {
        let mut errors = self.file_errors.lock().unwrap_or_else(|e| e.into_inner());
        match error {
            Some(e) => errors.insert(id.to_string(), e),
            None => errors.remove(id),
        };
    }

    /// Problems with files in the tasks directory, by task id.
    pub fn file_errors(&self) -> BTreeMap<String, String> {
        self.file_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn is_dir_task(&self, id: &str) -> bool {
        self.dir_tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(id)
    }

    /// A manager that keeps task definitions and their enabled state in
    /// `store`, so they survive restarts.
    pub fn with_store(router: Arc<Router>, store: Arc<storage::Store>) -> Self {
        let alert_states = AlertStates::with_store(store.clone());
        TaskManager {
            store: Some(store),
            alert_states,
            ..TaskManager::new(router)
        }
    }

    /// Defines (and enables, as they were) the tasks kept in the store.
    /// A task that no longer compiles is kept, disabled, with its error
    /// logged, rather than stopping the server. Returns how many started.
    pub fn restore(&self) -> Result<usize, TaskError> {
        let Some(store) = &self.store else {
            return Ok(0);
        };
        let mut started = 0;
        for record in store.list_tasks()? {
            let id = record.id.clone();
            let Ok(task_type) = record.task_type.parse::<dsl::TaskType>() else {
                tracing::error!(task = %id, "stored task has unknown type {:?}", record.task_type);
                continue;
            };
            let mut meta = record.meta.clone();
            let measurement = meta.remove("from");
            let def = TaskDefinition {
                id: id.clone(),
                task_type,
                dbrps: record
                    .dbrps
                    .iter()
                    .map(|(db, rp)| DbRp::new(db.as_str(), rp.as_str()))
                    .collect(),
                script: record.script.clone(),
                measurement,
                meta,
            };
            let times = Times {
                created: from_ns(record.created),
                modified: from_ns(record.modified),
                last_enabled: record.last_enabled.map(from_ns),
            };
            if let Err(e) = self.define_inner(def, Some(times)) {
                tracing::error!(task = %id, "stored task no longer compiles: {e}");
                continue;
            }
            if record.enabled {
                match self.enable_inner(&id, false) {
                    Ok(()) => started += 1,
                    Err(e) => tracing::error!(task = %id, "stored task cannot start: {e}"),
                }
            }
        }
        Ok(started)
    }

    /// Writes a task's current definition and state to the store.
    fn persist(&self, entry: &Entry) -> Result<(), TaskError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        if self.is_dir_task(&entry.def.id) {
            return Ok(());
        }
        let mut meta = entry.def.meta.clone();
        if let Some(from) = &entry.def.measurement {
            meta.insert("from".into(), from.clone());
        }
        let record = storage::TaskRecord {
            id: entry.def.id.clone(),
            task_type: entry.def.task_type.as_str().into(),
            dbrps: entry
                .def
                .dbrps
                .iter()
                .map(|d| (d.db.to_string(), d.rp.to_string()))
                .collect(),
            script: entry.def.script.clone(),
            meta,
            enabled: entry.enabled,
            created: to_ns(entry.created),
            modified: to_ns(entry.modified),
            last_enabled: entry.last_enabled.map(to_ns),
            error: String::new(),
        };
        store.put_task(&record)?;
        Ok(())
    }

    /// Recent alert events of every task.
    pub fn alert_history(&self) -> &Arc<AlertHistory> {
        &self.history
    }

    /// The files sideload nodes read (`POST /kapacitor/v1/sideload/reload`
    /// reads them again).
    pub fn sideloads(&self) -> &Sideloads {
        &self.sideloads
    }

    /// What became of the alert state changes sent to the store.
    pub fn alert_state_counts(&self) -> crate::effects::alert_states::AlertStateCounts {
        self.alert_states.counts()
    }

    pub fn http_out(&self) -> &Arc<HttpOutRegistry> {
        &self.http_out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Compiles and stores a task, replacing one with the same id. A running
    /// task whose definition changed is restarted with the new one; one whose
    /// definition is unchanged keeps running with its state.
    pub fn define(&self, def: TaskDefinition) -> Result<(), TaskError> {
        self.define_inner(def, None)
    }

    fn define_inner(&self, def: TaskDefinition, restored: Option<Times>) -> Result<(), TaskError> {
        if let Some(w) = def.meta.get("where") {
            config::WherePredicate::parse(w)?;
        }
        let vars = match def.meta.get("vars") {
            None => None,
            Some(text) => Some(
                serde_json::from_str::<serde_json::Value>(text)
                    .map_err(|e| TaskError::Script(format!("vars: {e}")))?,
            ),
        };
        let mut plan = crate::tasks::vars::compile(
            &def.script,
            def.task_type,
            vars.as_ref(),
            &format!("{}.tick", def.id),
        )
        .map_err(TaskError::Script)?;
        if self.deadman.global && def.task_type == dsl::TaskType::Stream {
            let interval = i64::try_from(self.deadman.interval.as_nanos()).unwrap_or(i64::MAX);
            plan.add_deadman(0, self.deadman.threshold, interval);
        }
        if restored.is_none() {
            // What only building the nodes can see is refused now, while the
            // running version (if any) is untouched. A stored task is not
            // checked again: it was when defined, and is kept whatever comes.
            let check = CheckEnv {
                task: &def.id,
                group_idle_timeout: self.group_idle_timeout,
                deadman: &self.deadman,
                endpoints: &self.endpoints,
                sideloads: &self.sideloads,
            };
            check.build(&plan).map_err(|d| {
                TaskError::Script(d.render(&format!("{}.tick", def.id), &def.script))
            })?;
        }
        let mut tasks = self.lock();
        if let Some(existing) = tasks.get(&def.id)
            && existing.def == def
        {
            return Ok(());
        }
        let was_enabled = tasks.get(&def.id).is_some_and(|e| e.enabled);
        let now = SystemTime::now();
        let (created, mut modified, last_enabled) = tasks
            .get(&def.id)
            .map_or((now, now, None), |e| (e.created, now, e.last_enabled));
        let (created, last_enabled) = match restored {
            Some(t) => {
                modified = t.modified;
                (t.created, t.last_enabled)
            }
            None => (created, last_enabled),
        };
        if let Some(old) = tasks.remove(&def.id) {
            self.stop(&def.id, old);
        }
        let id = def.id.clone();
        tasks.insert(
            id.clone(),
            Entry {
                def,
                plan,
                enabled: false,
                running: None,
                created,
                modified,
                last_enabled,
            },
        );
        if restored.is_none()
            && let Some(entry) = tasks.get_mut(&id)
        {
            // Stored as it will be: still enabled if it was.
            entry.enabled = was_enabled;
            self.persist(entry)?;
            entry.enabled = false;
        }
        drop(tasks);
        if was_enabled {
            self.enable(&id)?;
        }
        Ok(())
    }

    /// Starts a task.
    pub fn enable(&self, id: &str) -> Result<(), TaskError> {
        self.enable_inner(id, true)
    }

    fn enable_inner(&self, id: &str, save: bool) -> Result<(), TaskError> {
        let mut tasks = self.lock();
        let entry = tasks
            .get_mut(id)
            .ok_or_else(|| TaskError::NotFound(id.to_string()))?;
        if !entry.enabled && save {
            entry.last_enabled = Some(SystemTime::now());
        }
        entry.enabled = true;
        if save {
            self.persist(entry)?;
        }
        if entry.running.is_some() {
            return Ok(());
        }
        let handlers = Arc::new(
            HandlerRegistry::new(self.history.clone()).with_endpoints(self.endpoints.clone()),
        );
        let outputs = Arc::new(OutputRegistry::new(self.influxdb.clone()));
        let env = Env {
            task: id,
            http_out: &self.http_out,
            handlers: &handlers,
            group_idle_timeout: self.group_idle_timeout,
            alert_states: Some(self.alert_states.for_task(id)),
            outputs: &outputs,
            loopback: Some(self.router.clone()),
            deadman: Some(&self.deadman),
            endpoints: &self.endpoints,
            sideloads: &self.sideloads,
        };
        let built = match entry.def.task_type {
            dsl::TaskType::Stream => {
                build_stream_task(&entry.plan, &env).map(host::TaskKind::Stream)
            }
            // Fed by whoever runs its queries ([`TaskManager::feed`]).
            dsl::TaskType::Batch => build_dag(&entry.plan, &env).map(host::TaskKind::Batch),
        };
        let task = match built {
            Ok(task) => task,
            Err(e) => {
                // Nothing was offered to them yet.
                handlers.close_all(Instant::now());
                outputs.close_all(Instant::now());
                return Err(e.into());
            }
        };
        let stats = task.dag().stats_handles();
        let runner = host::Runner::new(task, host::ClockMode::Wall);
        let handle = self.pool.spawn(id, Box::new(runner), self.inbox_points);
        if entry.def.task_type == dsl::TaskType::Stream {
            self.install_route(Route {
                task: Name::from(id),
                dbrps: entry.def.dbrps.clone(),
                measurement: entry.def.measurement.as_deref().map(Name::from),
                filter: where_filter(&entry.def)?,
                inbox: Arc::new(handle.clone()),
            });
        }
        entry.running = Some(Running {
            task: handle,
            handlers,
            outputs,
            stats,
        });
        Ok(())
    }

    /// Hands `input` to a running task, waiting for room in its inbox: how
    /// a batch task gets its query results.
    pub fn feed(&self, id: &str, input: host::Input) -> Result<(), TaskError> {
        let task = self
            .lock()
            .get(id)
            .and_then(|e| e.running.as_ref().map(|r| r.task.clone()))
            .ok_or_else(|| TaskError::NotFound(id.to_string()))?;
        task.send(input)
            .map_err(|_| TaskError::Script(format!("task {id:?} is stopping")))
    }

    /// Stops a task; its definition stays.
    pub fn disable(&self, id: &str) -> Result<(), TaskError> {
        let mut tasks = self.lock();
        let entry = tasks
            .get_mut(id)
            .ok_or_else(|| TaskError::NotFound(id.to_string()))?;
        entry.enabled = false;
        self.persist(entry)?;
        if let Some(running) = entry.running.take() {
            self.remove_route(id);
            join(running);
        }
        Ok(())
    }

    /// Stops and forgets a task.
    pub fn delete(&self, id: &str) -> Result<(), TaskError> {
        let entry = self
            .lock()
            .remove(id)
            .ok_or_else(|| TaskError::NotFound(id.to_string()))?;
        self.stop(id, entry);
        self.http_out.remove_task(id);
        if let Some(store) = &self.store {
            store.delete_task(id)?;
        }
        self.alert_states.remove_task(id);
        Ok(())
    }

    fn stop(&self, id: &str, mut entry: Entry) {
        if let Some(running) = entry.running.take() {
            self.remove_route(id);
            join(running);
        }
    }

    /// Stops every task (server shutdown), letting each drain its queue,
    /// then gives all their handlers and outputs one deadline together.
    pub fn stop_all(&self) {
        let running: Vec<Running> = self
            .lock()
            .values_mut()
            .filter_map(|e| e.running.take())
            .collect();
        // Every task stops taking input and drains at once; then each is
        // waited for, all within one deadline.
        self.router.set_routes(Vec::new());
        for r in &running {
            r.task.close();
        }
        let deadline = Instant::now() + STOP_WAIT;
        for r in &running {
            wait_for_task(r, deadline);
        }
        let deadline = Instant::now() + EFFECTS_STOP_WAIT;
        for running in &running {
            running.handlers.close_all(deadline);
            running.outputs.close_all(deadline);
        }
        // No task publishes any more: commit what their alerts left.
        self.alert_states.close();
    }

    /// Every task, by id.
    pub fn list(&self) -> Vec<TaskInfo> {
        let errors = self.file_errors();
        self.lock()
            .values()
            .map(|e| with_file_error(info(e), &errors))
            .collect()
    }

    /// The definition of a task, to build an update on.
    pub fn definition(&self, id: &str) -> Option<TaskDefinition> {
        self.lock().get(id).map(|e| e.def.clone())
    }

    /// Whether the task is enabled (running or meant to).
    pub fn is_enabled(&self, id: &str) -> Option<bool> {
        self.lock().get(id).map(|e| e.enabled)
    }

    pub fn get(&self, id: &str) -> Option<TaskInfo> {
        let errors = self.file_errors();
        self.lock()
            .get(id)
            .map(|e| with_file_error(info(e), &errors))
    }
}

/// A running task's own failure wins; otherwise a problem with its files.
fn with_file_error(mut info: TaskInfo, errors: &BTreeMap<String, String>) -> TaskInfo {
    if info.error.is_empty()
        && let Some(e) = errors.get(&info.id)
    {
        info.error = e.clone();
    }
    info
}

fn info(entry: &Entry) -> TaskInfo {
    let (status, executing, error, nodes, received, dropped) = match &entry.running {
        Some(r) => {
            let failure = r.task.failure();
            let nodes = r
                .stats
                .iter()
                .map(|(name, kind, s)| s.snapshot(name, kind))
                .collect();
            let counts = r.task.counts();
            let (received, dropped) = (counts.received, counts.dropped);
            match failure {
                Some(e) => (TaskStatus::Errored, false, e, nodes, received, dropped),
                None => (
                    TaskStatus::Enabled,
                    true,
                    String::new(),
                    nodes,
                    received,
                    dropped,
                ),
            }
        }
        None if entry.enabled => (TaskStatus::Enabled, false, String::new(), Vec::new(), 0, 0),
        None => (TaskStatus::Disabled, false, String::new(), Vec::new(), 0, 0),
    };
    TaskInfo {
        id: entry.def.id.clone(),
        task_type: entry.def.task_type,
        dbrps: entry.def.dbrps.clone(),
        script: entry.def.script.clone(),
        from: entry.def.measurement.clone(),
        meta: entry
            .def
            .meta
            .iter()
            .filter(|(k, _)| *k != "vars")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        vars: entry
            .def
            .meta
            .get("vars")
            .and_then(|v| serde_json::from_str(v).ok()),
        created: rfc3339(entry.created),
        modified: rfc3339(entry.modified),
        last_enabled: entry.last_enabled.map(rfc3339),
        status,
        executing,
        error,
        points_received: received,
        points_dropped: dropped,
        nodes,
        dot: entry.plan.to_dot(&entry.def.id),
    }
}

/// The router's filter for a task's `where` (checked when it was defined).
fn where_filter(def: &TaskDefinition) -> Result<Option<pipeline::PointFilter>, TaskError> {
    let Some(source) = def.meta.get("where") else {
        return Ok(None);
    };
    Ok(Some(point_filter(source)?))
}

/// The router's filter for a task's YAML `where` (InfluxQL-style or lambda
/// style), compiled once.
pub fn point_filter(source: &str) -> Result<pipeline::PointFilter, config::WhereError> {
    let predicate = config::WherePredicate::parse(source)?;
    let mut names = Vec::new();
    read_names(predicate.expr(), &mut names);
    Ok(pipeline::PointFilter::new(
        names,
        move |point: &pipeline::Point| {
            // A tag first, then a field, as InfluxQL's WHERE resolves names.
            predicate.eval(&|name: &str| {
                if let Some(v) = point.series.tag(name) {
                    return Some(config::Value::String(v.to_string()));
                }
                point.fields.get(name).and_then(|v| match v {
                    pipeline::FieldValue::Float(f) => Some(config::Value::Float(*f)),
                    pipeline::FieldValue::Integer(i) => Some(config::Value::Int(*i)),
                    pipeline::FieldValue::Unsigned(u) => {
                        i64::try_from(*u).ok().map(config::Value::Int)
                    }
                    pipeline::FieldValue::String(s) => Some(config::Value::String(s.to_string())),
                    pipeline::FieldValue::Boolean(b) => Some(config::Value::Bool(*b)),
                })
            })
        },
    ))
}

/// The tag or field names `expr` reads.
fn read_names(expr: &config::WhereExpr, names: &mut Vec<pipeline::Name>) {
    use config::{Operand, WhereExpr};
    let operand = |o: &Operand, names: &mut Vec<pipeline::Name>| {
        if let Operand::Ident(name) = o {
            names.push(pipeline::Name::from(name.as_str()));
        }
    };
    match expr {
        WhereExpr::And(a, b) | WhereExpr::Or(a, b) => {
            read_names(a, names);
            read_names(b, names);
        }
        WhereExpr::Not(e) => read_names(e, names),
        WhereExpr::Compare { left, right, .. } => {
            operand(left, names);
            operand(right, names);
        }
        WhereExpr::Matches { ident, .. } => names.push(pipeline::Name::from(ident.as_str())),
        WhereExpr::Truthy(o) => operand(o, names),
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Closes the task's inbox and waits (a while) for it to process what it
/// holds, then lets its handlers and outputs finish their queues (a while).
fn join(running: Running) {
    running.task.close();
    wait_for_task(&running, Instant::now() + STOP_WAIT);
    let deadline = Instant::now() + EFFECTS_STOP_WAIT;
    running.handlers.close_all(deadline);
    running.outputs.close_all(deadline);
}

/// Waits until `deadline` for a closed task to process what it holds.
fn wait_for_task(running: &Running, deadline: Instant) {
    if !running
        .task
        .wait(deadline.saturating_duration_since(Instant::now()))
    {
        tracing::warn!(
            task = running.task.name(),
            "task still busy {STOP_WAIT:?} after it was asked to stop; it ends on its own"
        );
    }
}

/// The pool every task runs on: `workers` threads, or one per core.
fn start_pool(workers: usize) -> host::Pool {
    let workers = match workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    // Threads that cannot start leave the daemon unable to run any task:
    // that is a failure at start, as a port in use is.
    host::Pool::new(workers).unwrap_or_else(|e| panic!("cannot start {workers} task workers: {e}"))
}
