//! Bounded caches that let the decoder skip work for series and names it has
//! seen recently. Both are cleared wholesale when full: simpler than LRU, and
//! under steady Telegraf traffic they refill within one flush interval.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
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
/// parsed series. The table is keyed by a 64-bit hash of those bytes and each
/// slot keeps the bytes, compared in full on lookup: a collision can cost a
/// re-parse, never the wrong series.
#[derive(Default)]
pub(super) struct SeriesCache {
    map: HashMap<u64, Slot, BuildHasherDefault<PassThrough>>,
    hasher: foldhash::fast::RandomState,
    bytes: usize,
}

struct Slot {
    key: RawKey,
    entry: SeriesEntry,
}

impl SeriesCache {
    pub fn get(&self, raw_key: &[u8]) -> Option<&SeriesEntry> {
        let slot = self.map.get(&self.hasher.hash_one(raw_key))?;
        bytes_eq(slot.key.bytes(), raw_key).then_some(&slot.entry)
    }

    /// Remembers a series, first forgetting every other one if full. A series
    /// whose hash collides with a cached one replaces it.
    pub fn insert(&mut self, raw_key: &[u8], series: Arc<Series>) {
        if self.map.len() >= MAX_SERIES || self.bytes + raw_key.len() > MAX_SERIES_BYTES {
            self.map.clear();
            self.bytes = 0;
        }
        self.bytes += raw_key.len();
        let slot = Slot {
            key: RawKey::new(raw_key),
            entry: SeriesEntry { series, keys: None },
        };
        self.map.insert(self.hasher.hash_one(raw_key), slot);
    }

    pub fn set_keys(&mut self, raw_key: &[u8], keys: KeyList) {
        if let Some(slot) = self.map.get_mut(&self.hasher.hash_one(raw_key))
            && bytes_eq(slot.key.bytes(), raw_key)
        {
            slot.entry.keys = Some(keys);
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }
}

/// The table's keys are already hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; fold anything else in rather than panic.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Series keys up to this long live inside the table, so a lookup does not
/// chase a pointer to compare them (most Telegraf keys fit).
const INLINE_KEY: usize = 62;

/// A raw series key.
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

    fn bytes(&self) -> &[u8] {
        match self {
            RawKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            RawKey::Heap(b) => b,
        }
    }
}

/// Byte equality for short slices without a call into libc's memcmp, which
/// costs more than the comparison for the 5–60 byte keys compared here.
pub(super) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let n = a.len();
    let word = |s: &[u8], i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[i..i + 8]);
        u64::from_le_bytes(w)
    };
    if n < 8 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    let mut i = 0;
    while i + 8 <= n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    // The last, possibly overlapping, word.
    word(a, n - 8) == word(b, n - 8)
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
    fn bytes_eq_matches_slice_eq() {
        let data = b"cpu,cpu=cpu3,host=host-0421 usage_user";
        for i in 0..data.len() {
            for j in i..data.len() {
                for k in 0..data.len() {
                    let (a, b) = (&data[i..j], &data[k..(k + j - i).min(data.len())]);
                    assert_eq!(bytes_eq(a, b), a == b, "{a:?} {b:?}");
                }
            }
        }
        assert!(!bytes_eq(b"0123456789abcdefX", b"0123456789abcdefY"));
    }

    #[test]
    fn names_are_shared() {
        let mut n = NameCache::default();
        let a = n.get("host");
        let b = n.get("host");
        assert!(Arc::ptr_eq(&a, &b));
    }
}
