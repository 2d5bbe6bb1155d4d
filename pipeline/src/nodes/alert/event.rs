//! Alert levels and events, and the event JSON handlers send: Kapacitor's
//! `alert.Data`, field for field, so `.post()` receivers written for
//! Kapacitor keep working.

use std::fmt;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::batch::Batch;
use crate::point::{Fields, Name, Point, Tags};
use crate::result::{Result as SeriesResult, Series};
use crate::time::format_rfc3339;

/// An alert's level, in increasing severity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    #[default]
    Ok,
    Info,
    Warning,
    Critical,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 4] = [Level::Ok, Level::Info, Level::Warning, Level::Critical];

    /// The name Kapacitor prints: `OK`, `INFO`, `WARNING`, `CRITICAL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Critical => "CRITICAL",
        }
    }

    /// Parses a level name, in any case, as Kapacitor's `ParseLevel`.
    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Level {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The data that triggered an event, kept as it arrived (sharing its
/// buffers) and turned into a result only when a handler serialises it.
#[derive(Clone, Debug, PartialEq)]
pub enum EventData {
    Point(Point),
    Batch(Batch),
    /// The data of several events, one after the other: an `aggregate`
    /// topic handler's summary.
    Many(std::sync::Arc<[EventData]>),
}

impl EventData {
    /// The `data` member of the event JSON.
    pub fn result(&self) -> SeriesResult {
        let mut series = Vec::new();
        self.add_series(&mut series);
        SeriesResult { series }
    }

    fn add_series(&self, out: &mut Vec<Series>) {
        match self {
            EventData::Point(p) => out.push(Series::from_point(p)),
            EventData::Batch(b) => out.push(Series::from_batch(b)),
            EventData::Many(all) => all.iter().for_each(|d| d.add_series(out)),
        }
    }
}

/// One alert event. Serialises to Kapacitor's `alert.Data` JSON:
/// `{id, message, details, time, duration, level, data, previousLevel,
/// recoverable}`; the remaining members are for handlers and templates.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertEvent {
    pub id: String,
    pub message: String,
    pub details: String,
    /// Nanoseconds since the epoch.
    pub time: i64,
    /// Nanoseconds since the alert left OK.
    pub duration: i64,
    pub level: Level,
    /// The level of the last event sent with this ID (OK if none).
    pub previous_level: Level,
    /// False with `.noRecoveries()`: no OK event will follow.
    pub recoverable: bool,
    pub data: EventData,
    /// The measurement.
    pub name: Name,
    pub task_name: String,
    /// The group ID, `nil` for the nil group.
    pub group: String,
    /// The point's tags, or the batch's.
    pub tags: Tags,
    /// The triggering point's fields (the highest-level point of a batch).
    pub fields: Fields,
    /// An alert inhibits this one's category and tags (`.inhibit()`): it is
    /// recorded, not handled.
    pub inhibited: bool,
}

impl AlertEvent {
    /// The event as Kapacitor's JSON, as `.post()` and `.log()` send it.
    pub fn to_json(&self) -> String {
        // Serialising plain strings, numbers and a Result cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Serialize for AlertEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Data", 9)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("message", &self.message)?;
        st.serialize_field("details", &self.details)?;
        st.serialize_field("time", &format_rfc3339(self.time))?;
        st.serialize_field("duration", &self.duration)?;
        st.serialize_field("level", &self.level)?;
        st.serialize_field("data", &self.data.result())?;
        st.serialize_field("previousLevel", &self.previous_level)?;
        st.serialize_field("recoverable", &self.recoverable)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::BatchPoint;
    use crate::group::GroupKey;
    use crate::point::FieldValue;

    #[test]
    fn levels_order_and_parse() {
        assert!(
            Level::Ok < Level::Info
                && Level::Info < Level::Warning
                && Level::Warning < Level::Critical
        );
        assert_eq!(Level::parse("warning"), Some(Level::Warning));
        assert_eq!(Level::parse("nope"), None);
    }

    #[test]
    fn batch_data_adds_point_tags_the_batch_lacks() {
        let b = Batch {
            name: "cpu".into(),
            tmax: 10,
            group: GroupKey::nil(),
            tags: Tags::from([(Name::from("host"), Name::from("a"))]),
            points: vec![BatchPoint {
                time: 5,
                fields: Fields::from_pairs([(Name::from("value"), FieldValue::Float(1.0))]),
                tags: Tags::from([
                    (Name::from("host"), Name::from("a")),
                    (Name::from("cpu"), Name::from("c0")),
                ]),
            }],
        };
        let json = serde_json::to_value(EventData::Batch(b).result()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"series": [{"name": "cpu", "tags": {"host": "a"},
                "columns": ["time", "cpu", "value"],
                "values": [["1970-01-01T00:00:00.000000005Z", "c0", 1.0]]}]})
        );
    }
}
