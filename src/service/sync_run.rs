//! Running a sync job: log in to the portal with the connector's
//! credentials (decrypted only in memory), walk its tree, and store every
//! new file as a document, each committed on its own so that a crash or a
//! cancel loses nothing and duplicates nothing.

use super::ingest::{ingest, Admission, Content, Ingestion, NewDocument, Source};
use super::jobs::{JobError, Step};
use super::AppState;
use crate::domain::document::{auto_tag, remote_file_name};
use crate::domain::event::clip;
use crate::domain::sync_job::SyncCounts;
use crate::domain::{
    content_type, ConnectorConfig, DocumentId, Event, EventReason, EventType, RequestOrigin,
    SyncJob, SyncStatus, Timestamp,
};
use crate::portals::{self, PortalSession, RemoteFile, WalkLimits};
use bytes::{Bytes, BytesMut};
use serde_json::{json, Map};
use sha2::{Digest, Sha256};
use std::sync::Mutex;
use tokio::io::AsyncReadExt;
use uuid::Uuid;

const CHUNK: usize = 64 * 1024;
/// The error of a read from the portal that took longer than its timeout.
const READ_TIMED_OUT: &str = "portal read timed out";

/// How a sync ended, when it did not need another attempt.
struct Ended {
    status: SyncStatus,
    error: Option<String>,
}

/// Attempts per file before it is skipped (the first and two retries).
const FILE_ATTEMPTS: u32 = 3;

pub async fn run_sync(app: &AppState, id: Uuid) -> Result<Step, JobError> {
    let store = &app.store;
    let now = Timestamp::now();
    let Some(job) = store
        .start_sync_job(id, now)
        .await
        .map_err(JobError::transient)?
    else {
        return Ok(Step::Done);
    };
    let mut counts = SyncCounts {
        indexed: job.indexed_document_count,
        skipped: job.skipped_document_count,
        errors: job.errors.clone(),
    };
    let ended = match job.status {
        SyncStatus::InProgress => {
            if job.started_at != Some(now) {
                // Its worker died (its lease expired) or gave it up: this
                // run resumes it; what was stored stays, nothing is stored twice.
                metrics::counter!(crate::metrics::SYNCS_TAKEN_OVER).increment(1);
                tracing::warn!(sync_job_id = %id, indexed = counts.indexed, "taking over a sync whose worker was lost");
            }
            sync(app, &job, &mut counts).await?
        }
        SyncStatus::Canceling => Ended {
            status: SyncStatus::Canceled,
            error: None,
        },
        _ => return Ok(Step::Done), // finished already
    };
    finish(app, id, ended, &counts).await?;
    Ok(Step::Done)
}

async fn finish(
    app: &AppState,
    id: Uuid,
    ended: Ended,
    counts: &SyncCounts,
) -> Result<(), JobError> {
    app.store
        .finish_sync_job(
            id,
            ended.status,
            ended.error.as_deref(),
            counts,
            Timestamp::now(),
        )
        .await
        .map_err(JobError::transient)?;
    tracing::info!(sync_job_id = %id, status = ended.status.as_str(), indexed = counts.indexed, skipped = counts.skipped, error = ended.error.as_deref().unwrap_or(""), "sync finished");
    metrics::counter!(crate::metrics::SYNCS, "outcome" => ended.status.as_str()).increment(1);
    Ok(())
}

/// The durable job of a sync failed for good (its workers kept dying or
/// failing): the sync ends `error` rather than stay in progress forever.
pub async fn give_up(app: &AppState, id: Uuid, why: &str) -> Result<(), JobError> {
    let Some(job) = app.store.sync_job(id).await.map_err(JobError::transient)? else {
        return Ok(());
    };
    if job.status.is_finished() {
        return Ok(());
    }
    let counts = SyncCounts {
        indexed: job.indexed_document_count,
        skipped: job.skipped_document_count,
        errors: job.errors,
    };
    finish(app, id, failed(format!("worker lost: {why}")), &counts).await
}

fn failed(e: impl std::fmt::Display) -> Ended {
    Ended {
        status: SyncStatus::Error,
        error: Some(e.to_string()),
    }
}

