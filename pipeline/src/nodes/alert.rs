//! `alert`: turns points and batches into alert levels and events, with
//! Kapacitor's rules for when an event is sent.
//!
//! The node is a synchronous state machine on the data path. Each point (or
//! batch) gets a level from the `info`/`warn`/`crit` conditions; the group's
//! [`AlertState`](state::AlertState) decides whether that is an event
//! (every non-OK evaluation, recoveries, `stateChangesOnly`, flapping); the
//! event goes to an [`AlertSink`], and the triggering data goes on to the
//! node's children, annotated with the alert's level, ID, message or
//! duration when asked.
//!
//! Handlers (post, log, tcp, exec) and topics (`.topic()`) are not here:
//! they sit behind the sink, off the data path. `.inhibit()` and
//! `.category()` are ([`inhibit`]): an event of a category that an alert
//! of another group inhibits is still sent to the sink, marked inhibited,
//! for the sink to record and not hand to handlers.

mod event;
pub mod inhibit;
mod persist;
mod plan;
mod state;
mod template;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use event::{AlertEvent, EventData, Level};
pub use inhibit::{Inhibitions, Inhibitor};
pub use persist::{AlertStateStore, SavedAlert};
pub use plan::topic_of;
pub use template::{
    RenderError, ServerInfo, Template, TemplateData, TemplateError, TemplateKind, go_duration,
    go_float, go_time,
};

use crate::batch::{Batch, Message};
use crate::group::GroupKey;
use crate::node::{Node, NodeError, Prefetch};
use crate::point::{FieldValue, Fields, Name, Point, Series, Tags};
use state::AlertState;

/// What a condition sees: one point, or one point of a batch (with the
/// batch's measurement).
#[derive(Clone, Copy, Debug)]
pub struct EvalInput<'a> {
    pub name: &'a str,
    pub time: i64,
    pub tags: &'a Tags,
    pub fields: &'a Fields,
}

