//! The point model: what a line of line protocol becomes.
//!
//! A [`Point`] is small (48 bytes) and cheap to clone: its series (measurement
//! and tags) is shared behind an `Arc`, and so are its field keys and values.
//! Fanning one point out to many tasks costs a few reference-count bumps, not
//! copies of strings.

use std::fmt;
use std::sync::Arc;

pub use model::{DbRp, Name};

/// Tags sorted by key, with unique keys.
pub type Tags = Arc<[(Name, Name)]>;

/// A field value, with the five types of InfluxDB line protocol.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    Float(f64),
    Integer(i64),
    Unsigned(u64),
    String(Name),
    Boolean(bool),
}

impl FieldValue {
    /// The name of the value's type as users see it in errors.
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldValue::Float(_) => "float",
            FieldValue::Integer(_) => "integer",
            FieldValue::Unsigned(_) => "unsigned",
            FieldValue::String(_) => "string",
            FieldValue::Boolean(_) => "boolean",
        }
    }
}

impl fmt::Display for FieldValue {
    /// Renders the value as line protocol writes it (`1.5`, `3i`, `3u`, `"s"`, `true`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Float(v) => write!(f, "{v}"),
            FieldValue::Integer(v) => write!(f, "{v}i"),
            FieldValue::Unsigned(v) => write!(f, "{v}u"),
            FieldValue::Boolean(v) => write!(f, "{v}"),
            FieldValue::String(s) => {
                f.write_str("\"")?;
                for c in s.chars() {
                    if c == '"' || c == '\\' {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("\"")
            }
        }
    }
}

/// Why a series could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeriesError {
    #[error("missing measurement")]
    MissingMeasurement,
    #[error("duplicate tags")]
    DuplicateTags,
}

/// A series: a measurement and its sorted tags. Shared by every point of the
/// series, so comparing or hashing a group costs little.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Series {
    measurement: Name,
    tags: Tags,
}

impl Series {
    /// Builds a series, sorting the tags by key. Duplicate tag keys are an
    /// error, as in InfluxDB 1.x.
    pub fn new(measurement: Name, mut tags: Vec<(Name, Name)>) -> Result<Self, SeriesError> {
        if measurement.is_empty() {
            return Err(SeriesError::MissingMeasurement);
        }
        if !tags.is_sorted_by(|a, b| a.0 < b.0) {
            tags.sort_by(|a, b| a.0.cmp(&b.0));
            if tags.windows(2).any(|w| w[0].0 == w[1].0) {
                return Err(SeriesError::DuplicateTags);
            }
        }
        Ok(Series {
            measurement,
            tags: tags.into(),
        })
    }

    /// A series sharing `tags`, which are already sorted by key (a group's
    /// tags are), so nothing is copied.
    pub fn with_sorted_tags(measurement: Name, tags: Tags) -> Result<Self, SeriesError> {
        if measurement.is_empty() {
            return Err(SeriesError::MissingMeasurement);
        }
        if !tags.is_sorted_by(|a, b| a.0 < b.0) {
            return Self::new(measurement, tags.to_vec());
        }
        Ok(Series { measurement, tags })
    }

    pub fn measurement(&self) -> &Name {
        &self.measurement
    }

    pub fn tags(&self) -> &Tags {
        &self.tags
    }

    pub fn tag(&self, key: &str) -> Option<&Name> {
        self.tags
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| &self.tags[i].1)
    }
}

/// A point's fields: keys and values in the order they were written, with
/// unique keys (a repeated key keeps its last value, as InfluxDB does).
///
/// Keys are shared separately from values because consecutive points of a
/// series nearly always carry the same keys: a decoder can hand every point
/// the same key list.
#[derive(Clone, Debug, PartialEq)]
pub struct Fields {
    keys: Arc<[Name]>,
    values: Arc<[FieldValue]>,
}

impl Fields {
    /// Builds fields from parallel key and value lists.
    ///
    /// # Panics
    /// If the lists differ in length; callers build them together.
    pub fn new(keys: Arc<[Name]>, values: Arc<[FieldValue]>) -> Self {
        assert_eq!(
            keys.len(),
            values.len(),
            "field keys and values differ in length"
        );
        Fields { keys, values }
    }

