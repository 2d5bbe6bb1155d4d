//! A hash map with open addressing and linear probing, for per-group and
//! per-series state on the hot path. Unlike `std`'s map it can say where a
//! key will be found before the lookup ([`Table::prefetch`]), so a node can
//! have its state for a point brought into the cache a few points early
//! (see [`crate::node::Node::prefetch`]). Keys carry their own hash
//! ([`TableKey`]), so a lookup hashes nothing.

use std::num::{NonZeroU64, NonZeroUsize};

use crate::group::GroupKey;
use crate::prefetch::prefetch;

/// A key whose hash is known without reading much of it.
pub trait TableKey: Eq {
    /// What a slot keeps beside the key so that probing past it and moving
    /// it need not read the key's memory: its mixed hash, or nothing when
    /// the key is a plain number that gives its hash for free.
    type Tag: Copy + Eq;

    fn table_hash(&self) -> u64;

    /// The tag of a key whose mixed hash ([`mix`]) is `mixed`.
    fn tag(mixed: u64) -> Self::Tag;

    /// The mixed hash of a stored key.
    fn stored_hash(&self, tag: Self::Tag) -> u64;
}

/// The address of a live allocation (a shared `Series`): compared and
/// hashed as a number, so slots keep no tag.
impl TableKey for NonZeroUsize {
    type Tag = ();

    fn table_hash(&self) -> u64 {
        self.get() as u64
    }

    fn tag(_: u64) {}

    fn stored_hash(&self, _: ()) -> u64 {
        mix(self.table_hash())
    }
}

/// A group, by the hash it was made with. Comparing two groups or reading
/// one's hash reads behind its pointer, a cache miss per group probed past
/// at 10k groups, so slots keep the mixed hash.
impl TableKey for GroupKey {
    /// The mixed hash with its lowest bit set: never zero, so an empty slot
    /// costs no extra word; the slot a hash picks comes from its top bits.
    type Tag = NonZeroU64;

    fn table_hash(&self) -> u64 {
        self.shard_hash()
    }

    fn tag(mixed: u64) -> NonZeroU64 {
        NonZeroU64::new(mixed | 1).expect("not zero")
    }

    fn stored_hash(&self, tag: NonZeroU64) -> u64 {
        tag.get()
    }
}

pub struct Table<K: TableKey, V> {
    slots: Vec<Option<Slot<K, V>>>,
    len: usize,
    /// `64 − log2(slots.len())`: the top bits of the mixed hash pick the
    /// slot ([`mix`]).
    shift: u32,
}

/// An entry, with its key's tag ([`TableKey::Tag`]).
struct Slot<K: TableKey, V> {
    tag: K::Tag,
    key: K,
    value: V,
}

/// A full 64-bit mix of a key's hash (MurmurHash3's finalizer). Addresses
/// a long-running allocator hands out come in arithmetic runs, and a bare
/// multiplicative hash maps some strides onto neighbouring slots, which
/// turns linear probing into long scans.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

impl<K: TableKey + std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for Table<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.slots.iter().flatten().map(|s| (&s.key, &s.value)))
            .finish()
    }
}

impl<K: TableKey, V> Default for Table<K, V> {
    fn default() -> Self {
        Self::with_slots(16)
    }
}

impl<K: TableKey, V> Table<K, V> {
    fn with_slots(n: usize) -> Self {
        debug_assert!(n.is_power_of_two());
        Table {
            slots: std::iter::repeat_with(|| None).take(n).collect(),
            len: 0,
            shift: 64 - n.trailing_zeros(),
        }
    }

