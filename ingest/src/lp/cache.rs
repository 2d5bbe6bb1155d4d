//! Bounded caches that let the decoder skip work for series and names it has
//! seen recently. Both are cleared wholesale when full: simpler than LRU, and
//! under steady Telegraf traffic they refill within one flush interval.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
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

/// The field keys of a point, shared by the points that follow with the same
/// keys. `plain` says every name equals its raw bytes (no escapable byte), so
/// the decoder can match the list against a line without scanning it.
#[derive(Clone)]
pub(super) struct KeyList {
    pub names: Arc<[Name]>,
    pub plain: bool,
}

/// A series as last seen, with the field keys of its last point.
pub(super) struct SeriesEntry {
    pub series: Arc<Series>,
    pub keys: Option<KeyList>,
}

/// Raw series key bytes (measurement and tags exactly as written) to the
/// parsed series. Keys are compared byte for byte, so a hash collision can
/// never hand out the wrong series.
#[derive(Default)]
pub(super) struct SeriesCache {
    map: foldhash::HashMap<RawKey, SeriesEntry>,
    bytes: usize,
}

impl SeriesCache {
    pub fn get(&self, raw_key: &[u8]) -> Option<&SeriesEntry> {
        self.map.get(raw_key)
    }

    /// Remembers a series, first forgetting every other one if full.
    pub fn insert(&mut self, raw_key: &[u8], series: Arc<Series>) {
        if self.map.len() >= MAX_SERIES || self.bytes + raw_key.len() > MAX_SERIES_BYTES {
            self.map.clear();
            self.bytes = 0;
        }
        self.bytes += raw_key.len();
        self.map
            .insert(RawKey::new(raw_key), SeriesEntry { series, keys: None });
    }

    pub fn set_keys(&mut self, raw_key: &[u8], keys: KeyList) {
        if let Some(e) = self.map.get_mut(raw_key) {
            e.keys = Some(keys);
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }
}

/// Series keys up to this long live inside the map's table, so a lookup
/// does not chase a pointer to compare them (most Telegraf keys fit).
const INLINE_KEY: usize = 62;

/// A raw series key, hashed and compared as the bytes it holds.
enum RawKey {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Heap(Box<[u8]>),
}

impl RawKey {
    fn new(raw: &[u8]) -> Self {
        match u8::try_from(raw.len()) {
            Ok(len) if raw.len() <= INLINE_KEY => {
                let mut bytes = [0; INLINE_KEY];
                bytes[..raw.len()].copy_from_slice(raw);
                RawKey::Inline { len, bytes }
            }
            _ => RawKey::Heap(raw.into()),
        }
    }
}

impl Borrow<[u8]> for RawKey {
    fn borrow(&self) -> &[u8] {
        match self {
            RawKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            RawKey::Heap(b) => b,
        }
    }
}

impl PartialEq for RawKey {
    fn eq(&self, other: &Self) -> bool {
        Borrow::<[u8]>::borrow(self) == Borrow::<[u8]>::borrow(other)
    }
}

impl Eq for RawKey {}

impl Hash for RawKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Borrow::<[u8]>::borrow(self).hash(state);
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
        assert!(
            c.get(format!("m,i={}", MAX_SERIES + 9).as_bytes())
                .is_some()
        );
        assert!(c.get(b"m,i=0").is_none());
    }

    #[test]
    fn names_are_shared() {
        let mut n = NameCache::default();
        let a = n.get("host");
        let b = n.get("host");
        assert!(Arc::ptr_eq(&a, &b));
    }
}