    /// Builds fields from pairs; a repeated key keeps its last value.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (Name, FieldValue)>) -> Self {
        let mut keys: Vec<Name> = Vec::new();
        let mut values: Vec<FieldValue> = Vec::new();
        for (k, v) in pairs {
            match keys.iter().position(|e| *e == k) {
                Some(i) => values[i] = v,
                None => {
                    keys.push(k);
                    values.push(v);
                }
            }
        }
        Fields {
            keys: keys.into(),
            values: values.into(),
        }
    }

    /// These fields with `set` set: a key already present keeps its place
    /// and takes the new value, a new key goes after the others.
    pub fn with(&self, set: impl IntoIterator<Item = (Name, FieldValue)>) -> Self {
        Fields::from_pairs(self.iter().map(|(k, v)| (k.clone(), v.clone())).chain(set))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn keys(&self) -> &Arc<[Name]> {
        &self.keys
    }

    pub fn values(&self) -> &Arc<[FieldValue]> {
        &self.values
    }

    pub fn get(&self, key: &str) -> Option<&FieldValue> {
        self.position(key).map(|i| &self.values[i])
    }

    /// Where `key` sits among the keys. Keys of one measurement often share
    /// a prefix and a length (`usage_user`, `usage_idle`), so the last byte
    /// is compared before the whole key.
    pub fn position(&self, key: &str) -> Option<usize> {
        let want = key.as_bytes();
        let Some(&last) = want.last() else {
            return self.keys.iter().position(|k| k.is_empty());
        };
        self.keys.iter().position(|k| {
            let k = k.as_bytes();
            k.len() == want.len() && k[k.len() - 1] == last && k == want
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Name, &FieldValue)> {
        self.keys.iter().zip(self.values.iter())
    }
}

/// One point: a series, its fields and a time in nanoseconds since the Unix
/// epoch. The database and retention policy travel with the [`PointBatch`].
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub series: Arc<Series>,
    pub fields: Fields,
    pub time: i64,
}

impl Point {
    pub fn measurement(&self) -> &Name {
        self.series.measurement()
    }

    pub fn tags(&self) -> &Tags {
        self.series.tags()
    }
}

impl fmt::Display for Point {
    /// Renders the point as one line of line protocol, escaped as InfluxDB does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, self.measurement(), &[',', ' '])?;
        for (k, v) in self.tags().iter() {
            f.write_str(",")?;
            write_escaped(f, k, &[',', ' ', '='])?;
            f.write_str("=")?;
            write_escaped(f, v, &[',', ' ', '='])?;
        }
        for (i, (k, v)) in self.fields.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { "," })?;
            write_escaped(f, k, &[',', ' ', '='])?;
            write!(f, "={v}")?;
        }
        write!(f, " {}", self.time)
    }
}

fn write_escaped(f: &mut fmt::Formatter<'_>, s: &str, special: &[char]) -> fmt::Result {
    for c in s.chars() {
        if special.contains(&c) {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    Ok(())
}

/// The points of one write (a request, a datagram, a stretch of a TCP
/// stream), all for one database and retention policy.
#[derive(Clone, Debug, PartialEq)]
pub struct PointBatch {
    pub dbrp: DbRp,
    pub points: Vec<Point>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from(s)
    }

    #[test]
    fn series_sorts_tags_and_rejects_duplicates() {
        let s = Series::new(
            name("cpu"),
            vec![(name("host"), name("a")), (name("cpu"), name("cpu0"))],
        )
        .unwrap();
        assert_eq!(&*s.tags()[0].0, "cpu");
        assert_eq!(s.tag("host").map(|v| &**v), Some("a"));
        assert_eq!(s.tag("nope"), None);
        let dup = Series::new(
            name("cpu"),
            vec![(name("t"), name("1")), (name("t"), name("2"))],
        );
        assert_eq!(dup, Err(SeriesError::DuplicateTags));
        assert_eq!(
            Series::new(name(""), vec![]),
            Err(SeriesError::MissingMeasurement)
        );
    }

    #[test]
    fn repeated_field_key_keeps_last_value() {
        let f = Fields::from_pairs([
            (name("a"), FieldValue::Float(1.0)),
            (name("b"), FieldValue::Integer(2)),
            (name("a"), FieldValue::Float(3.0)),
        ]);
        assert_eq!(f.len(), 2);
        assert_eq!(f.get("a"), Some(&FieldValue::Float(3.0)));
    }

    #[test]
    fn point_renders_as_escaped_line_protocol() {
        let series = Series::new(name("my m,x"), vec![(name("t k"), name("v=1"))]).unwrap();
        let p = Point {
            series: Arc::new(series),
            fields: Fields::from_pairs([
                (name("f"), FieldValue::String(name("a\"b\\c"))),
                (name("i"), FieldValue::Integer(-3)),
                (name("u"), FieldValue::Unsigned(3)),
                (name("b"), FieldValue::Boolean(true)),
                (name("x"), FieldValue::Float(0.5)),
            ]),
            time: 17,
        };
        assert_eq!(
            p.to_string(),
            r#"my\ m\,x,t\ k=v\=1 f="a\"b\\c",i=-3i,u=3u,b=true,x=0.5 17"#
        );
    }

    #[test]
    fn point_is_small() {
        assert!(std::mem::size_of::<Point>() <= 48);
    }
}
