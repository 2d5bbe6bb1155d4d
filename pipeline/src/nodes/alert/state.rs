//! One group's alert state: the last `history` levels, whether the last
//! level was a change, flapping, and when the alert was first and last
//! triggered. The rules are Kapacitor's (`alertState` in `alert.go`), kept
//! exact because users tune their scripts against them.

use std::sync::Arc;

use super::event::Level;

/// The newest state change weighs this many times the oldest one.
const WEIGHT_DIFF: f64 = 1.5;
/// The weight of the newest state change.
const MAX_WEIGHT: f64 = 1.2;

#[derive(Debug)]
pub struct AlertState {
    /// A ring of the last levels; `history[idx]` is the current one. Starts
    /// all OK, so a first non-OK level counts as a change.
    history: Box<[Level]>,
    idx: usize,
    pub(crate) flapping: bool,
    pub(crate) changed: bool,
    /// `stateChangesOnly(d)`: an unchanged level is due to be re-sent.
    pub(crate) expired: bool,
    first_triggered: i64,
    /// `None` until the first event; counts as infinitely long ago.
    last_triggered: Option<i64>,
    /// The ID last rendered for this group, to forget with the group.
    /// Shared, so reusing it for every point of the group costs no copy.
    pub(crate) last_id: Option<Arc<str>>,
    /// The group's `.inhibit()`s, on while its level is not OK; `None`
    /// until the first point (they take its tags).
    pub(crate) inhibitors: Option<Vec<super::inhibit::Inhibitor>>,
}

impl AlertState {
    /// Brings what the state points to into the cache (see
    /// [`crate::node::Prefetch`]).
    pub(crate) fn prefetch(&self) {
        crate::prefetch::prefetch(self.history.as_ptr());
        if let Some(id) = &self.last_id {
            crate::prefetch::prefetch(Arc::as_ptr(id));
        }
    }

    /// `history` must be at least 2 (current and previous level).
    pub fn new(history: usize) -> Self {
        AlertState {
            history: vec![Level::Ok; history.max(2)].into(),
            idx: 0,
            flapping: false,
            changed: false,
            expired: false,
            first_triggered: 0,
            last_triggered: None,
            last_id: None,
            inhibitors: None,
        }
    }

    pub fn current_level(&self) -> Level {
        self.history[self.idx]
    }

    /// Picks up where a previous run of the task left this alert: at
    /// `level`, out of OK since `since`, last sent at `last_event`.
    pub fn restore(&mut self, level: Level, since: i64, last_event: i64) {
        self.history[self.idx] = level;
        self.first_triggered = since;
        self.last_triggered = Some(last_event);
    }

    /// What a restart needs of this state, at `level`.
    pub fn saved(&self, level: Level) -> super::SavedAlert {
        super::SavedAlert {
            level,
            since: self.first_triggered,
            last_event: self.last_triggered.unwrap_or(0),
        }
    }

    /// Records the level of one evaluation at `time`.
    pub fn add_event(
        &mut self,
        time: i64,
        level: Level,
        flapping: Option<(f64, f64)>,
        resend_after: Option<i64>,
    ) {
        self.changed = self.history[self.idx] != level;
        self.idx = (self.idx + 1) % self.history.len();
        self.history[self.idx] = level;
        if let Some((low, high)) = flapping {
            let p = self.percent_change();
            if self.flapping && p < low {
                self.flapping = false;
            } else if !self.flapping && p > high {
                self.flapping = true;
            }
        }
        self.expired = !self.changed
            && match (resend_after, self.last_triggered) {
                (Some(d), Some(last)) if d != 0 => time.saturating_sub(last) >= d,
                (Some(d), None) => d != 0,
                _ => false,
            };
    }

