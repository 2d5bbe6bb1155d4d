//! Groups: what `groupBy` splits a stream into. Every point or batch on an
//! edge belongs to one group, and stateful nodes keep their state per group.

use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

use crate::point::{Name, Series, Tags};

/// What a task groups by: tag names, and whether the measurement is part of
/// the group (`groupByMeasurement`). `*` is resolved per point by the node
/// that groups, so it never appears here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Dimensions {
    pub by_measurement: bool,
    /// Sorted, unique.
    pub tag_names: Vec<Name>,
}

impl Dimensions {
    pub fn new(by_measurement: bool, mut tag_names: Vec<Name>) -> Self {
        tag_names.sort();
        tag_names.dedup();
        Dimensions {
            by_measurement,
            tag_names,
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.by_measurement && self.tag_names.is_empty()
    }
}

/// One group's identity: the values of the dimensions. Cheap to clone,
/// compare and hash (the hash is computed once). The nil group, which every
/// ungrouped point is in, holds nothing: cloning it touches no memory.
#[derive(Clone)]
pub struct GroupKey(Option<Arc<GroupInner>>);

struct GroupInner {
    /// Kapacitor's group ID text: `name\n` when grouped by measurement, then
    /// `k=v,k=v` over the sorted tag dimensions; empty for the nil group.
    id: Box<str>,
    measurement: Option<Name>,
    /// The dimension tags with this group's values, sorted by key.
    tags: Tags,
    hash: u64,
}

impl GroupKey {
    /// The group of everything when nothing is grouped (one shared key).
    pub fn nil() -> Self {
        GroupKey(None)
    }

    /// The group `series` falls in under `dims`. A dimension tag the series
    /// lacks takes the empty value, as in Kapacitor.
    pub fn for_series(dims: &Dimensions, series: &Series) -> Self {
        if dims.is_empty() {
            return Self::nil();
        }
        let tags: Vec<(Name, Name)> = dims
            .tag_names
            .iter()
            .map(|k| {
                (
                    k.clone(),
                    series.tag(k).cloned().unwrap_or_else(|| Name::from("")),
                )
            })
            .collect();
        let measurement = dims.by_measurement.then(|| series.measurement().clone());
        Self::from_parts(measurement, tags.into())
    }

    /// A group from its parts; `tags` must be sorted by key.
    pub fn from_parts(measurement: Option<Name>, tags: Tags) -> Self {
        if measurement.is_none() && tags.is_empty() {
            return Self::nil();
        }
        let mut id = String::new();
        if let Some(m) = &measurement {
            id.push_str(m);
            if !tags.is_empty() {
                id.push('\n');
            }
        }
        for (i, (k, v)) in tags.iter().enumerate() {
            if i > 0 {
                id.push(',');
            }
            id.push_str(k);
            id.push('=');
            id.push_str(v);
        }
        let mut hasher = std::hash::DefaultHasher::new();
        id.hash(&mut hasher);
        let hash = hasher.finish();
        GroupKey(Some(Arc::new(GroupInner {
            id: id.into(),
            measurement,
            tags,
            hash,
        })))
    }

    /// Kapacitor's group ID; empty for the nil group.
    pub fn id(&self) -> &str {
        self.0.as_ref().map_or("", |g| &g.id)
    }

    pub fn is_nil(&self) -> bool {
        self.0.is_none()
    }

    /// The dimension tags and their values.
    pub fn tags(&self) -> &Tags {
        static NONE: std::sync::LazyLock<Tags> = std::sync::LazyLock::new(|| Tags::from([]));
        self.0.as_ref().map_or(&NONE, |g| &g.tags)
    }

    pub fn measurement(&self) -> Option<&Name> {
        self.0.as_ref().and_then(|g| g.measurement.as_ref())
    }

    /// The 64-bit hash, for sharding groups across parallel instances.
    pub fn shard_hash(&self) -> u64 {
        self.0.as_ref().map_or(0, |g| g.hash)
    }
}

impl PartialEq for GroupKey {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) || (a.hash == b.hash && a.id == b.id),
            _ => false,
        }
    }
}

impl Eq for GroupKey {}

impl Hash for GroupKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.shard_hash());
    }
}

/// A map keyed by group. A `GroupKey` carries its hash, so the map uses it
/// as is instead of hashing it again on every lookup.
pub type GroupMap<V> = std::collections::HashMap<GroupKey, V, BuildHasherDefault<GroupHasher>>;

/// Passes a group's precomputed hash through (see [`GroupMap`]).
#[derive(Default)]
pub struct GroupHasher(u64);

impl Hasher for GroupHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by GroupKey; fold anything else in.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl fmt::Debug for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_nil() {
            f.write_str("GroupKey(nil)")
        } else {
            write!(f, "GroupKey({:?})", self.id())
        }
    }
}

impl fmt::Display for GroupKey {
    /// As alert templates render `.Group`: `nil` for the nil group.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_nil() {
            f.write_str("nil")
        } else {
            f.write_str(self.id())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(m: &str, tags: &[(&str, &str)]) -> Series {
        Series::new(
            m.into(),
            tags.iter()
                .map(|(k, v)| (Name::from(*k), Name::from(*v)))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn group_id_follows_kapacitor() {
        let s = series("cpu", &[("host", "a"), ("cpu", "cpu0"), ("dc", "x")]);
        let dims = Dimensions::new(false, vec!["host".into(), "cpu".into()]);
        assert_eq!(GroupKey::for_series(&dims, &s).id(), "cpu=cpu0,host=a");
        let by_name = Dimensions::new(true, vec!["host".into()]);
        assert_eq!(GroupKey::for_series(&by_name, &s).id(), "cpu\nhost=a");
        assert_eq!(
            GroupKey::for_series(&Dimensions::new(true, vec![]), &s).id(),
            "cpu"
        );
        let nil = GroupKey::for_series(&Dimensions::default(), &s);
        assert!(nil.is_nil());
        assert_eq!(nil.to_string(), "nil");
    }

    #[test]
    fn missing_dimension_tag_is_empty_and_groups_compare_by_value() {
        let dims = Dimensions::new(false, vec!["host".into()]);
        let a = GroupKey::for_series(&dims, &series("cpu", &[]));
        let b = GroupKey::for_series(&dims, &series("mem", &[("other", "1")]));
        assert_eq!(a.id(), "host=");
        assert_eq!(a, b);
    }
}
