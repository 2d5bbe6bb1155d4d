//! Alert topics in the store: the latest state of each event of each topic
//! (with its recent history), and the topic handlers defined through the
//! API, the CLI or the tasks directory. Both tables are keyed by (topic,
//! id), so one topic's rows are one range.

use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::{PairChange, QUARANTINE, Quarantined, Store, StoreError};

const TOPIC_EVENTS_NAME: &str = "topic_events_v1";
const TOPIC_HANDLERS_NAME: &str = "topic_handlers_v1";

/// `topic_events_v1`: (topic, event id) → JSON of [`TopicEventRecord`].
pub const TOPIC_EVENTS: TableDefinition<(&str, &str), &str> =
    TableDefinition::new(TOPIC_EVENTS_NAME);

/// `topic_handlers_v1`: (topic, handler id) → JSON of
/// [`TopicHandlerRecord`].
pub const TOPIC_HANDLERS: TableDefinition<(&str, &str), &str> =
    TableDefinition::new(TOPIC_HANDLERS_NAME);

/// v1 → v2: creates the topic tables.
pub(crate) fn migrate_v1_to_v2(txn: &WriteTransaction) -> Result<(), redb::Error> {
    txn.open_table(TOPIC_EVENTS)?;
    txn.open_table(TOPIC_HANDLERS)?;
    Ok(())
}

/// The latest state of one event of a topic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicEventRecord {
    /// `OK`, `INFO`, `WARNING` or `CRITICAL`.
    pub level: String,
    pub message: String,
    pub details: String,
    /// Nanoseconds since the Unix epoch.
    pub time: i64,
    /// Nanoseconds out of OK.
    pub duration: i64,
    /// The task that sent it (empty for an aggregate's summary).
    #[serde(default)]
    pub task: String,
    /// It was inhibited (recorded, not handled).
    #[serde(default)]
    pub inhibited: bool,
    /// When its level began, ns since the Unix epoch.
    #[serde(default)]
    pub since: i64,
    /// The earlier runs of a level, oldest first.
    #[serde(default)]
    pub history: Vec<TopicHistoryRecord>,
}

/// An earlier run of one level of an event id: when it began and its last
/// message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicHistoryRecord {
    pub time: i64,
    pub level: String,
    pub message: String,
    #[serde(default)]
    pub inhibited: bool,
}

/// A topic handler as defined: Kapacitor's handler spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopicHandlerRecord {
    pub id: String,
    pub topic: String,
    pub kind: String,
    #[serde(default, rename = "match")]
    pub match_expr: String,
    #[serde(default)]
    pub options: serde_json::Map<String, serde_json::Value>,
    /// Defined by a file of the tasks directory (rebuilt from it at start,
    /// removed with the file) rather than the API.
    #[serde(default)]
    pub from_file: bool,
}

/// One change to the topic events, for [`Store::apply_topic_ops`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicOp {
    Put {
        topic: String,
        id: String,
        record: TopicEventRecord,
    },
    Remove {
        topic: String,
        id: String,
    },
    /// Every event of a topic (it was deleted).
    RemoveTopic {
        topic: String,
    },
}

impl Store {
    /// Every stored topic event, by topic then event id.
    pub fn topic_events(&self) -> Result<Vec<(String, String, TopicEventRecord)>, StoreError> {
        self.pairs(TOPIC_EVENTS, TOPIC_EVENTS_NAME)
    }

    /// Applies several changes in one transaction, in order.
    pub fn apply_topic_ops(&self, ops: &[TopicOp]) -> Result<(), StoreError> {
        let mut changes = Vec::with_capacity(ops.len());
        for op in ops {
            changes.push(match op {
                TopicOp::Put { topic, id, record } => {
                    PairChange::Put(topic, id, self.encode(TOPIC_EVENTS_NAME, id, record)?)
                }
                TopicOp::Remove { topic, id } => PairChange::Remove(topic, id),
                TopicOp::RemoveTopic { topic } => PairChange::RemoveGroup(topic),
            });
        }
        self.apply_pairs(TOPIC_EVENTS, &changes)
    }

    /// Inserts or replaces a topic handler.
    pub fn put_topic_handler(&self, h: &TopicHandlerRecord) -> Result<(), StoreError> {
        let json = self.encode(TOPIC_HANDLERS_NAME, &h.id, h)?;
        self.write_with(|txn| {
            txn.open_table(TOPIC_HANDLERS)?
                .insert((h.topic.as_str(), h.id.as_str()), json.as_str())?;
            Ok(())
        })
    }

