//! `GET /kapacitor/v1/storage/backup`: a consistent copy of the store, as
//! Kapacitor serves its own. To restore, stop kapacitord and put the file
//! in place of `DATA_DIR/kapacitor.redb`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ingest::http::json_error;

use crate::server::ServerState;

pub async fn backup(State(state): State<Arc<ServerState>>) -> Response {
    let store = state.store.clone();
    let dir = state.config.data_dir.clone();
    match tokio::task::spawn_blocking(move || copy(&store, &dir)).await {
        Ok(Ok(bytes)) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"kapacitor.redb\"",
                ),
            ],
            bytes,
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::error!("backup failed: {e}");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, format!("backup: {e}"))
        }
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The store copied to a file of its own beside it, read back whole (the
/// store holds definitions and states, not data), and the file removed.
fn copy(store: &storage::Store, dir: &Path) -> Result<Vec<u8>, String> {
    static BACKUPS: AtomicU64 = AtomicU64::new(0);
    let path = dir.join(format!(
        ".backup-{}-{}.redb",
        std::process::id(),
        BACKUPS.fetch_add(1, Ordering::Relaxed)
    ));
    let bytes = store
        .backup(&path)
        .map_err(|e| e.to_string())
        .and_then(|()| std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display())));
    if let Err(e) = std::fs::remove_file(&path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!("cannot remove {}: {e}", path.display());
    }
    bytes
}