    /// Records that an event was triggered at `time`: the alert's duration
    /// restarts when the level before this one was OK.
    pub fn triggered(&mut self, time: i64) {
        self.last_triggered = Some(time);
        let prev = (self.idx + self.history.len() - 1) % self.history.len();
        if self.history[prev] == Level::Ok {
            self.first_triggered = time;
        }
        // As Kapacitor: what the group inhibits follows the events it sends.
        let on = self.current_level() != Level::Ok;
        for i in self.inhibitors.iter_mut().flatten() {
            i.set(on);
        }
    }

    /// Time since the alert left OK, as of the last trigger.
    pub fn duration(&self) -> i64 {
        self.last_triggered
            .unwrap_or(0)
            .saturating_sub(self.first_triggered)
    }

    /// Nagios-style weighted share of state changes over the history, with
    /// weights rising linearly from `MAX_WEIGHT / WEIGHT_DIFF` to
    /// `MAX_WEIGHT`.
    pub fn percent_change(&self) -> f64 {
        let l = self.history.len();
        let mut changes = 0.0;
        let mut weight = MAX_WEIGHT / WEIGHT_DIFF;
        let step = (MAX_WEIGHT - weight) / (l - 1) as f64;
        // The walk starts at the current slot, exactly as Kapacitor's does:
        // the transition into the newest level gets the lowest weight and
        // the oldest slot is compared with the newest. Odd, but users' flap
        // thresholds are tuned against it.
        for i in 0..l - 1 {
            let c = (i + self.idx) % l;
            let p = (c + l - 1) % l;
            if self.history[c] != self.history[p] {
                changes += weight;
            }
            weight += step;
        }
        changes / (l - 1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_non_ok_is_a_change_and_repeats_are_not() {
        let mut s = AlertState::new(21);
        s.add_event(1, Level::Critical, None, None);
        assert!(s.changed);
        s.add_event(2, Level::Critical, None, None);
        assert!(!s.changed);
        s.add_event(3, Level::Ok, None, None);
        assert!(s.changed);
        assert_eq!(s.current_level(), Level::Ok);
    }

    #[test]
    fn duration_counts_from_leaving_ok() {
        let mut s = AlertState::new(21);
        s.add_event(10, Level::Warning, None, None);
        s.triggered(10);
        s.add_event(11, Level::Critical, None, None);
        s.triggered(11);
        s.add_event(13, Level::Ok, None, None);
        s.triggered(13);
        assert_eq!(s.duration(), 3);
        s.add_event(20, Level::Info, None, None);
        s.triggered(20);
        assert_eq!(s.duration(), 0);
    }

    #[test]
    fn expires_after_the_resend_duration() {
        let mut s = AlertState::new(21);
        s.add_event(0, Level::Critical, None, Some(2));
        s.triggered(0);
        s.add_event(1, Level::Critical, None, Some(2));
        assert!(!s.expired);
        s.add_event(2, Level::Critical, None, Some(2));
        assert!(s.expired);
    }

    #[test]
    fn percent_change_weighs_recent_changes_more() {
        let mut s = AlertState::new(5);
        assert_eq!(s.percent_change(), 0.0);
        s.add_event(0, Level::Critical, None, None);
        // [OK, CRIT*, OK, OK, OK]: the walk from the current slot sees
        // OK->CRIT (weight 0.8) and CRIT->OK (0.9) over 4 transitions.
        assert!((s.percent_change() - 1.7 / 4.0).abs() < 1e-12);
        for _ in 0..4 {
            s.add_event(0, Level::Critical, None, None);
        }
        assert_eq!(s.percent_change(), 0.0);
    }

    #[test]
    fn flapping_starts_above_high_and_stops_below_low() {
        let mut s = AlertState::new(21);
        let flap = Some((0.25, 0.5));
        let mut level = Level::Ok;
        for _ in 0..21 {
            level = if level == Level::Ok {
                Level::Critical
            } else {
                Level::Ok
            };
            s.add_event(0, level, flap, None);
        }
        assert!(s.flapping);
        for _ in 0..21 {
            s.add_event(0, Level::Ok, flap, None);
        }
        assert!(!s.flapping);
    }
}
