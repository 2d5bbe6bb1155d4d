//! `.inhibit(CATEGORY, TAGS...)` and `.category(NAME)`: an alert that is
//! not OK silences the alerts of `CATEGORY` whose `TAGS` have the same
//! values as its own, as Kapacitor's `alert/inhibit.go` does (a deadman on
//! a host silencing that host's other alerts while it is dead).
//!
//! [`Inhibitions`] is shared by every task of a server. Each group of an
//! alert node with `.inhibit()` holds an [`Inhibitor`] per call, switched
//! on while the group's level is not OK and off when it recovers or the
//! group (or its task) goes away. An alert node with `.category()` asks,
//! for each event, whether an inhibitor of its category with its tag
//! values is on: a hash lookup per distinct set of inhibiting tag keys.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::point::{Name, Tags};

/// Every inhibitor of a server, by category.
#[derive(Debug, Default)]
pub struct Inhibitions {
    categories: RwLock<HashMap<String, Vec<KeySet>>>,
}

/// Inhibitors of one category that compare the same tag keys: how many are
/// on, by the values they compare.
#[derive(Debug)]
struct KeySet {
    keys: Box<[Name]>,
    on: HashMap<Box<[Name]>, usize>,
}

/// One group's `.inhibit()`: off until [`Inhibitor::set`] turns it on;
/// dropping it turns it off.
#[derive(Debug)]
pub struct Inhibitor {
    registry: Arc<Inhibitions>,
    category: String,
    keys: Box<[Name]>,
    values: Box<[Name]>,
    on: bool,
}

/// The value of tag `key`, `""` when absent (as a Go map reads).
fn tag_value(tags: &Tags, key: &str) -> Name {
    tags.binary_search_by(|(k, _)| (**k).cmp(key))
        .map_or_else(|_| Name::from(""), |i| tags[i].1.clone())
}

impl Inhibitions {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// An inhibitor of `category` comparing tags `keys`, with the values
    /// `tags` has for them; off.
    pub fn inhibitor(self: &Arc<Self>, category: &str, keys: &[String], tags: &Tags) -> Inhibitor {
        let mut keys: Vec<Name> = keys.iter().map(|k| Name::from(k.as_str())).collect();
        keys.sort();
        keys.dedup();
        let values = keys.iter().map(|k| tag_value(tags, k)).collect();
        Inhibitor {
            registry: self.clone(),
            category: category.to_owned(),
            keys: keys.into(),
            values,
            on: false,
        }
    }

    /// Whether an alert of `category` with `tags` is silenced now.
    pub fn is_inhibited(&self, category: &str, tags: &Tags) -> bool {
        let categories = self.categories.read().unwrap_or_else(|e| e.into_inner());
        let Some(sets) = categories.get(category) else {
            return false;
        };
        sets.iter().any(|set| {
            let values: Box<[Name]> = set.keys.iter().map(|k| tag_value(tags, k)).collect();
            set.on.get(&values).is_some_and(|&n| n > 0)
        })
    }

    /// How many inhibitors are on.
    pub fn active(&self) -> usize {
        let categories = self.categories.read().unwrap_or_else(|e| e.into_inner());
        categories
            .values()
            .flat_map(|sets| sets.iter().flat_map(|s| s.on.values()))
            .sum()
    }

    fn switch(&self, inhibitor: &Inhibitor, on: bool) {
        let mut categories = self.categories.write().unwrap_or_else(|e| e.into_inner());
        let sets = categories.entry(inhibitor.category.clone()).or_default();
        let at = match sets.iter().position(|s| s.keys == inhibitor.keys) {
            Some(at) => at,
            None => {
                sets.push(KeySet {
                    keys: inhibitor.keys.clone(),
                    on: HashMap::new(),
                });
                sets.len() - 1
            }
        };
        let set = &mut sets[at];
        if on {
            *set.on.entry(inhibitor.values.clone()).or_default() += 1;
        } else if let Some(n) = set.on.get_mut(&inhibitor.values) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                set.on.remove(&inhibitor.values);
            }
        }
        // Nothing on: forget the key set, so categories that come and go
        // leave nothing behind.
        if set.on.is_empty() {
            sets.remove(at);
            if sets.is_empty() {
                categories.remove(&inhibitor.category);
            }
        }
    }
}

impl Inhibitor {
    /// Turns the inhibitor on (the group is not OK) or off.
    pub fn set(&mut self, on: bool) {
        if self.on != on {
            self.on = on;
            self.registry.switch(self, on);
        }
    }

    pub fn is_on(&self) -> bool {
        self.on
    }
}

impl Drop for Inhibitor {
    fn drop(&mut self) {
        self.set(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        let mut v: Vec<(Name, Name)> = pairs
            .iter()
            .map(|(k, v)| (Name::from(*k), Name::from(*v)))
            .collect();
        v.sort();
        v.into()
    }

    #[test]
    fn an_inhibitor_silences_its_category_and_tag_values_while_on() {
        let reg = Inhibitions::new();
        let host_a = tags(&[("host", "a"), ("dc", "x")]);
        let mut dead_a = reg.inhibitor("system", &["host".into()], &host_a);
        let cpu_a = tags(&[("host", "a"), ("cpu", "0")]);
        let cpu_b = tags(&[("host", "b")]);
        assert!(!reg.is_inhibited("system", &cpu_a), "off until set");
        dead_a.set(true);
        assert!(reg.is_inhibited("system", &cpu_a));
        assert!(!reg.is_inhibited("system", &cpu_b), "another host");
        assert!(!reg.is_inhibited("other", &cpu_a), "another category");
        let mut again = reg.inhibitor("system", &["host".into()], &host_a);
        again.set(true);
        dead_a.set(false);
        assert!(reg.is_inhibited("system", &cpu_a), "the second is still on");
        drop(again);
        assert!(!reg.is_inhibited("system", &cpu_a), "dropping turns it off");
        assert_eq!(reg.active(), 0);
        assert!(reg.categories.read().unwrap().is_empty());
    }

    #[test]
    fn no_tags_silence_the_whole_category_and_missing_tags_compare_empty() {
        let reg = Inhibitions::new();
        let mut all = reg.inhibitor("c", &[], &tags(&[("host", "a")]));
        all.set(true);
        assert!(reg.is_inhibited("c", &tags(&[("host", "z")])));
        drop(all);
        let mut no_host = reg.inhibitor("c", &["host".into()], &tags(&[]));
        no_host.set(true);
        assert!(reg.is_inhibited("c", &tags(&[("dc", "x")])));
        assert!(!reg.is_inhibited("c", &tags(&[("host", "a")])));
    }
}
