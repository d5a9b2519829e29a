//! The orphan-blob sweep: removes blobs that no document references (left
//! by a crash between storing a blob and committing its row, or by a losing
//! concurrent upload), once they are older than the grace period.

use crate::blobs::BlobInfo;
use crate::domain::Timestamp;
use crate::service::AppState;
use futures_util::TryStreamExt;

/// Keys checked against the database per round trip.
const BATCH: usize = 500;

/// Returns how many orphan blobs were removed.
pub async fn sweep_orphan_blobs(app: &AppState, now: Timestamp) -> anyhow::Result<u64> {
    let grace = app.config.blobs.orphan_grace();
    let cutoff = now.as_micros() - grace.as_micros() as i64;
    let mut listing = std::pin::pin!(app.blobs.list(""));
    let mut batch: Vec<String> = Vec::with_capacity(BATCH);
    let mut removed = 0;
    while let Some(BlobInfo { key, last_modified }) = listing.try_next().await? {
        if last_modified.timestamp_micros() <= cutoff {
            batch.push(key);
        }
        if batch.len() == BATCH {
            removed += remove_unreferenced(app, &mut batch).await?;
        }
    }
    removed += remove_unreferenced(app, &mut batch).await?;
    let cutoff_time =
        std::time::UNIX_EPOCH + std::time::Duration::from_micros(cutoff.max(0) as u64);
    removed += app.blobs.remove_stale_staging(cutoff_time).await?;
    if removed > 0 {
        tracing::info!(removed, "orphan blobs removed");
    }
    Ok(removed)
}

async fn remove_unreferenced(app: &AppState, batch: &mut Vec<String>) -> anyhow::Result<u64> {
    let referenced = app.store.referenced_blob_keys(batch).await?;
    let orphans: Vec<String> = batch
        .drain(..)
        .filter(|key| !referenced.contains(key))
        .collect();
    let removed = orphans.len() as u64;
    // One batched delete per round (DeleteObjects on S3).
    app.blobs.delete_many(orphans).await?;
    Ok(removed)
}