async fn sync(app: &AppState, job: &SyncJob, counts: &mut SyncCounts) -> Result<Ended, JobError> {
    let id = job.id;
    let Some(connector) = app
        .store
        .connector(job.connector_id)
        .await
        .map_err(JobError::transient)?
    else {
        return Ok(Ended {
            status: SyncStatus::Canceled,
            error: None,
        });
    };
    let ConnectorConfig::InvestmentResearch {
        user_id,
        portal,
        password,
    } = &connector.config
    else {
        return Ok(failed("not an investment_research connector"));
    };
    let Some(portal) = app.config.portals.iter().find(|p| &p.name == portal) else {
        return Ok(failed(format!(
            "portal {portal:?} is no longer configured on this server"
        )));
    };
    let started = job.started_at.unwrap_or_else(Timestamp::now);
    let deadline = started.plus(portal.max_sync_duration());
    let overran = || {
        failed(format!(
            "the sync ran longer than max_sync_duration ({})",
            portal.max_sync_duration
        ))
    };
    if Timestamp::now() > deadline {
        return Ok(overran());
    }
    let Some(password) = app.secret.open(&password.0, connector.id.as_bytes()) else {
        return Ok(failed(
            "the stored credentials cannot be decrypted (was the server key changed?)",
        ));
    };
    let Ok(password) = String::from_utf8(password) else {
        return Ok(failed("the stored credentials are not valid text"));
    };
    let cutoff = job
        .date_limit
        .as_deref()
        .and_then(Timestamp::parse)
        .map_or(i64::MIN, Timestamp::as_secs);
    let mut session = match portals::connect(portal, user_id, &password).await {
        Ok(s) => s,
        Err(e) => return Ok(failed(e)),
    };
    drop(password);
    let files = match session.list(WalkLimits::default()).await {
        Ok(files) => files,
        Err(e) => {
            session.close().await;
            return Ok(failed(e));
        }
    };
    let tags = vec![
        auto_tag::broker(&portal.broker),
        auto_tag::label(connector.label.as_str()),
    ];
    let mut outcome = Ended {
        status: SyncStatus::Completed,
        error: None,
    };
    let place = Place {
        connector: &connector,
        sync_job: id,
        broker: &portal.broker,
        tags: &tags,
        timeout: portal.transfer_timeout(),
    };
    'files: for (n, file) in files.iter().filter(|f| f.modified >= cutoff).enumerate() {
        match app.store.sync_job(id).await.map_err(JobError::transient)? {
            Some(j) if j.status == SyncStatus::InProgress => {}
            _ => {
                outcome = Ended {
                    status: SyncStatus::Canceled,
                    error: None,
                };
                break;
            }
        }
        if Timestamp::now() > deadline {
            outcome = overran();
            break;
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match fetch(app, &place, session.as_mut(), file).await {
                Ok(Fetched::Stored) => counts.indexed += 1,
                Ok(Fetched::Unchanged) => counts.skipped += 1,
                Ok(Fetched::TooLarge { limit }) => {
                    counts.skipped += 1;
                    let mut e = file_event(&place, EventType::SyncFileSkipped, file);
                    e.reason = Some(EventReason::TooLarge);
                    e.message = Some(format!("larger than the upload limit of {limit} bytes"));
                    super::events::record(app, &e).await;
                }
                Err(FetchError::Portal(e)) if e.is_fatal() => {
                    outcome = failed(e);
                    break 'files;
                }
                Err(FetchError::Portal(e)) if attempt < FILE_ATTEMPTS => {
                    tracing::info!(sync_job_id = %id, path = %file.path, attempt, error = %e, "file failed; retrying");
                    continue;
                }
                Err(FetchError::Portal(e)) => {
                    // One bad file does not fail the sync, unless the
                    // portal itself stopped answering.
                    let ping = tokio::time::timeout(place.timeout, session.ping()).await;
                    match ping {
                        Ok(Ok(())) => {}
                        Ok(Err(lost)) => {
                            outcome = failed(format!("the portal stopped answering ({lost})"));
                            break 'files;
                        }
                        Err(_) => {
                            outcome = failed(portals::PortalError::Timeout("checking the session"));
                            break 'files;
                        }
                    }
                    let message = e.to_string();
                    tracing::warn!(sync_job_id = %id, path = %file.path, error = %message, "file skipped after {FILE_ATTEMPTS} attempts");
                    metrics::counter!(crate::metrics::SYNC_FILES_SKIPPED).increment(1);
                    let mut event = file_event(&place, EventType::SyncFileFailed, file);
                    event.reason = Some(EventReason::FileError);
                    event.message = Some(clip(&message));
                    super::events::record(app, &event).await;
                    counts.give_up(&file.path, message);
                }
                Err(FetchError::Local(e)) => {
                    session.close().await;
                    let _ = app.store.sync_progress(id, counts).await;
                    return Err(e);
                }
            }
            break;
        }
        if n % 10 == 9 {
            app.store
                .sync_progress(id, counts)
                .await
                .map_err(JobError::transient)?;
        }
    }
    session.close().await;
    Ok(outcome)
}

/// What every file of one sync shares.
struct Place<'a> {
    connector: &'a crate::domain::Connector,
    sync_job: Uuid,
    broker: &'a str,
    tags: &'a [String],
    /// For each read from the portal.
    timeout: std::time::Duration,
}

fn file_event(place: &Place<'_>, kind: EventType, file: &RemoteFile) -> Event {
    let mut e = Event::new(place.connector.id, kind, Timestamp::now());
    e.sync_job_id = Some(place.sync_job);
    e.remote_path = Some(clip(&file.path));
    e
}

/// What became of one remote file.
enum Fetched {
    Stored,
    /// Already ingested (same path, size and time, or the same bytes).
    Unchanged,
    TooLarge {
        limit: u64,
    },
}

