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
mod dbrps;
pub mod dir;
mod env;
mod filter;
pub mod handlers_dir;
mod info;
mod restart;
mod run;
pub mod sideload;
mod store;
pub mod vars;

pub use env::{Env, HttpOutRegistry};
pub(crate) use env::{deadman_templates, sideload_source};
pub use filter::point_filter;
use filter::{overflow, where_filter};
pub use info::{PanicInfo, TaskInfo, TaskStatus};
use info::{info, with_file_error};
pub use restart::supervise;
use run::{Built, EFFECTS_STOP_WAIT, Running, STOP_WAIT, join, wait_for_task};
use store::Times;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::effects::alert_states::AlertStates;
use crate::effects::endpoints::HttpEndpoints;
use crate::tasks::check::CheckEnv;
use crate::tasks::sideload::Sideloads;

use crate::effects::handlers::AlertHistory;
use crate::effects::topics::Topics;
use pipeline::nodes::alert::Inhibitions;
use pipeline::{DbRp, Name, Route, Router};

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
    /// As given (API, CLI, YAML); empty: the script's `dbrp` statements
    /// say, or, with none, every database and retention policy.
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
    #[error(
        "must specify dbrp: stream task {0:?} does not say which database it reads; add \
         `dbrp \"telegraf\".\"autogen\"` to its script, or give its dbrps (-dbrp \
         telegraf.autogen, `dbrps` in the API, `dbrp:` in its YAML) or what it reads \
         (`from:` or `where:` in its YAML, --from or --where)"
    )]
    NoDbrp(String),
}

struct Entry {
    def: TaskDefinition,
    plan: dsl::Plan,
    /// What it reads: `def.dbrps`, else the script's (empty: everything).
    dbrps: Vec<DbRp>,
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
    /// Restarts in a row after panics before a task is left errored
    /// (`pipeline.restart_attempts`).
    restart_attempts: u32,
    /// Where refused definitions and failed restarts are counted.
    breaches: Arc<model::LimitBreaches>,
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
            restart_attempts: config::PipelineConfig::default().restart_attempts,
            breaches: Arc::default(),
        }
    }

    /// A task that panics is restarted at most `attempts` times in a row
    /// (by [`supervise`]).
    pub fn with_restart_attempts(mut self, attempts: u32) -> Self {
        self.restart_attempts = attempts;
        self
    }

    /// Counts the limits that refused a definition (and the tasks left
    /// errored after too many panics) in `breaches`.
    pub fn with_limit_breaches(mut self, breaches: Arc<model::LimitBreaches>) -> Self {
        self.sideloads = Sideloads::new(self.sideloads.limits().clone(), breaches.clone());
        self.breaches = breaches;
        self
    }

    /// Sideload sources read from now on are held to `limits`.
    pub fn with_sideload_limits(mut self, limits: &config::SideloadConfig) -> Self {
        self.sideloads = Sideloads::new(limits.clone(), self.breaches.clone());
        self
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

    /// What a script may ask for (`limits:`).
    pub fn script_limits(&self) -> &dsl::Limits {
        &self.limits
    }

    /// How often each limit was breached.
    pub fn limit_breaches(&self) -> &Arc<model::LimitBreaches> {
        &self.breaches
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
        self.define_inner(def, None).inspect_err(|e| {
            if !matches!(e, TaskError::Store(_)) {
                self.breaches.cited_in(&e.to_string());
            }
        })
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
        let dbrps = dbrps::resolve(&def, &plan);
        if restored.is_none() {
            // A stored task was accepted when defined (maybe before this
            // check existed) and keeps reading what it read.
            dbrps::require_source(&def, &dbrps)?;
        }
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
                crate::batch::specs(&plan, &def.meta, &dbrps).map_err(TaskError::Script)?;
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
            dbrps,
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

    /// Starts a task; one left errored after too many panics starts anew.
    pub fn enable(&self, id: &str) -> Result<(), TaskError> {
        if self.gave_up(id) {
            let running = self.lock().get_mut(id).and_then(|e| e.running.take());
            if let Some(running) = running {
                join(running);
            }
        }
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
        let Built {
            task,
            handlers,
            outputs,
        } = self.build(id, entry)?;
        let (runner, stats) = Built::runner(task);
        let handle = self.pool.spawn(id, Box::new(runner), self.inbox_points);
        if entry.def.task_type == dsl::TaskType::Stream {
            self.install_route(Route {
                task: Name::from(id),
                dbrps: entry.dbrps.clone(),
                measurement: entry.def.measurement.as_deref().map(Name::from),
                filter: where_filter(&entry.def)?,
                inbox: Arc::new(handle.clone()),
                block_when_full: overflow(&entry.def)? == config::Overflow::Block,
            });
        }
        let batch = (entry.def.task_type == dsl::TaskType::Batch).then(|| {
            let specs = crate::batch::specs(&entry.plan, &entry.def.meta, &entry.dbrps)
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
            health: Default::default(),
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

    /// Stops and forgets a task. Forgotten by the store first: a store
    /// that refuses leaves the task as it was, in memory as on disk.
    pub fn delete(&self, id: &str) -> Result<(), TaskError> {
        let mut tasks = self.lock();
        if !tasks.contains_key(id) {
            return Err(TaskError::NotFound(id.to_string()));
        }
        if let Some(store) = &self.store
            && !self.is_dir_task(id)
        {
            store.delete_task(id)?;
        }
        let entry = tasks
            .remove(id)
            .ok_or_else(|| TaskError::NotFound(id.to_string()))?;
        drop(tasks);
        self.stop(id, entry);
        self.http_out.remove_task(id);
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

    /// A task's definition as it runs (its dbrps those it reads, from its
    /// script when none were given) and compiled plan: what a replay runs
    /// and a recording for the task records.
    pub fn compiled(&self, id: &str) -> Option<(TaskDefinition, dsl::Plan)> {
        self.lock().get(id).map(|e| {
            let mut def = e.def.clone();
            def.dbrps = e.dbrps.clone();
            (def, e.plan.clone())
        })
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
