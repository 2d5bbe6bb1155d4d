//! The redb store of kapacitord: versioned tables with a `meta` table holding
//! the schema version, task definitions and state, alert state per alert id,
//! and the index of recordings (whose payloads live as files under the data
//! dir). Filled in with the tasks issue; nothing uses it yet.
