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
mod env;
mod filter;
pub mod handlers_dir;
mod info;
pub mod sideload;
mod store;
pub mod vars;

pub use env::{Env, HttpOutRegistry};
pub(crate) use env::{deadman_templates, sideload_source};
pub use filter::point_filter;
use filter::{overflow, where_filter};
pub use info::{TaskInfo, TaskStatus};
use info::{info, with_file_error};
use store::Times;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::effects::alert_states::AlertStates;
use crate::effects::endpoints::HttpEndpoints;
use crate::effects::outputs::OutputRegistry;
use crate::tasks::check::CheckEnv;
use crate::tasks::sideload::Sideloads;

use pipeline::build::{build_dag, build_stream_task};

use crate::effects::handlers::{AlertHistory, HandlerRegistry};
use crate::effects::topics::Topics;
use pipeline::nodes::alert::Inhibitions;
use pipeline::runtime::NodeStats;
use pipeline::{DbRp, Name, Route, Router};

/// How long stopping a task waits for it to process what it holds before
/// going on without it (it still ends on the pool when it can). With
/// [`EFFECTS_STOP_WAIT`], a disable, delete or shutdown answers within 5 s.
const STOP_WAIT: Duration = Duration::from_secs(1);
/// How long a stopped task's handlers and outputs may go on delivering
/// what they hold before the rest is abandoned (counted as dropped): an
/// endpoint that never answers must not hold up a disable or a shutdown.
const EFFECTS_STOP_WAIT: Duration = Duration::from_secs(2);

/// The worker pool, for the status.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct PoolStatus {
    pub workers: usize,
    pub threads: usize,
    /// Points each task's inbox holds at most.
    pub inbox_points: usize,
}

/// Ids as Kapacitor allows them (tasks, recordings, replays): letters,
/// digits, `-`, `.`, `_`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 255
        && id
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

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

