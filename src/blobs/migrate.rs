//! `inlet admin migrate-blobs`: every blob of the local directory copied
//! into the configured S3 backend under the same key, each copy read back
//! and checked against the local file's SHA-256. A blob already in the
//! bucket with the same digest is left as it is, so a run that was killed
//! resumes where it stopped and a second run copies nothing.

use super::{BlobError, BlobInfo, BlobStore};
use futures_util::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// Blobs copied at once.
const CONCURRENCY: usize = 4;

/// How often progress is written to stderr, at most.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// Blobs found in the local directory.
    pub total: u64,
    /// Copied (and verified) by this run.
    pub copied: u64,
    /// Already in the bucket with the same SHA-256.
    pub present: u64,
    pub bytes_copied: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{key}: {source}")]
    Blob { key: String, source: BlobError },
    #[error("{key}: the copy in the bucket does not match the local file (SHA-256 {expected} vs {found})")]
    Mismatch {
        key: String,
        expected: String,
        found: String,
    },
}

/// Copies every blob of `from` into `to`; `progress` receives a line now
/// and then (and one at the end).
pub async fn migrate(
    from: &BlobStore,
    to: &BlobStore,
    mut progress: impl FnMut(&str),
) -> Result<Migrated, MigrateError> {
    let listing_failed = |source| MigrateError::Blob {
        key: "(listing)".into(),
        source,
    };
    let keys: Vec<BlobInfo> = from.list("").try_collect().await.map_err(listing_failed)?;
    let keys: Vec<String> = keys
        .into_iter()
        .map(|b| b.key)
        .filter(|k| !k.starts_with(".probe/"))
        .collect();
    let mut done = Migrated {
        total: keys.len() as u64,
        ..Migrated::default()
    };
    let mut last = Instant::now();
    let mut results = futures_util::stream::iter(keys)
        .map(|key| async move { copy_one(from, to, key).await })
        .buffer_unordered(CONCURRENCY);
    while let Some(result) = results.next().await {
        match result? {
            Copy::Present => done.present += 1,
            Copy::Copied(bytes) => {
                done.copied += 1;
                done.bytes_copied += bytes;
            }
        }
        if last.elapsed() >= PROGRESS_EVERY {
            progress(&line(&done));
            last = Instant::now();
        }
    }
    progress(&line(&done));
    Ok(done)
}

fn line(m: &Migrated) -> String {
    format!(
        "migrate-blobs: {}/{} blobs ({} copied, {} already in the bucket, {:.1} MiB copied)",
        m.copied + m.present,
        m.total,
        m.copied,
        m.present,
        m.bytes_copied as f64 / (1024.0 * 1024.0)
    )
}

enum Copy {
    Present,
    Copied(u64),
}

async fn copy_one(from: &BlobStore, to: &BlobStore, key: String) -> Result<Copy, MigrateError> {
    let failed = |source| MigrateError::Blob {
        key: key.clone(),
        source,
    };
    let expected = digest(from, &key).await.map_err(failed)?;
    match digest(to, &key).await {
        Ok(found) if found == expected => return Ok(Copy::Present),
        Ok(_) | Err(BlobError::NotFound) => {}
        Err(e) => return Err(failed(e)),
    }
    let (_, body) = from.get(&key).await.map_err(failed)?;
    let size = to
        .put_stream(&key, Box::pin(body), u64::MAX)
        .await
        .map_err(failed)?;
    let found = digest(to, &key).await.map_err(failed)?;
    if found != expected {
        return Err(MigrateError::Mismatch {
            key,
            expected,
            found,
        });
    }
    Ok(Copy::Copied(size))
}

/// The hex SHA-256 of a stored blob, streamed.
async fn digest(store: &BlobStore, key: &str) -> Result<String, BlobError> {
    let (_, mut body) = store.get(key).await?;
    let mut hasher = Sha256::new();
    while let Some(chunk) = body.try_next().await? {
        hasher.update(&chunk);
    }
    Ok(hex::encode(hasher.finalize()))
}