/// A level's condition (`.crit(lambda: ...)`). `FnMut` because lambdas such
/// as `sigma()` keep state between points.
pub trait Condition: Send {
    fn eval(&mut self, input: &EvalInput<'_>) -> Result<bool, NodeError>;
}

impl<F> Condition for F
where
    F: FnMut(&EvalInput<'_>) -> Result<bool, NodeError> + Send,
{
    fn eval(&mut self, input: &EvalInput<'_>) -> Result<bool, NodeError> {
        self(input)
    }
}

/// Where events go. Called on the data path, so it must be cheap and never
/// block: a real sink copies the event into bounded handler queues.
pub trait AlertSink: Send + Sync {
    fn publish(&self, event: &AlertEvent);
}

/// A sink that keeps every event in memory: for tests and `kapacitor test`.
#[derive(Debug, Default)]
pub struct MemorySink {
    events: Mutex<Vec<AlertEvent>>,
}

impl MemorySink {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// The events published so far, in order.
    pub fn events(&self) -> Vec<AlertEvent> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl AlertSink for MemorySink {
    fn publish(&self, event: &AlertEvent) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
    }
}

/// Kapacitor's default templates.
pub const DEFAULT_ID: &str = "{{ .Name }}:{{ .Group }}";
pub const DEFAULT_MESSAGE: &str = "{{ .ID }} is {{ .Level }}";
pub const DEFAULT_DETAILS: &str = "{{ json . }}";
/// Kapacitor's default `.history()`.
pub const DEFAULT_HISTORY: usize = 21;

pub type BoxedCondition = Box<dyn Condition>;

/// What an `alert` node does, as the script says it.
pub struct AlertSpec {
    /// The task's ID, for `.TaskName`.
    pub task_name: String,
    pub id: String,
    pub message: String,
    pub details: String,
    /// The level conditions, indexed by [`Level`]; `[0]` (OK) is ignored.
    /// Set them with [`AlertSpec::info`] and friends.
    pub conditions: [Option<BoxedCondition>; 4],
    /// The reset conditions, indexed likewise.
    pub resets: [Option<BoxedCondition>; 4],
    /// `None`: every evaluation is an event. `Some(None)`:
    /// `.stateChangesOnly()`. `Some(Some(d))`: also re-send an unchanged
    /// level once `d` ns have passed since the last event.
    pub state_changes_only: Option<Option<i64>>,
    pub no_recoveries: bool,
    /// `.flapping(low, high)`, shares between 0 and 1.
    pub flapping: Option<(f64, f64)>,
    /// How many levels to remember; at least 2.
    pub history: usize,
    /// Batches: the level is the lowest of all points, not the highest.
    pub all: bool,
    pub level_tag: Option<String>,
    pub level_field: Option<String>,
    pub message_field: Option<String>,
    pub duration_field: Option<String>,
    pub id_tag: Option<String>,
    pub id_field: Option<String>,
    pub server_info: ServerInfo,
    /// `.category(NAME)`: what other alerts' `.inhibit()` names.
    pub category: Option<String>,
    /// `.inhibit(CATEGORY, TAGS...)`, one per call: the category it
    /// silences and the tags that must be equal.
    pub inhibits: Vec<(String, Vec<String>)>,
}

impl Default for AlertSpec {
    fn default() -> Self {
        AlertSpec {
            task_name: String::new(),
            id: DEFAULT_ID.into(),
            message: DEFAULT_MESSAGE.into(),
            details: DEFAULT_DETAILS.into(),
            conditions: Default::default(),
            resets: Default::default(),
            state_changes_only: None,
            no_recoveries: false,
            flapping: None,
            history: DEFAULT_HISTORY,
            all: false,
            level_tag: None,
            level_field: None,
            message_field: None,
            duration_field: None,
            id_tag: None,
            id_field: None,
            server_info: ServerInfo::default(),
            category: None,
            inhibits: Vec::new(),
        }
    }
}

impl AlertSpec {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the condition for `level` (ignored for OK).
    pub fn condition(mut self, level: Level, c: impl Condition + 'static) -> Self {
        if level != Level::Ok {
            self.conditions[level.index()] = Some(Box::new(c));
        }
        self
    }

    /// Sets the reset condition for `level` (ignored for OK): once at
    /// `level`, the alert stays there until this is true.
    pub fn reset(mut self, level: Level, c: impl Condition + 'static) -> Self {
        if level != Level::Ok {
            self.resets[level.index()] = Some(Box::new(c));
        }
        self
    }

    pub fn info(self, c: impl Condition + 'static) -> Self {
        self.condition(Level::Info, c)
    }

    pub fn warn(self, c: impl Condition + 'static) -> Self {
        self.condition(Level::Warning, c)
    }

    pub fn crit(self, c: impl Condition + 'static) -> Self {
        self.condition(Level::Critical, c)
    }

    pub fn info_reset(self, c: impl Condition + 'static) -> Self {
        self.reset(Level::Info, c)
    }

    pub fn warn_reset(self, c: impl Condition + 'static) -> Self {
        self.reset(Level::Warning, c)
    }

    pub fn crit_reset(self, c: impl Condition + 'static) -> Self {
        self.reset(Level::Critical, c)
    }
}

/// The `alert` node. State is kept per group, as in Kapacitor; the ID is
/// rendered per point.
pub struct AlertNode {
    task_name: String,
    server_info: ServerInfo,
    id_tmpl: Template,
    /// The ID template reads no tags, so a group's ID never changes.
    id_per_group: bool,
    message_tmpl: Template,
    details_tmpl: Template,
    conditions: [Option<BoxedCondition>; 4],
    resets: [Option<BoxedCondition>; 4],
    /// The seed's bare `alert()`: every point is CRITICAL.
    always_critical: bool,
    state_changes_only: bool,
    resend_after: Option<i64>,
    no_recoveries: bool,
    flapping: Option<(f64, f64)>,
    history: usize,
    all: bool,
    level_tag: Option<Name>,
    level_field: Option<Name>,
    message_field: Option<Name>,
    duration_field: Option<Name>,
    id_tag: Option<Name>,
    id_field: Option<Name>,
    sink: Arc<dyn AlertSink>,
    groups: crate::table::Table<GroupKey, AlertState>,
    /// The level of the last event sent per ID: `previousLevel`. Kapacitor
    /// keeps this in the alert topic.
    last_sent: HashMap<String, Level>,
    sent_by_level: [u64; 4],
    /// Where alert states outlive the task (restarts, reloads).
    saved: Option<Arc<dyn AlertStateStore>>,
    /// See [`AlertNode::with_standing_expiry`]: (alert state idle timeout,
    /// group idle timeout), ns.
    standing_expiry: Option<(i64, i64)>,
    /// Groups not OK that were deleted upstream and kept here, with the
    /// time (task clock, ns) since which they have had no point.
    kept: HashMap<GroupKey, i64>,
    /// The task's clock at the last tick.
    clock: i64,
    /// Standing alerts forgotten after `alert_state_idle_timeout`, their
    /// recovery never sent.
    forgotten: u64,
    category: Option<String>,
    inhibits: Vec<(String, Vec<String>)>,
    /// Where inhibitors live; without, `.inhibit()` and `.category()` do
    /// nothing (a replay, `kapacitor test`).
    inhibitions: Option<Arc<Inhibitions>>,
    /// Events sent marked inhibited.
    inhibited: u64,
}

impl AlertNode {
    /// Checks the spec and parses its templates; events go to `sink`.
    pub fn new(spec: AlertSpec, sink: Arc<dyn AlertSink>) -> Result<Self, NodeError> {
        let parse = |kind, src: &str| {
            Template::parse(kind, src).map_err(|e| NodeError::new(format!("alert: {e}")))
        };
        let id_tmpl = parse(TemplateKind::Id, &spec.id)?;
        let message_tmpl = parse(TemplateKind::Message, &spec.message)?;
        let details_tmpl = parse(TemplateKind::Details, &spec.details)?;
        // Flapping thresholds, history and stateChangesOnly are checked
        // in the script by `dsl::compile`.
        let resend_after = match spec.state_changes_only {
            Some(Some(d)) if d > 0 => Some(d),
            _ => None,
        };
        let name = |s: Option<String>| s.filter(|s| !s.is_empty()).map(Name::from);
        Ok(AlertNode {
            task_name: spec.task_name,
            server_info: spec.server_info,
            id_per_group: !id_tmpl.references("Tags"),
            id_tmpl,
            message_tmpl,
            details_tmpl,
            always_critical: spec.conditions.iter().all(Option::is_none)
                && spec.resets.iter().all(Option::is_none),
            conditions: spec.conditions,
            resets: spec.resets,
            state_changes_only: spec.state_changes_only.is_some(),
            resend_after,
            no_recoveries: spec.no_recoveries,
            flapping: spec.flapping,
            // The current and the previous level, at the least, as Kapacitor.
            history: spec.history.max(2),
            all: spec.all,
            level_tag: name(spec.level_tag),
            level_field: name(spec.level_field),
            message_field: name(spec.message_field),
            duration_field: name(spec.duration_field),
            id_tag: name(spec.id_tag),
            id_field: name(spec.id_field),
            sink,
            groups: Default::default(),
            last_sent: HashMap::new(),
            sent_by_level: [0; 4],
            saved: None,
            standing_expiry: None,
            kept: HashMap::new(),
            clock: 0,
            forgotten: 0,
            category: spec.category.filter(|c| !c.is_empty()),
            inhibits: spec.inhibits,
            inhibitions: None,
            inhibited: 0,
        })
    }

    /// Takes part in the server's inhibitions: this node's groups inhibit
    /// as its `.inhibit()`s say, and its events are marked inhibited while
    /// an alert inhibits its `.category()`.
    pub fn with_inhibitions(mut self, inhibitions: Arc<Inhibitions>) -> Self {
        self.inhibitions = Some(inhibitions);
        self
    }

    /// Events sent marked inhibited so far.
    pub fn inhibited(&self) -> u64 {
        self.inhibited
    }

    /// Gives the group its inhibitors the first time it is seen, from the
    /// tags of its first point (as Kapacitor does), on when its restored
    /// level is not OK.
    fn arm_inhibitors(&mut self, group: &GroupKey, tags: &Tags) {
        let Some(registry) = &self.inhibitions else {
            return;
        };
        if self.inhibits.is_empty() {
            return;
        }
        let Some(state) = self.groups.get_mut(group) else {
            return;
        };
        if state.inhibitors.is_some() {
            return;
        }
        let on = state.current_level() != Level::Ok;
        let inhibitors = self
            .inhibits
            .iter()
            .map(|(category, keys)| {
                let mut i = registry.inhibitor(category, keys, tags);
                i.set(on);
                i
            })
            .collect();
        state.inhibitors = Some(inhibitors);
    }

    /// Whether an event of this alert with `tags` is silenced now.
    fn is_inhibited(&self, tags: &Tags) -> bool {
        match (&self.category, &self.inhibitions) {
            (Some(category), Some(registry)) => registry.is_inhibited(category, tags),
            _ => false,
        }
    }

    /// Forgets a group that is not OK once it has had no point for
    /// `timeout` ns (`pipeline.alert_state_idle_timeout`), its recovery
    /// never sent: a deleted group's standing alert is kept (see
    /// `DeleteGroup`), and without this, tag churn would keep them all.
    /// `group_idle` is the idle time after which groups are deleted
    /// upstream (`pipeline.group_idle_timeout`), already idle when they
    /// get here. `None` or zero: kept until they recover.
    pub fn with_standing_expiry(mut self, timeout: Option<i64>, group_idle: Option<i64>) -> Self {
        self.standing_expiry = timeout
            .filter(|&t| t > 0)
            .map(|t| (t, group_idle.unwrap_or(0).max(0)));
        self
    }

    /// Standing alerts forgotten so far (recoveries never sent).
    pub fn forgotten(&self) -> u64 {
        self.forgotten
    }

    /// Forgets the kept groups idle for the timeout.
    fn forget_idle(&mut self, now: i64, timeout: i64) {
        let expired: Vec<GroupKey> = self
            .kept
            .iter()
            .filter(|&(_, &since)| now.saturating_sub(since) >= timeout)
            .map(|(g, _)| g.clone())
            .collect();
        for group in expired {
            self.kept.remove(&group);
            let Some(state) = self.groups.remove(&group) else {
                continue;
            };
            // Standing alerts only: one that came back OK was dropped then.
            let level = state.current_level();
            if level == Level::Ok {
                continue;
            }
            self.forgotten += 1;
            let id = state.last_id.as_deref().unwrap_or_default().to_owned();
            self.last_sent.remove(&id);
            if let Some(store) = &self.saved {
                // Saving OK drops the kept state.
                store.save(
                    &id,
                    SavedAlert {
                        level: Level::Ok,
                        since: now,
                        last_event: now,
                    },
                );
            }
            tracing::warn!(
                task = %self.task_name,
                alert = %id,
                ?level,
                "alert state forgotten: no point for pipeline.alert_state_idle_timeout; \
                 its recovery will not be sent"
            );
        }
    }

    /// Keeps each alert's state in `store` and, when an alert id is first
    /// seen, goes on from the state kept there.
    pub fn with_state_store(mut self, store: Arc<dyn AlertStateStore>) -> Self {
        self.saved = Some(store);
        self
    }

    /// Events sent so far, by level (OK, INFO, WARNING, CRITICAL).
    pub fn sent_by_level(&self) -> [u64; 4] {
        self.sent_by_level
    }

    /// How many groups hold alert state.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    fn render_id(&self, name: &str, group: &GroupKey, tags: &Tags) -> Result<Arc<str>, NodeError> {
        if self.id_per_group
            && let Some(id) = self.groups.get(group).and_then(|s| s.last_id.as_ref())
        {
            return Ok(id.clone());
        }
        let group_text = group.to_string();
        let fields = Fields::from_pairs([]);
        let data = TemplateData {
            name,
            task_name: &self.task_name,
            group: &group_text,
            tags,
            server_info: &self.server_info,
            id: "",
            fields: &fields,
            level: Level::Ok,
            time: 0,
            duration: 0,
            message: "",
            count: 0,
        };
        self.id_tmpl
            .render(&data)
            .map(Arc::from)
            .map_err(|e| NodeError::new(format!("alert: {e}")))
    }

    /// The level of one point given the group's current level, evaluating
    /// conditions in Kapacitor's order (which matters for stateful lambdas):
    /// levels from CRITICAL down to the current one; then, unless the
    /// current level's reset is false, the current level down to INFO.
    fn level_of(
        &mut self,
        input: &EvalInput<'_>,
        current: Level,
        error: &mut Option<NodeError>,
    ) -> Level {
        if self.always_critical {
            return Level::Critical;
        }
        let cur = current.index();
        if let Some(l) = first_match(&mut self.conditions, 3, cur.max(1), input, error) {
            return l;
        }
        if let Some(reset) = self.resets[cur].as_mut() {
            match reset.eval(input) {
                Ok(false) => return current,
                Ok(true) => {}
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        if cur >= 1
            && let Some(l) = first_match(&mut self.conditions, cur, 1, input, error)
        {
            return l;
        }
        Level::Ok
    }

    /// Renders and publishes one event.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        id: String,
        name: &Name,
        group: &GroupKey,
        tags: &Tags,
        fields: &Fields,
        level: Level,
        time: i64,
        duration: i64,
        data: EventData,
    ) -> Result<AlertEvent, NodeError> {
        let group_text = group.to_string();
        let mut td = TemplateData {
            name,
            task_name: &self.task_name,
            group: &group_text,
            tags,
            server_info: &self.server_info,
            id: &id,
            fields,
            level,
            time,
            duration,
            message: "",
            count: 0,
        };
        let err = |e: RenderError| NodeError::new(format!("alert: {e}"));
        let message = self.message_tmpl.render(&td).map_err(err)?;
        td.message = &message;
        let details = self.details_tmpl.render(&td).map_err(err)?;
        let previous_level = self.last_sent.insert(id.clone(), level).unwrap_or_default();
        let inhibited = self.is_inhibited(tags);
        self.inhibited += u64::from(inhibited);
        let event = AlertEvent {
            id,
            message,
            details,
            time,
            duration,
            level,
            previous_level,
            recoverable: !self.no_recoveries,
            data,
            name: name.clone(),
            task_name: self.task_name.clone(),
            group: group_text,
            tags: tags.clone(),
            fields: fields.clone(),
            inhibited,
        };
        self.sent_by_level[level.index()] += 1;
        // Published before its state is saved: a crash in between sends the
        // event again after a restart rather than never (at least once),
        // and the store costs the event no latency.
        self.sink.publish(&event);
        if let Some(store) = &self.saved {
            store.save(
                &event.id,
                SavedAlert {
                    level,
                    since: time.saturating_sub(duration),
                    last_event: time,
                },
            );
        }
        Ok(event)
    }

    fn annotates_tags(&self) -> bool {
        self.level_tag.is_some() || self.id_tag.is_some()
    }

    fn annotates_fields(&self) -> bool {
        self.level_field.is_some()
            || self.message_field.is_some()
            || self.id_field.is_some()
            || self.duration_field.is_some()
    }

    fn annotate_tags(&self, tags: &Tags, event: &AlertEvent) -> Vec<(Name, Name)> {
        let mut out: Vec<(Name, Name)> = tags.to_vec();
        let mut set = |k: &Name, v: &str| match out.iter_mut().find(|(ok, _)| ok == k) {
            Some(slot) => slot.1 = Name::from(v),
            None => out.push((k.clone(), Name::from(v))),
        };
        if let Some(k) = &self.level_tag {
            set(k, event.level.as_str());
        }
        if let Some(k) = &self.id_tag {
            set(k, &event.id);
        }
        out
    }

    fn annotate_fields(&self, fields: &Fields, event: &AlertEvent) -> Fields {
        let extra = [
            (
                &self.level_field,
                FieldValue::String(Name::from(event.level.as_str())),
            ),
            (
                &self.message_field,
                FieldValue::String(Name::from(event.message.as_str())),
            ),
            (
                &self.id_field,
                FieldValue::String(Name::from(event.id.as_str())),
            ),
            (&self.duration_field, FieldValue::Integer(event.duration)),
        ];
        fields.with(
            extra
                .into_iter()
                .filter_map(|(k, v)| k.as_ref().map(|k| (k.clone(), v))),
        )
    }

    fn state(&mut self, group: &GroupKey) -> &mut AlertState {
        if self.groups.get(group).is_none() {
            self.groups
                .insert(group.clone(), AlertState::new(self.history));
        }
        self.groups.get_mut(group).expect("just inserted")
    }

    /// Tells the state store of a level change no event was sent for
    /// (suppressed, or a recovery under `noRecoveries`), so a restart does
    /// not go on from the level before it.
    fn remember(&self, id: &str, saved: Option<SavedAlert>) {
        if let (Some(store), Some(saved)) = (&self.saved, saved) {
            store.save(id, saved);
        }
    }

    /// The group's state; a new group's alert `id` goes on from its saved
    /// state, if any.
    fn state_for(&mut self, group: &GroupKey, id: &str) -> &mut AlertState {
        if let Some(store) = &self.saved
            && self.groups.get(group).is_none()
        {
            let mut state = AlertState::new(self.history);
            if let Some(saved) = store.load(id) {
                state.restore(saved.level, saved.since, saved.last_event);
                self.last_sent.entry(id.to_owned()).or_insert(saved.level);
            }
            self.groups.insert(group.clone(), state);
        }
        self.state(group)
    }

    fn point(
        &mut self,
        p: Point,
        group: GroupKey,
        out: &mut Vec<Message>,
    ) -> Result<(), NodeError> {
        if !self.kept.is_empty() {
            self.kept.remove(&group);
        }
        let id = self.render_id(p.measurement(), &group, p.tags())?;
        let mut error = None;
        let current = self.state_for(&group, &id).current_level();
        self.arm_inhibitors(&group, p.tags());
        let input = EvalInput {
            name: p.measurement(),
            time: p.time,
            tags: p.tags(),
            fields: &p.fields,
        };
        let level = self.level_of(&input, current, &mut error);
        let (flapping, state_changes_only, resend_after) =
            (self.flapping, self.state_changes_only, self.resend_after);
        let no_recoveries = self.no_recoveries;
        let state = self.state(&group);
        state.last_id = Some(id.clone());
        state.add_event(p.time, level, flapping, resend_after);
        // The point path suppresses everything while flapping, recoveries
        // included; only then does it look at the level (Kapacitor's order).
        let suppressed = (flapping.is_some() && state.flapping)
            || (state_changes_only && !state.changed && !state.expired);
        if suppressed || (level == Level::Ok && !state.changed) {
            let unsent = state.changed.then(|| state.saved(level));
            self.remember(&id, unsent);
            return error.map_or(Ok(()), Err);
        }
        state.triggered(p.time);
        if no_recoveries && level == Level::Ok {
            let unsent = state.saved(level);
            self.remember(&id, Some(unsent));
            return error.map_or(Ok(()), Err);
        }
        let duration = state.duration();
        let event = self.send(
            id.to_string(),
            p.measurement(),
            &group,
            p.tags(),
            &p.fields,
            level,
            p.time,
            duration,
            EventData::Point(p.clone()),
        )?;
        let mut p = p;
        if self.annotates_tags() {
            let tags = self.annotate_tags(p.tags(), &event);
            let series = Series::new(p.measurement().clone(), tags)
                .map_err(|e| NodeError::new(format!("alert: {e}")))?;
            p.series = Arc::new(series);
        }
        if self.annotates_fields() {
            p.fields = self.annotate_fields(&p.fields, &event);
        }
        out.push(Message::Point(p, group));
        error.map_or(Ok(()), Err)
    }

    fn batch(&mut self, b: Batch, out: &mut Vec<Message>) -> Result<(), NodeError> {
        if !self.kept.is_empty() {
            self.kept.remove(&b.group);
        }
        let id = self.render_id(&b.name, &b.group, &b.tags)?;
        if b.points.is_empty() {
            return Ok(());
        }
        let mut error = None;
        let current = self.state_for(&b.group, &id).current_level();
        self.arm_inhibitors(&b.group, &b.tags);
        let (mut lowest, mut highest, mut highest_at) = (Level::Critical, Level::Ok, 0);
        for (i, bp) in b.points.iter().enumerate() {
            let input = EvalInput {
                name: &b.name,
                time: bp.time,
                tags: &bp.tags,
                fields: &bp.fields,
            };
            let l = self.level_of(&input, current, &mut error);
            lowest = lowest.min(l);
            if l > highest || i == 0 {
                (highest, highest_at) = (l, i);
            }
        }
        let level = if self.all { lowest } else { highest };
        let top = &b.points[highest_at];
        let time = if self.all || level == Level::Ok {
            b.tmax
        } else {
            top.time
        };
        let (flapping, state_changes_only, resend_after) =
            (self.flapping, self.state_changes_only, self.resend_after);
        let no_recoveries = self.no_recoveries;
        let state = self.state(&b.group);
        state.last_id = Some(id.clone());
        state.add_event(time, level, flapping, resend_after);
        // Unlike points, a batch recovery is sent even while flapping.
        let send = (state.changed && level == Level::Ok)
            || (level != Level::Ok
                && !((flapping.is_some() && state.flapping)
                    || (state_changes_only && !state.changed && !state.expired)));
        if !send {
            let unsent = state.changed.then(|| state.saved(level));
            self.remember(&id, unsent);
            return error.map_or(Ok(()), Err);
        }
        state.triggered(time);
        if no_recoveries && level == Level::Ok {
            let unsent = state.saved(level);
            self.remember(&id, Some(unsent));
            return error.map_or(Ok(()), Err);
        }
        let duration = state.duration();
        let fields = top.fields.clone();
        let event = self.send(
            id.to_string(),
            &b.name.clone(),
            &b.group,
            &b.tags,
            &fields,
            level,
            time,
            duration,
            EventData::Batch(b.clone()),
        )?;
        let mut b = b;
        if self.annotates_tags() || self.annotates_fields() {
            for p in &mut b.points {
                if self.annotates_tags() {
                    p.tags = sorted_tags(self.annotate_tags(&p.tags, &event));
                }
                if self.annotates_fields() {
                    p.fields = self.annotate_fields(&p.fields, &event);
                }
            }
            if self.annotates_tags() {
                b.tags = sorted_tags(self.annotate_tags(&b.tags, &event));
            }
        }
        out.push(Message::Batch(b));
        error.map_or(Ok(()), Err)
    }
}

fn sorted_tags(mut tags: Vec<(Name, Name)>) -> Tags {
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    tags.into()
}

/// The highest level from `start` down to `stop` (inclusive, both ≥ 1)
/// whose condition is true. A failing condition counts as false, as in
/// Kapacitor, and the first error is kept for the runtime to count.
fn first_match(
    conditions: &mut [Option<BoxedCondition>; 4],
    start: usize,
    stop: usize,
    input: &EvalInput<'_>,
    error: &mut Option<NodeError>,
) -> Option<Level> {
    for l in (stop..=start).rev() {
        let Some(c) = conditions[l].as_mut() else {
            continue;
        };
        match c.eval(input) {
            Ok(true) => return Some(Level::ALL[l]),
            Ok(false) => {}
            Err(e) => {
                error.get_or_insert(e);
            }
        }
    }
    None
}

impl Node for AlertNode {
    fn alerts_triggered(&self) -> Option<[u64; 4]> {
        Some(self.sent_by_level)
    }

    fn groups(&self) -> usize {
        self.groups.len()
    }

    fn tick(&mut self, now: i64, _out: &mut Vec<Message>) -> Option<i64> {
        let (timeout, _) = self.standing_expiry?;
        self.clock = now;
        self.forget_idle(now, timeout);
        // Forgotten between one and one and a quarter timeouts; checked at
        // least hourly, at most every millisecond.
        Some(now.saturating_add((timeout / 4).clamp(1_000_000, 3_600_000_000_000)))
    }

    fn prefetch(&self, msg: &Message, stage: Prefetch) {
        let group = match msg {
            Message::Point(_, group) => group,
            Message::Batch(b) => &b.group,
            _ => return,
        };
        match stage {
            Prefetch::Table => self.groups.prefetch(group),
            Prefetch::State => {
                if let Some(state) = self.groups.get(group) {
                    state.prefetch();
                }
            }
        }
    }

    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        match msg {
            Message::Point(p, group) => self.point(p, group, out),
            Message::Batch(b) => self.batch(b, out),
            Message::DeleteGroup(group) => {
                // A group that is not OK keeps its state, so that when it
                // comes back its recovery is still sent: a deleted group
                // (idle expiry, `barrier().delete(TRUE)`) must not turn a
                // standing alert into silence. OK groups cost nothing more.
                let standing = self
                    .groups
                    .get(&group)
                    .is_some_and(|s| s.current_level() != Level::Ok);
                // Until it has been idle for alert_state_idle_timeout.
                if standing && let Some((_, group_idle)) = self.standing_expiry {
                    let since = self.clock.saturating_sub(group_idle);
                    self.kept.entry(group.clone()).or_insert(since);
                }
                if !standing
                    && let Some(state) = self.groups.remove(&group)
                    && let Some(id) = state.last_id
                {
                    self.last_sent.remove(&*id);
                }
                out.push(Message::DeleteGroup(group));
                Ok(())
            }
            barrier @ Message::Barrier { .. } => {
                out.push(barrier);
                Ok(())
            }
        }
    }
}