/// A running task: its place on the pool, its effects, and handles to its
/// counters.
struct Running {
    task: host::TaskHandle,
    handlers: Arc<HandlerRegistry>,
    outputs: Arc<OutputRegistry>,
    stats: Vec<(String, String, Arc<NodeStats>)>,
    /// A batch task's scheduled queries.
    batch: Option<crate::batch::BatchRun>,
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
    /// See [`Env::alert_state_idle_timeout`].
    alert_state_idle_timeout: Option<i64>,
    /// `limits:` of the config: what a script may ask for.
    limits: dsl::Limits,
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
    /// Where `.topic()` publishes; `None`: nowhere.
    topics: Option<Arc<Topics>>,
    /// Every task's `.inhibit()`s, for every task's `.category()`.
    inhibitions: Arc<Inhibitions>,
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
            alert_state_idle_timeout: None,
            limits: dsl::Limits::default(),
            alert_states: AlertStates::in_memory(),
            influxdb: Arc::from([]),
            deadman: config::DeadmanConfig::default(),
            endpoints: HttpEndpoints::default(),
            sideloads: Sideloads::default(),
            pool: start_pool(0),
            inbox_points: config::PipelineConfig::default().inbox_points,
            deferred_routes: Mutex::default(),
            topics: None,
            inhibitions: Inhibitions::new(),
        }
    }

    /// Tasks started from now on publish their alerts' `.topic()`s to
    /// `topics`.
    pub fn with_topics(mut self, topics: Arc<Topics>) -> Self {
        self.topics = Some(topics);
        self
    }

    /// The topics tasks publish to, if any.
    pub fn topics(&self) -> Option<&Arc<Topics>> {
        self.topics.as_ref()
    }

    /// The inhibitors of every task.
    pub fn inhibitions(&self) -> &Arc<Inhibitions> {
        &self.inhibitions
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

    /// The worker pool as the status shows it: its size, and the threads
    /// alive now (more while tasks wait in `host::blocking`).
    pub fn pool_status(&self) -> PoolStatus {
        PoolStatus {
            workers: self.pool.workers(),
            threads: self.pool.threads(),
            inbox_points: self.inbox_points,
        }
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

    /// Scripts defined from now on are held to `limits`.
    pub fn with_limits(mut self, limits: &config::LimitsConfig) -> Self {
        self.limits = *limits;
        self
    }

    /// Tasks started from now on delete a group that got no point for
    /// `timeout` (zero: never).
    pub fn with_group_idle_timeout(mut self, timeout: Duration) -> Self {
        self.group_idle_timeout =
            Some(i64::try_from(timeout.as_nanos()).unwrap_or(i64::MAX)).filter(|&t| t > 0);
        self
    }

    /// Tasks started from now on forget an alert that is not OK once its
    /// group got no point for `timeout` (zero: never), its recovery unsent.
    pub fn with_alert_state_idle_timeout(mut self, timeout: Duration) -> Self {
        self.alert_state_idle_timeout =
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
            config::WherePredicate::parse_with_depth(w, self.limits.max_expression_depth)?;
        }
        overflow(&def)?;
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
            &self.limits,
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
            if def.task_type == dsl::TaskType::Batch {
                crate::batch::specs(&plan, &def.meta, &def.dbrps).map_err(TaskError::Script)?;
            }
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
        let id = def.id.clone();
        let mut entry = Entry {
            def,
            plan,
            // Stored as it will be: still enabled if it was.
            enabled: was_enabled,
            running: None,
            created,
            modified,
            last_enabled,
        };
        if restored.is_none() {
            // Saved before anything changes: a store that refuses it leaves
            // the old definition running, in memory as on disk.
            self.persist(&entry)?;
        }
        entry.enabled = false;
        let stream = entry.def.task_type == dsl::TaskType::Stream;
        let old = tasks
            .insert(id.clone(), entry)
            .and_then(|mut old| old.running.take());
        drop(tasks);
        // The new version starts first and its route replaces the old one's
        // in one step, so no write falls between the two; then the old one
        // drains, without the lock: status and other tasks do not wait for
        // its handlers.
        let enabled = if was_enabled {
            self.enable(&id)
        } else {
            Ok(())
        };
        if let Some(running) = old {
            if !(stream && was_enabled && enabled.is_ok()) {
                self.remove_route(&id);
            }
            join(running);
        }
        enabled
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
        let before = (entry.enabled, entry.last_enabled);
        if !entry.enabled && save {
            entry.last_enabled = Some(SystemTime::now());
        }
        entry.enabled = true;
        if save && let Err(e) = self.persist(entry) {
            // Memory stays what the store holds.
            (entry.enabled, entry.last_enabled) = before;
            return Err(e);
        }
        if entry.running.is_some() {
            return Ok(());
        }
        self.http_out.forget_replay(id);
        let mut handlers =
            HandlerRegistry::new(self.history.clone()).with_endpoints(self.endpoints.clone());
        if let Some(topics) = &self.topics {
            handlers = handlers.with_topics(topics.clone());
        }
        let handlers = Arc::new(handlers);
        let outputs = Arc::new(OutputRegistry::new(self.influxdb.clone()));
        let env = Env {
            task: id,
            http_out: &self.http_out,
            handlers: &handlers,
            group_idle_timeout: self.group_idle_timeout,
            alert_state_idle_timeout: self.alert_state_idle_timeout,
            alert_states: Some(self.alert_states.for_task(id)),
            outputs: &outputs,
            loopback: Some(self.router.clone()),
            deadman: Some(&self.deadman),
            endpoints: &self.endpoints,
            sideloads: &self.sideloads,
            inhibitions: Some(self.inhibitions.clone()),
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
                block_when_full: overflow(&entry.def)? == config::Overflow::Block,
            });
        }
        let batch = (entry.def.task_type == dsl::TaskType::Batch).then(|| {
            let specs = crate::batch::specs(&entry.plan, &entry.def.meta, &entry.def.dbrps)
                .unwrap_or_else(|e| {
                    // Checked when defined; a stored task is not refused.
                    tracing::error!(task = id, "batch task cannot run its queries: {e}");
                    Vec::new()
                });
            crate::batch::scheduler::start(id, specs, &self.influxdb, handle.clone())
        });
        entry.running = Some(Running {
            task: handle,
            handlers,
            outputs,
            stats,
            batch,
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
        if entry.enabled {
            entry.enabled = false;
            if let Err(e) = self.persist(entry) {
                entry.enabled = true;
                return Err(e);
            }
        }
        let running = entry.running.take();
        if running.is_some() {
            self.remove_route(id);
        }
        // Drains without the lock, as define's restart does.
        drop(tasks);
        if let Some(running) = running {
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
            if let Some(b) = &r.batch {
                b.stop();
            }
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

    /// A task's definition and compiled plan: what a replay runs.
    pub fn compiled(&self, id: &str) -> Option<(TaskDefinition, dsl::Plan)> {
        self.lock().get(id).map(|e| (e.def.clone(), e.plan.clone()))
    }

    /// Whether the task runs now (on live data).
    pub fn is_running(&self, id: &str) -> bool {
        self.lock().get(id).is_some_and(|e| e.running.is_some())
    }

    /// The router's filter for a task's `where`.
    pub fn where_filter(
        &self,
        def: &TaskDefinition,
    ) -> Result<Option<pipeline::PointFilter>, TaskError> {
        where_filter(def)
    }

    /// The workers tasks run on; replays run there too.
    pub fn pool(&self) -> &host::Pool {
        &self.pool
    }

    /// The config's named HTTP endpoints.
    pub fn http_endpoints(&self) -> &HttpEndpoints {
        &self.endpoints
    }

    /// The `deadman` section.
    pub fn deadman(&self) -> &config::DeadmanConfig {
        &self.deadman
    }

    /// What the runs of each running batch task did, by task id.
    pub fn batch_stats(&self) -> Vec<(String, crate::batch::BatchStatus)> {
        self.lock()
            .iter()
            .filter_map(|(id, e)| {
                let b = e.running.as_ref()?.batch.as_ref()?;
                Some((id.clone(), b.stats.snapshot()))
            })
            .collect()
    }

    pub fn get(&self, id: &str) -> Option<TaskInfo> {
        let errors = self.file_errors();
        self.lock()
            .get(id)
            .map(|e| with_file_error(info(e), &errors))
    }
}

/// Closes the task's inbox and waits (a while) for it to process what it
/// holds, then lets its handlers and outputs finish their queues (a while).
fn join(running: Running) {
    if let Some(b) = &running.batch {
        b.stop();
    }
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