    /// Deletes a topic handler; `true` if it existed.
    pub fn delete_topic_handler(&self, topic: &str, id: &str) -> Result<bool, StoreError> {
        let mut existed = false;
        self.write_with(|txn| {
            existed = txn
                .open_table(TOPIC_HANDLERS)?
                .remove((topic, id))?
                .is_some();
            Ok(())
        })?;
        Ok(existed)
    }

    /// Every stored topic handler, by topic then id.
    pub fn topic_handlers(&self) -> Result<Vec<TopicHandlerRecord>, StoreError> {
        Ok(self
            .pairs(TOPIC_HANDLERS, TOPIC_HANDLERS_NAME)?
            .into_iter()
            .map(|(_, _, h)| h)
            .collect())
    }

    /// Every row of a (topic, id) table, decoded. A row that cannot be
    /// decoded is moved to the quarantine table, as [`Store`]'s other
    /// tables do, so one bad record never stops a start.
    fn pairs<T: serde::de::DeserializeOwned>(
        &self,
        def: TableDefinition<(&str, &str), &str>,
        name: &'static str,
    ) -> Result<Vec<(String, String, T)>, StoreError> {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        {
            let txn = self.read()?;
            let table = txn.open_table(def).map_err(|e| self.db_err(e))?;
            for entry in table.iter().map_err(|e| self.db_err(e))? {
                let (k, v) = entry.map_err(|e| self.db_err(e))?;
                let (topic, id) = k.value();
                match self.decode(name, id, v.value()) {
                    Ok(record) => out.push((topic.to_owned(), id.to_owned(), record)),
                    Err(e) => bad.push((
                        topic.to_owned(),
                        id.to_owned(),
                        Quarantined {
                            table: name.to_owned(),
                            key: format!("{topic}/{id}"),
                            error: e.to_string(),
                            value: v.value().to_owned(),
                        },
                    )),
                }
            }
        }
        if !bad.is_empty() {
            self.write_with(|txn| {
                let mut from = txn.open_table(def)?;
                let mut to = txn.open_table(QUARANTINE)?;
                for (topic, id, q) in &bad {
                    let json = serde_json::to_string(q).unwrap_or_default();
                    to.insert(format!("{}/{}", q.table, q.key).as_str(), json.as_str())?;
                    from.remove((topic.as_str(), id.as_str()))?;
                }
                Ok(())
            })?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(level: &str, time: i64) -> TopicEventRecord {
        TopicEventRecord {
            level: level.into(),
            message: format!("m{time}"),
            time,
            ..TopicEventRecord::default()
        }
    }

    #[test]
    fn topic_events_and_handlers_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .apply_topic_ops(&[
                TopicOp::Put {
                    topic: "cpu".into(),
                    id: "a".into(),
                    record: event("CRITICAL", 1),
                },
                TopicOp::Put {
                    topic: "cpu".into(),
                    id: "b".into(),
                    record: event("OK", 2),
                },
                TopicOp::Put {
                    topic: "cpuz".into(),
                    id: "a".into(),
                    record: event("INFO", 3),
                },
                TopicOp::Remove {
                    topic: "cpu".into(),
                    id: "b".into(),
                },
            ])
            .unwrap();
        let handler = TopicHandlerRecord {
            id: "h".into(),
            topic: "cpu".into(),
            kind: "log".into(),
            match_expr: "changed()".into(),
            options: serde_json::json!({"path": "/tmp/x"})
                .as_object()
                .cloned()
                .unwrap(),
            from_file: false,
        };
        store.put_topic_handler(&handler).unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.topic_events().unwrap(),
            vec![
                ("cpu".into(), "a".into(), event("CRITICAL", 1)),
                ("cpuz".into(), "a".into(), event("INFO", 3)),
            ]
        );
        assert_eq!(store.topic_handlers().unwrap(), vec![handler]);
        store
            .apply_topic_ops(&[TopicOp::RemoveTopic {
                topic: "cpu".into(),
            }])
            .unwrap();
        assert_eq!(store.topic_events().unwrap().len(), 1, "cpuz stays");
        assert!(store.delete_topic_handler("cpu", "h").unwrap());
        assert!(!store.delete_topic_handler("cpu", "h").unwrap());
    }
}
