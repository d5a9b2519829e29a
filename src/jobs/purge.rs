//! The hard-delete purge: every document of a `deleting` connector (blobs
//! first, then rows, one transaction per batch), then the automatic tags
//! nothing uses any more, then the connector row. Each step is idempotent, so
//! a purge interrupted anywhere resumes where it stopped and leaves no orphan.

use super::{JobError, Step};
use crate::domain::ConnectorState;
use crate::service::AppState;
use uuid::Uuid;

/// Documents per batch (one database transaction each).
const BATCH: u32 = 500;
/// Batches per job run: bounds a run's duration well within its lease and
/// lets other jobs take turns.
const BATCHES_PER_RUN: usize = 20;
/// Blob deletions in flight at once.
const PARALLEL_DELETES: usize = 16;

pub async fn purge_connector(app: &AppState, id: Uuid) -> Result<Step, JobError> {
    let Some(connector) = app.store.connector(id).await.map_err(JobError::transient)? else {
        return Ok(Step::Done); // purged already
    };
    if connector.state != ConnectorState::Deleting {
        return Err(JobError::Permanent(format!(
            "connector {id} is {}, not deleting",
            connector.state.as_str()
        )));
    }
    let mut purged = 0u64;
    for _ in 0..BATCHES_PER_RUN {
        let batch = app
            .store
            .connector_documents(id, BATCH)
            .await
            .map_err(JobError::transient)?;
        if batch.is_empty() {
            app.store
                .finish_purge(id)
                .await
                .map_err(JobError::transient)?;
            tracing::info!(connector_id = %id, purged, "connector purged");
            return Ok(Step::Done);
        }
        let keys: Vec<&str> = batch.iter().filter_map(|(_, key)| key.as_deref()).collect();
        for group in keys.chunks(PARALLEL_DELETES) {
            futures_util::future::try_join_all(group.iter().map(|key| app.blobs.delete(key)))
                .await
                .map_err(JobError::transient)?;
        }
        let ids: Vec<_> = batch.into_iter().map(|(doc, _)| doc).collect();
        let deleted = app
            .store
            .delete_documents(&ids)
            .await
            .map_err(JobError::transient)?;
        metrics::counter!(crate::metrics::DOCUMENTS_PURGED).increment(deleted);
        purged += deleted;
        // Let requests and deliveries in between batches.
        tokio::task::yield_now().await;
    }
    tracing::info!(connector_id = %id, purged, "purge progress; continuing");
    Ok(Step::Again)
}