enum FetchError {
    /// The portal failed: the sync ends in `error`.
    Portal(portals::PortalError),
    /// Our side failed: the job is retried and resumes.
    Local(JobError),
}

/// Stores one remote file unless it is already there.
async fn fetch(
    app: &AppState,
    place: &Place<'_>,
    session: &mut dyn PortalSession,
    file: &RemoteFile,
) -> Result<Fetched, FetchError> {
    let (connector, broker, tags, timeout) =
        (place.connector, place.broker, place.tags, place.timeout);
    let local = |e: &dyn std::fmt::Display| FetchError::Local(JobError::transient(e));
    let dedupe_key = format!("sftp:{}:{}:{}", file.path, file.size, file.modified);
    if app
        .store
        .ingested(connector.id, Some(&dedupe_key), None)
        .await
        .map_err(|e| local(&e))?
    {
        return Ok(Fetched::Unchanged);
    }
    let mut reader = tokio::time::timeout(timeout, session.open(&file.path))
        .await
        .map_err(|_| FetchError::Portal(portals::PortalError::Timeout("opening a file")))?
        .map_err(FetchError::Portal)?;
    let hasher = Mutex::new(Sha256::new());
    let head = Mutex::new(content_type::Head::default());
    let stream = futures_util::stream::unfold(&mut reader, |reader| async {
        let mut buf = BytesMut::zeroed(CHUNK);
        match tokio::time::timeout(timeout, reader.read(&mut buf)).await {
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    READ_TIMED_OUT,
                )),
                reader,
            )),
            Ok(Err(e)) => Some((Err(e), reader)),
            Ok(Ok(0)) => None,
            Ok(Ok(n)) => {
                buf.truncate(n);
                let bytes: Bytes = buf.freeze();
                hasher
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .update(&bytes);
                head.lock().unwrap_or_else(|e| e.into_inner()).push(&bytes);
                Some((Ok(bytes), reader))
            }
        }
    });
    let id = DocumentId::new();
    let key = crate::blobs::document_key(id.as_str());
    let limit = app.config.documents.max_upload_bytes;
    let name = remote_file_name(&file.path);
    let put = app
        .blobs
        .put_named(&key, Box::pin(stream), limit, Some(&name));
    let size = match put.await {
        Ok(size) => size,
        Err(crate::blobs::BlobError::Source(e)) if e.contains(READ_TIMED_OUT) => {
            return Err(FetchError::Portal(portals::PortalError::Timeout(
                "reading a file",
            )))
        }
        Err(crate::blobs::BlobError::Source(e)) => {
            return Err(FetchError::Portal(portals::PortalError::Protocol(format!(
                "{}: {e}",
                file.path
            ))))
        }
        Err(crate::blobs::BlobError::TooLarge { limit }) => {
            tracing::warn!(path = %file.path, limit, "remote file larger than the upload limit; skipped");
            return Ok(Fetched::TooLarge { limit });
        }
        Err(e) => return Err(local(&e)),
    };
    let sha256 = hex::encode(
        hasher
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .finalize(),
    );
    if app
        .store
        .ingested(connector.id, None, Some(&sha256))
        .await
        .map_err(|e| local(&e))?
    {
        forget(app, &key).await?;
        return Ok(Fetched::Unchanged); // the same bytes under another name
    }
    let head = head.into_inner().unwrap_or_else(|e| e.into_inner());
    let file_name = remote_file_name(&file.path);
    let content_type = head.content_type(&file_name);
    let mut metadata = Map::new();
    metadata.insert("broker".into(), json!(broker));
    metadata.insert("remote_path".into(), json!(file.path));
    let new = NewDocument {
        id,
        user_id: connector.user_id.clone(),
        org_id: connector.org_id.clone(),
        share_with_org: connector.share_with_org,
        connector_id: Some(connector.id),
        rp_collection_id: None,
        file_name,
        origin: RequestOrigin::InvestmentResearch,
        published_at: Some(Timestamp::from_micros(
            file.modified.saturating_mul(1_000_000),
        )),
        metadata,
        content: Some(Content {
            blob_key: key,
            size,
            sha256,
            content_type,
            drop_if_refused: true,
        }),
    };
    let mut stored = file_event(place, EventType::SyncFileStored, file);
    stored.document_ids.push(new.id.as_str().to_string());
    let admission = Admission {
        auto_tags: tags,
        dedupe_key: &dedupe_key,
        follow_up: None,
        also_archived: false,
        senders: None,
        event: Some(&stored),
    };
    match ingest(app, new, Source::Connector(admission))
        .await
        .map_err(|e| local(&e))?
    {
        Ingestion::Stored(_) => {
            super::events::counted(EventType::SyncFileStored, false);
            Ok(Fetched::Stored)
        }
        _ => Ok(Fetched::Unchanged),
    }
}

/// Deletes a blob nobody will reference.
async fn forget(app: &AppState, key: &str) -> Result<(), FetchError> {
    app.blobs
        .delete(key)
        .await
        .map_err(|e| FetchError::Local(JobError::transient(e)))
}
