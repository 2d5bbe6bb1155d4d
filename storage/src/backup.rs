//! A consistent copy of the store (`kapacitor backup`): every table as one
//! read transaction sees it, written to a new store file that replaces
//! `kapacitor.redb` to restore.

use std::path::Path;

use redb::{Database, ReadTransaction, TableDefinition, TableError};

use crate::{
    ALERT_STATES, META, QUARANTINE, RECORDINGS, Store, StoreError, TASKS, TOPIC_EVENTS,
    TOPIC_HANDLERS, private_file,
};

impl Store {
    /// Writes a copy of every table, as of one moment, to a new store file
    /// at `to` (which must not exist). Writers go on meanwhile; what they
    /// commit after the copy began is not in it.
    pub fn backup(&self, to: &Path) -> Result<(), StoreError> {
        if to.exists() {
            return Err(StoreError::Io {
                path: to.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "already exists"),
            });
        }
        let snapshot = self.read()?;
        let db_err = |e: redb::Error| StoreError::Db {
            path: to.to_path_buf(),
            source: Box::new(e),
        };
        let copy = Database::create(to).map_err(|e| db_err(e.into()))?;
        private_file(to).map_err(|source| StoreError::Io {
            path: to.to_path_buf(),
            source,
        })?;
        let txn = copy.begin_write().map_err(|e| db_err(e.into()))?;
        copy_table(&snapshot, &txn, META).map_err(db_err)?;
        copy_table(&snapshot, &txn, TASKS).map_err(db_err)?;
        copy_table(&snapshot, &txn, ALERT_STATES).map_err(db_err)?;
        copy_table(&snapshot, &txn, RECORDINGS).map_err(db_err)?;
        copy_table(&snapshot, &txn, QUARANTINE).map_err(db_err)?;
        copy_table(&snapshot, &txn, TOPIC_EVENTS).map_err(db_err)?;
        copy_table(&snapshot, &txn, TOPIC_HANDLERS).map_err(db_err)?;
        txn.commit().map_err(|e| db_err(e.into()))
    }
}

/// Copies one table, if the snapshot has it.
fn copy_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    from: &ReadTransaction,
    to: &redb::WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<(), redb::Error> {
    let source = match from.open_table(def) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut target = to.open_table(def)?;
    for entry in redb::ReadableTable::iter(&source)? {
        let (k, v) = entry?;
        target.insert(k.value(), v.value())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use redb::{MultimapTableHandle, TableHandle};

    use crate::{AlertStateRecord, Store, TaskRecord};

    #[test]
    fn a_backup_opens_as_the_store_it_copies() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        let task = TaskRecord {
            id: "cpu_alert".into(),
            task_type: "stream".into(),
            dbrps: vec![("telegraf".into(), "autogen".into())],
            script: "stream|from()".into(),
            meta: BTreeMap::new(),
            enabled: true,
            created: 1,
            modified: 2,
            last_enabled: Some(3),
            error: String::new(),
        };
        store.put_task(&task).unwrap();
        let state = AlertStateRecord {
            level: "CRITICAL".into(),
            since: 1,
            last_event: 2,
            previous_level: "OK".into(),
        };
        store
            .put_alert_state("cpu_alert", "cpu:nil", &state)
            .unwrap();

        let restored = dir.path().join("restored");
        std::fs::create_dir(&restored).unwrap();
        store.backup(&restored.join(crate::FILE_NAME)).unwrap();
        // The source keeps working; the copy is a whole store of its own.
        store
            .put_task(&TaskRecord {
                id: "later".into(),
                ..task.clone()
            })
            .unwrap();
        let copy = Store::open(&restored).unwrap();
        assert_eq!(copy.list_tasks().unwrap(), vec![task]);
        assert_eq!(
            copy.alert_states("cpu_alert").unwrap(),
            vec![("cpu:nil".into(), state)]
        );
        assert_eq!(copy.schema_version().unwrap(), crate::SCHEMA_VERSION);

        // Every table of the store is in the copy: a table added later
        // must be added to `backup` too.
        let tables = |s: &Store| -> Vec<String> {
            let txn = s.db.begin_read().unwrap();
            let mut names: Vec<String> = txn
                .list_tables()
                .unwrap()
                .map(|t| t.name().to_string())
                .collect();
            names.extend(
                txn.list_multimap_tables()
                    .unwrap()
                    .map(|t| t.name().to_string()),
            );
            names.sort();
            names
        };
        assert_eq!(tables(&copy), tables(&store));

        assert!(
            store.backup(&restored.join(crate::FILE_NAME)).is_err(),
            "never overwrites"
        );
    }
}
