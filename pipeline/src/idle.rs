//! Idle-group expiry, for the nodes where groups are formed (`from`,
//! `groupBy`). Time is cut into epochs of half the timeout on the task's
//! clock; a node stamps each group (or series) it sees with the current
//! epoch, and at each epoch's end the groups not stamped for three epochs
//! (so idle between one and one and a half timeouts) are deleted: the node
//! emits `DeleteGroup` so every node below frees that group's state.
//! Stamping a point costs one store; the sweep runs once per epoch.

/// An epoch number; wraps harmlessly.
pub type Epoch = u32;

#[derive(Debug)]
pub struct IdleGroups {
    half: i64,
    epoch: Epoch,
    next: Option<i64>,
}

impl IdleGroups {
    /// `None` when groups are kept forever (no or a zero timeout).
    pub fn new(timeout: Option<i64>) -> Option<Self> {
        let timeout = timeout.filter(|&t| t > 0)?;
        Some(IdleGroups {
            half: (timeout / 2).max(1),
            epoch: 0,
            next: None,
        })
    }

    /// The stamp for what is seen now.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Whether something last stamped `seen` has been idle long enough.
    pub fn expired(&self, seen: Epoch) -> bool {
        self.epoch.wrapping_sub(seen) >= 3
    }

    /// Called from the node's tick: whether to sweep now, and when the
    /// next tick is due.
    pub fn tick(&mut self, now: i64) -> (bool, i64) {
        match self.next {
            Some(due) if now >= due => {
                self.epoch = self.epoch.wrapping_add(1);
                let next = now + self.half;
                self.next = Some(next);
                (true, next)
            }
            Some(due) => (false, due),
            None => {
                let next = now + self.half;
                self.next = Some(next);
                (false, next)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_expires_between_one_and_one_and_a_half_timeouts() {
        assert!(IdleGroups::new(None).is_none());
        assert!(IdleGroups::new(Some(0)).is_none());
        let mut idle = IdleGroups::new(Some(10)).unwrap();
        assert_eq!(idle.tick(0), (false, 5));
        let seen = idle.epoch();
        assert_eq!(idle.tick(5), (true, 10));
        assert_eq!(idle.tick(7), (false, 10));
        assert_eq!(idle.tick(10), (true, 15));
        assert!(!idle.expired(seen), "10 of a 10 timeout, stamped at 0..5");
        assert_eq!(idle.tick(15), (true, 20));
        assert!(idle.expired(seen));
    }
}
