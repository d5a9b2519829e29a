//! Running a sync job: log in to the portal with the connector's
//! credentials (decrypted only in memory), walk its tree, and store every
//! new file as a document, each committed on its own so that a crash or a
//! cancel loses nothing and duplicates nothing.

use super::ingest::{ingest, Admission, Content, Ingestion, NewDocument, Source};
use super::jobs::{JobError, Step};
use super::AppState;
use crate::domain::document::{auto_tag, remote_file_name};
use crate::domain::event::clip;
use crate::domain::{
    content_type, ConnectorConfig, DocumentId, Event, EventType, RequestOrigin, SyncStatus,
    Timestamp,
};
use crate::portals::{self, PortalSession, RemoteFile, WalkLimits};
use bytes::{Bytes, BytesMut};
use serde_json::{json, Map};
use sha2::{Digest, Sha256};
use std::sync::Mutex;
use tokio::io::AsyncReadExt;
use uuid::Uuid;

const CHUNK: usize = 64 * 1024;

/// How a sync ended, when it did not need another attempt.
struct Ended {
    status: SyncStatus,
    error: Option<String>,
}

pub async fn run_sync(app: &AppState, id: Uuid) -> Result<Step, JobError> {
    let store = &app.store;
    let Some(job) = store
        .start_sync_job(id, Timestamp::now())
        .await
        .map_err(JobError::transient)?
    else {
        return Ok(Step::Done);
    };
    let (mut indexed, mut skipped) = (job.indexed_document_count, job.skipped_document_count);
    let ended = match job.status {
        SyncStatus::InProgress => {
            sync(
                app,
                id,
                job.connector_id,
                job.date_limit.as_deref(),
                &mut indexed,
                &mut skipped,
            )
            .await?
        }
        SyncStatus::Canceling => Ended {
            status: SyncStatus::Canceled,
            error: None,
        },
        _ => return Ok(Step::Done), // finished already
    };
    store
        .finish_sync_job(
            id,
            ended.status,
            ended.error.as_deref(),
            indexed,
            skipped,
            Timestamp::now(),
        )
        .await
        .map_err(JobError::transient)?;
    tracing::info!(sync_job_id = %id, status = ended.status.as_str(), indexed, skipped, error = ended.error.as_deref().unwrap_or(""), "sync finished");
    metrics::counter!(crate::metrics::SYNCS, "outcome" => ended.status.as_str()).increment(1);
    Ok(Step::Done)
}

fn failed(e: impl std::fmt::Display) -> Ended {
    Ended {
        status: SyncStatus::Error,
        error: Some(e.to_string()),
    }
}

async fn sync(
    app: &AppState,
    id: Uuid,
    connector_id: Uuid,
    date_limit: Option<&str>,
    indexed: &mut i64,
    skipped: &mut i64,
) -> Result<Ended, JobError> {
    let Some(connector) = app
        .store
        .connector(connector_id)
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
    let Some(password) = app.secret.open(&password.0, connector.id.as_bytes()) else {
        return Ok(failed(
            "the stored credentials cannot be decrypted (was the server key changed?)",
        ));
    };
    let Ok(password) = String::from_utf8(password) else {
        return Ok(failed("the stored credentials are not valid text"));
    };
    let cutoff = date_limit
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
    for (n, file) in files.iter().filter(|f| f.modified >= cutoff).enumerate() {
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
        match fetch(
            app,
            id,
            session.as_mut(),
            &connector,
            &portal.broker,
            &tags,
            file,
            portal.transfer_timeout(),
        )
        .await
        {
            Ok(true) => *indexed += 1,
            Ok(false) => *skipped += 1,
            Err(FetchError::Portal(e)) => {
                outcome = failed(e);
                break;
            }
            Err(FetchError::Local(e)) => {
                session.close().await;
                let _ = app.store.sync_progress(id, *indexed, *skipped).await;
                return Err(e);
            }
        }
        if n % 10 == 9 {
            app.store
                .sync_progress(id, *indexed, *skipped)
                .await
                .map_err(JobError::transient)?;
        }
    }
    session.close().await;
    Ok(outcome)
}

enum FetchError {
    /// The portal failed: the sync ends in `error`.
    Portal(portals::PortalError),
    /// Our side failed: the job is retried and resumes.
    Local(JobError),
}

/// Stores one remote file unless it is already there; `Ok(true)` when stored.
#[allow(clippy::too_many_arguments)]
async fn fetch(
    app: &AppState,
    sync_job: Uuid,
    session: &mut dyn PortalSession,
    connector: &crate::domain::Connector,
    broker: &str,
    tags: &[String],
    file: &RemoteFile,
    timeout: std::time::Duration,
) -> Result<bool, FetchError> {
    let local = |e: &dyn std::fmt::Display| FetchError::Local(JobError::transient(e));
    let dedupe_key = format!("sftp:{}:{}:{}", file.path, file.size, file.modified);
    if app
        .store
        .ingested(connector.id, Some(&dedupe_key), None)
        .await
        .map_err(|e| local(&e))?
    {
        return Ok(false);
    }
    let mut reader = session.open(&file.path).await.map_err(FetchError::Portal)?;
    let hasher = Mutex::new(Sha256::new());
    let head = Mutex::new(content_type::Head::default());
    let stream = futures_util::stream::unfold(&mut reader, |reader| async {
        let mut buf = BytesMut::zeroed(CHUNK);
        match tokio::time::timeout(timeout, reader.read(&mut buf)).await {
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "portal read timed out",
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
    let size = match app.blobs.put_stream(&key, Box::pin(stream), limit).await {
        Ok(size) => size,
        Err(crate::blobs::BlobError::Source(e)) => {
            return Err(FetchError::Portal(portals::PortalError::Protocol(format!(
                "{}: {e}",
                file.path
            ))))
        }
        Err(crate::blobs::BlobError::TooLarge { limit }) => {
            tracing::warn!(path = %file.path, limit, "remote file larger than the upload limit; skipped");
            return Ok(false);
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
        return Ok(false); // the same bytes under another name
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
    let mut stored = Event::new(connector.id, EventType::SyncFileStored, Timestamp::now());
    stored.sync_job_id = Some(sync_job);
    stored.remote_path = Some(clip(&file.path));
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
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Deletes a blob nobody will reference.
async fn forget(app: &AppState, key: &str) -> Result<(), FetchError> {
    app.blobs
        .delete(key)
        .await
        .map_err(|e| FetchError::Local(JobError::transient(e)))
}
