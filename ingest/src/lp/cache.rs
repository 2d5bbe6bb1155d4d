//! Bounded caches that let the decoder skip work for series and names it has
//! seen recently. Both are cleared wholesale when full: simpler than LRU, and
//! under steady Telegraf traffic they refill within one flush interval.

use std::sync::Arc;

use pipeline::{Name, Series};

/// Most series one decoder remembers. A Telegraf fleet of 1,000 hosts has
/// ~20k series; beyond this the cache is churning and is better cleared.
const MAX_SERIES: usize = 100_000;
/// Bytes of raw keys held, so a flood of huge series keys cannot pin memory.
const MAX_SERIES_BYTES: usize = 16 << 20;
/// Most distinct names (measurements, tag keys and values, field keys) kept.
const MAX_NAMES: usize = 200_000;
const MAX_NAME_BYTES: usize = 16 << 20;

/// A series as last seen, with the field keys of its last point so that the
/// next point with the same keys shares the list.
pub(super) struct SeriesEntry {
    pub series: Arc<Series>,
    pub keys: Option<Arc<[Name]>>,
}

/// Raw series key bytes (measurement and tags exactly as written) to the
/// parsed series. Keys are compared byte for byte, so a hash collision can
/// never hand out the wrong series.
#[derive(Default)]
pub(super) struct SeriesCache {
    index: foldhash::HashMap<Box<[u8]>, usize>,
    pub entries: Vec<SeriesEntry>,
    bytes: usize,
}

impl SeriesCache {
    pub fn find(&self, raw_key: &[u8]) -> Option<usize> {
        self.index.get(raw_key).copied()
    }

    /// Remembers a series and returns its slot. May forget every other series
    /// first, so slots from earlier calls must not be held across this call.
    pub fn insert(&mut self, raw_key: &[u8], series: Arc<Series>) -> usize {
        if self.entries.len() >= MAX_SERIES || self.bytes + raw_key.len() > MAX_SERIES_BYTES {
            self.index.clear();
            self.entries.clear();
            self.bytes = 0;
        }
        let slot = self.entries.len();
        self.entries.push(SeriesEntry { series, keys: None });
        self.index.insert(raw_key.into(), slot);
        self.bytes += raw_key.len();
        slot
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Shares one allocation per distinct name, so 10k series of `cpu` with
/// `host` tags hold one `cpu` and one `host`.
#[derive(Default)]
pub(super) struct NameCache {
    names: foldhash::HashSet<Name>,
    bytes: usize,
}

impl NameCache {
    pub fn get(&mut self, s: &str) -> Name {
        if let Some(n) = self.names.get(s) {
            return n.clone();
        }
        if self.names.len() >= MAX_NAMES || self.bytes + s.len() > MAX_NAME_BYTES {
            self.names.clear();
            self.bytes = 0;
        }
        let n: Name = Arc::from(s);
        self.names.insert(n.clone());
        self.bytes += s.len();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_cache_is_bounded() {
        let mut c = SeriesCache::default();
        let s = Arc::new(Series::new(Name::from("m"), vec![]).expect("valid series"));
        for i in 0..MAX_SERIES + 10 {
            c.insert(format!("m,i={i}").as_bytes(), s.clone());
        }
        assert!(c.len() <= MAX_SERIES);
        assert_eq!(
            c.find(format!("m,i={}", MAX_SERIES + 9).as_bytes()),
            Some(c.len() - 1)
        );
        assert_eq!(c.find(b"m,i=0"), None);
    }

    #[test]
    fn names_are_shared() {
        let mut n = NameCache::default();
        let a = n.get("host");
        let b = n.get("host");
        assert!(Arc::ptr_eq(&a, &b));
    }
}
