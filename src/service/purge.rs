//! The hard-delete purge: every document of a `deleting` connector (blobs
//! first, then rows, one transaction per batch), then the automatic tags
//! nothing uses any more, then the connector row. Each step is idempotent, so
//! a purge interrupted anywhere resumes where it stopped and leaves no orphan.

use super::jobs::{JobError, Step};
use super::AppState;
use crate::domain::{ConnectorState, DocumentId};
use uuid::Uuid;

/// Documents per batch (one database transaction each). The commit's fsync
/// dominates a batch, and larger batches share index pages: measured, 500
/// rows took ~20 ms to delete and ~45 ms to commit.
const BATCH: u32 = 2000;
/// Batches per job run: bounds a run's duration well within its lease and
/// lets other jobs take turns.
const BATCHES_PER_RUN: usize = 5;

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
    let docs = app
        .store
        .connector_documents(id, BATCH * BATCHES_PER_RUN as u32)
        .await
        .map_err(JobError::transient)?;
    if docs.is_empty() {
        app.store
            .finish_purge(id)
            .await
            .map_err(JobError::transient)?;
        tracing::info!(connector_id = %id, "connector purged");
        return Ok(Step::Done);
    }
    // A batch's blobs go before its rows (a crash in between leaves rows
    // whose blobs are gone, which the next run deletes, never an orphan
    // blob); the next batch's blobs are deleted while this batch's rows are.
    let mut purged = 0u64;
    let mut rows_due: Option<Vec<DocumentId>> = None;
    for batch in docs.chunks(BATCH as usize) {
        let keys: Vec<String> = batch.iter().filter_map(|(_, key)| key.clone()).collect();
        let rows = rows_due.take();
        let (blobs, deleted) = tokio::join!(delete_blobs(app, keys), delete_rows(app, rows));
        blobs?;
        purged += deleted?;
        rows_due = Some(batch.iter().map(|(doc, _)| doc.clone()).collect());
        // Let requests and deliveries in between batches.
        tokio::task::yield_now().await;
    }
    purged += delete_rows(app, rows_due).await?;
    tracing::info!(connector_id = %id, purged, "purge progress; continuing");
    Ok(Step::Again)
}

async fn delete_blobs(app: &AppState, keys: Vec<String>) -> Result<(), JobError> {
    app.blobs
        .delete_many(keys)
        .await
        .map_err(JobError::transient)
}

async fn delete_rows(app: &AppState, ids: Option<Vec<DocumentId>>) -> Result<u64, JobError> {
    let Some(ids) = ids else { return Ok(0) };
    let deleted = app
        .store
        .delete_documents(&ids)
        .await
        .map_err(JobError::transient)?;
    metrics::counter!(crate::metrics::DOCUMENTS_PURGED).increment(deleted);
    Ok(deleted)
}