    /// The slot a probe for `hash` (mixed) starts at.
    fn home(&self, hash: u64) -> usize {
        (hash >> self.shift) as usize
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Brings the slot `key` would be found in into the cache.
    pub fn prefetch(&self, key: &K) {
        prefetch(&self.slots[self.home(mix(key.table_hash()))]);
    }

    /// The slot holding `key` (of mixed hash `hash`), or the empty one
    /// ending its probe.
    fn find(&self, key: &K, hash: u64) -> Result<usize, usize> {
        let mut i = self.home(hash);
        loop {
            match &self.slots[i] {
                None => return Err(i),
                Some(s) if s.tag == K::tag(hash) && s.key == *key => return Ok(i),
                Some(_) => i = (i + 1) & self.mask(),
            }
        }
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        let i = self.find(key, mix(key.table_hash())).ok()?;
        self.slots[i].as_ref().map(|s| &s.value)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let i = self.find(key, mix(key.table_hash())).ok()?;
        self.slots[i].as_mut().map(|s| &mut s.value)
    }

    /// Sets `key` to `value`, giving back what it was.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        // At most three quarters full: probes stay short (most keys sit in
        // their home slot, the rest a slot or two on) and one always ends
        // at an empty slot.
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.rebuild(self.slots.len() * 2, |_, _| true);
        }
        let hash = mix(key.table_hash());
        match self.find(&key, hash) {
            Ok(i) => self.slots[i]
                .replace(Slot {
                    tag: K::tag(hash),
                    key,
                    value,
                })
                .map(|s| s.value),
            Err(i) => {
                self.slots[i] = Some(Slot {
                    tag: K::tag(hash),
                    key,
                    value,
                });
                self.len += 1;
                None
            }
        }
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let mut hole = self.find(key, mix(key.table_hash())).ok()?;
        let removed = self.slots[hole].take().map(|s| s.value);
        self.len -= 1;
        // Backward shift: move up every entry of the run after the hole
        // whose probe would otherwise pass over it, so no tombstone is
        // needed.
        let mask = self.mask();
        let mut j = (hole + 1) & mask;
        while let Some(s) = &self.slots[j] {
            let home = self.home(s.key.stored_hash(s.tag));
            if j.wrapping_sub(home) & mask >= j.wrapping_sub(hole) & mask {
                self.slots[hole] = self.slots[j].take();
                hole = j;
            }
            j = (j + 1) & mask;
        }
        removed
    }

    /// Empties the table, handing out its entries; it keeps its size.
    pub fn drain(&mut self) -> impl Iterator<Item = (K, V)> + use<K, V> {
        let old = std::mem::replace(self, Self::with_slots(self.slots.len()));
        old.slots.into_iter().flatten().map(|s| (s.key, s.value))
    }

    /// Keeps the entries `keep` says yes to.
    pub fn retain(&mut self, keep: impl FnMut(&K, &mut V) -> bool) {
        self.rebuild(self.slots.len(), keep);
    }

    fn rebuild(&mut self, slots: usize, mut keep: impl FnMut(&K, &mut V) -> bool) {
        let old = std::mem::replace(self, Self::with_slots(slots));
        for mut s in old.slots.into_iter().flatten() {
            if keep(&s.key, &mut s.value) {
                let mut i = self.home(s.key.stored_hash(s.tag));
                while self.slots[i].is_some() {
                    i = (i + 1) & self.mask();
                }
                self.slots[i] = Some(s);
                self.len += 1;
            }
        }
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.slots.iter().flatten().map(|s| &s.value)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    /// Small hashes, so that keys collide and probe runs wrap around.
    trait TestKey: TableKey + Copy + Ord + std::hash::Hash + std::fmt::Debug {
        fn new(n: u8) -> Self;
        fn n(&self) -> u8;
    }

    /// Keeps its tag as a group key does.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    struct Tagged(u8);

    impl TableKey for Tagged {
        type Tag = NonZeroU64;

        fn table_hash(&self) -> u64 {
            u64::from(self.0 % 7)
        }

        fn tag(mixed: u64) -> NonZeroU64 {
            GroupKey::tag(mixed)
        }

        fn stored_hash(&self, tag: NonZeroU64) -> u64 {
            tag.get()
        }
    }

    impl TestKey for Tagged {
        fn new(n: u8) -> Self {
            Tagged(n)
        }
        fn n(&self) -> u8 {
            self.0
        }
    }

    /// Keeps no tag, as a series address does.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    struct Plain(u8);

    impl TableKey for Plain {
        type Tag = ();

        fn table_hash(&self) -> u64 {
            u64::from(self.0 % 7)
        }

        fn tag(_: u64) {}

        fn stored_hash(&self, _: ()) -> u64 {
            mix(self.table_hash())
        }
    }

    impl TestKey for Plain {
        fn new(n: u8) -> Self {
            Plain(n)
        }
        fn n(&self) -> u8 {
            self.0
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u8, u32),
        Remove(u8),
        Retain(u8),
        Drain,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u8..40, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => (0u8..40).prop_map(Op::Remove),
            1 => (1u8..5).prop_map(Op::Retain),
            1 => Just(Op::Drain),
        ]
    }

    /// Whatever is done to it, the table holds what a `HashMap` holds.
    fn agrees_with_a_hash_map<K: TestKey>(ops: Vec<Op>) -> Result<(), TestCaseError> {
        let mut table = Table::default();
        let mut model = HashMap::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => {
                    prop_assert_eq!(table.insert(K::new(k), v), model.insert(K::new(k), v));
                }
                Op::Remove(k) => {
                    prop_assert_eq!(table.remove(&K::new(k)), model.remove(&K::new(k)))
                }
                Op::Retain(m) => {
                    table.retain(|k, _| k.n() % m == 0);
                    model.retain(|k, _| k.n() % m == 0);
                }
                Op::Drain => {
                    let mut drained: Vec<_> = table.drain().collect();
                    drained.sort();
                    let mut expected: Vec<_> = model.drain().collect();
                    expected.sort();
                    prop_assert_eq!(drained, expected);
                }
            }
            prop_assert_eq!(table.len(), model.len());
            for k in 0..40 {
                prop_assert_eq!(table.get(&K::new(k)), model.get(&K::new(k)));
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn with_tags_agrees_with_a_hash_map(ops in prop::collection::vec(op(), 0..300)) {
            agrees_with_a_hash_map::<Tagged>(ops)?;
        }

        #[test]
        fn without_tags_agrees_with_a_hash_map(ops in prop::collection::vec(op(), 0..300)) {
            agrees_with_a_hash_map::<Plain>(ops)?;
        }
    }
}
