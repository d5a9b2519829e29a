//! Processing a stored document: size, SHA-256 and content type from its
//! bytes, then its text extracted (bounded: see `extract::isolate`), its
//! entities and counts, all recorded with `completed` in one transaction
//! (or `failed` with an `error_code`). Idempotent: a document already
//! processed, or gone, is left alone. Reprocessing runs the same steps on a
//! `completed` document, which stays readable until its new content lands.

use super::jobs::JobError;
use super::AppState;
use crate::blobs::BlobError;
use crate::domain::analytics::{self, Metrics};
use crate::domain::document::{error_code, status_for_size};
use crate::domain::{content_type, Document, DocumentId, DocumentStatus, Timestamp};
use crate::extract::isolate::{self, Run, Status};
use crate::extract::{for_content_type, BlockKind, Extracted};
use crate::store::{Processed, ProcessedContent};
use futures_util::StreamExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A document whose bytes were just stored (`processing`).
pub async fn process_document(app: &AppState, id: &DocumentId) -> Result<(), JobError> {
    process(app, id, DocumentStatus::Processing).await
}

/// A `completed` document again, after an extractor upgrade or for one
/// stored before processing existed.
pub async fn reprocess_document(app: &AppState, id: &DocumentId) -> Result<(), JobError> {
    process(app, id, DocumentStatus::Completed).await
}

async fn process(app: &AppState, id: &DocumentId, from: DocumentStatus) -> Result<(), JobError> {
    let Some(doc) = app.store.document(id).await.map_err(JobError::transient)? else {
        return Ok(()); // deleted before it was processed
    };
    if doc.status != from {
        return Ok(());
    }
    let Some(key) = doc.blob_key.as_deref() else {
        return Err(JobError::Permanent("document has no blob".into()));
    };
    let mut processed = match app.blobs.get(key).await {
        Ok((_, mut stream)) => {
            let mut hasher = Sha256::new();
            let mut size: u64 = 0;
            let mut head = content_type::Head::default();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(JobError::transient)?;
                head.push(&chunk);
                size += chunk.len() as u64;
                hasher.update(&chunk);
            }
            let (status, error_code) = status_for_size(size);
            Processed {
                status,
                raw_size: size as i64,
                sha256: hex::encode(hasher.finalize()),
                // What ingestion found (e-mail is `message/rfc822` by how
                // it came), else what the bytes show.
                content_type: doc
                    .content_type
                    .clone()
                    .unwrap_or_else(|| head.content_type(&doc.file_name)),
                error_code: error_code.map(str::to_string),
                text: String::new(),
                file_metadata: None,
                content: None,
            }
        }
        Err(BlobError::NotFound) => Processed {
            status: DocumentStatus::Failed,
            raw_size: 0,
            sha256: String::new(),
            content_type: content_type::UNKNOWN.into(),
            error_code: Some(error_code::BLOB_MISSING.into()),
            text: String::new(),
            file_metadata: None,
            content: None,
        },
        Err(e) => return Err(JobError::transient(e)),
    };
    if processed.status == DocumentStatus::Completed {
        let outcome = extract_into(app, &doc, key, &mut processed).await?;
        // A reprocessing run that could not extract (a timeout on a busy
        // machine, a regression) does not wipe content that was read.
        if from == DocumentStatus::Completed
            && matches!(outcome, Status::Failed | Status::Timeout)
            && app
                .store
                .processed_content(id)
                .await
                .map_err(JobError::transient)?
                .is_some()
        {
            tracing::warn!(document_id = %id, status = ?outcome, "reprocessing did not extract; the earlier content stays");
            return Ok(());
        }
    }
    let (status, size) = (processed.status, processed.raw_size);
    app.store
        .record_processing(id, processed, Timestamp::now())
        .await
        .map_err(JobError::transient)?;
    tracing::info!(document_id = %id, status = status.as_str(), size, "document processed");
    Ok(())
}

/// Extracts the document's text within the configured bounds and fills in
/// what is recorded of it; a file that cannot be extracted still completes.
/// Returns how the extraction went.
async fn extract_into(
    app: &AppState,
    doc: &Document,
    key: &str,
    processed: &mut Processed,
) -> Result<Status, JobError> {
    let started_at = Timestamp::now();
    let run = if for_content_type(&processed.content_type).is_none() {
        Run {
            status: Status::Unsupported,
            error: None,
            extracted: None,
        }
    } else {
        let (_, stream) = app.blobs.get(key).await.map_err(JobError::transient)?;
        let bounds = app.config.processing.bounds();
        isolate::extract(&processed.content_type, Box::pin(stream), &bounds).await
    };
    let finished_at = Timestamp::now();
    if matches!(run.status, Status::Failed | Status::Timeout) {
        tracing::warn!(document_id = %doc.id, status = ?run.status, error = run.error.as_deref().unwrap_or(""), "extraction did not succeed; the document completes without text");
    }
    let Run {
        status,
        error,
        extracted,
    } = run;
    let extracted = extracted.unwrap_or_default();
    // The text, its counts and its entities take milliseconds for a long
    // document: not on an async worker, where sessions and requests wait.
    let (extracted, text, characters, analytics) = tokio::task::spawn_blocking(move || {
        let text = extracted.text();
        let analytics = analytics_of(&extracted, &text);
        let characters = text.chars().count();
        (extracted, text, characters, analytics)
    })
    .await
    .map_err(JobError::transient)?;
    let extractor = for_content_type(&processed.content_type);
    let mut metadata = doc.file_metadata.clone();
    metadata.insert(
        "extraction".into(),
        json!({ "status": status, "error": error }),
    );
    processed.content = Some(ProcessedContent {
        content: json!({
            "title": extracted.title,
            "language": extracted.language,
            "body": extracted.body,
        }),
        profiling: json!({
            "extractor": extractor.map_or("none", |e| e.name()),
            "version": extractor.map_or("0", |e| e.version()),
            "started_at": started_at.to_rfc3339(),
            "finished_at": finished_at.to_rfc3339(),
            "pages": extracted.pages,
            "characters": characters,
        }),
        analytics,
        processed_at: finished_at,
    });
    processed.file_metadata = Some(metadata);
    processed.text = text;
    Ok(status)
}

/// What `inlet admin reprocess` selects.
#[derive(Debug, Clone, Default)]
pub struct Reprocess {
    pub connector: Option<uuid::Uuid>,
    /// With `--force`: also documents processed before this time (the
    /// start of the first, interrupted run when resuming).
    pub processed_before: Option<Timestamp>,
}

/// Queues reprocessing for every completed document `what` selects, a page
/// at a time; `progress` hears the running count. The documents stay
/// `completed` and readable meanwhile. Safe to interrupt and run again: a
/// document whose job is still pending is not queued twice, and one
/// processed since is no longer selected.
pub async fn reprocess(
    app: &AppState,
    what: &Reprocess,
    mut progress: impl FnMut(u64),
) -> crate::error::Result<u64> {
    const PAGE: u32 = 200;
    let mut query = crate::store::ReprocessQuery {
        connector: what.connector,
        processed_before: what.processed_before,
        after: None,
        limit: PAGE,
    };
    let mut queued = 0;
    loop {
        let ids = app.store.reprocess_candidates(&query).await?;
        for id in &ids {
            let job = super::jobs::JobSpec::ReprocessDocument {
                document_id: id.clone(),
            }
            .new_job(&app.config.jobs);
            if app
                .store
                .queue_reprocessing(id, &job, Timestamp::now())
                .await?
            {
                queued += 1;
            }
        }
        progress(queued);
        app.wake_jobs.notify_one();
        match ids.last() {
            Some(last) if ids.len() == PAGE as usize => query.after = Some(last.clone()),
            _ => return Ok(queued),
        }
    }
}

/// Counts and entities of the extracted text.
fn analytics_of(extracted: &Extracted, text: &str) -> Value {
    let metrics = Metrics {
        words: analytics::word_count(text),
        paragraphs: extracted
            .body
            .iter()
            .filter(|b| matches!(b.kind, BlockKind::Paragraph | BlockKind::ListItem))
            .count() as u64,
        pages: extracted.pages,
    };
    json!({ "metrics": metrics, "entities": analytics::entities(text) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::TestApp;

    #[tokio::test]
    async fn processing_applies_the_empty_file_and_content_type_rules() {
        let t = TestApp::new().await;
        // Bytes (none: lost before processing), then what processing records.
        type Case = (
            Option<&'static [u8]>,
            DocumentStatus,
            &'static str,
            Option<&'static str>,
        );
        let cases: [Case; 3] = [
            (
                Some(b"%PDF-1.7 x"),
                DocumentStatus::Completed,
                "application/pdf",
                None,
            ),
            (
                Some(b""),
                DocumentStatus::Failed,
                "text/plain",
                Some("EMPTY_FILE"),
            ),
            (
                None,
                DocumentStatus::Failed,
                "application/octet-stream",
                Some("BLOB_MISSING"),
            ),
        ];
        for (bytes, status, content_type, error_code) in cases {
            let id = t.uploaded(bytes).await;
            process_document(&t.app, &id).await.unwrap();
            let doc = t.app.store.document(&id).await.unwrap().unwrap();
            assert_eq!(
                (
                    doc.status,
                    doc.content_type.as_deref(),
                    doc.error_code.as_deref()
                ),
                (status, Some(content_type), error_code),
                "{bytes:?}"
            );
            // Processed once: a second run leaves it alone.
            process_document(&t.app, &id).await.unwrap();
        }
    }

    #[tokio::test]
    async fn reprocessing_replaces_content_but_a_failed_run_keeps_what_was_read() {
        let t = TestApp::new().await;
        let processed_at = |id: DocumentId| {
            let app = t.app.clone();
            async move {
                let c = app.store.processed_content(&id).await.unwrap().unwrap();
                c.processed_at
            }
        };
        // Text reads again: new content.
        let text = t.uploaded(Some(b"Copper supply tightens.")).await;
        process_document(&t.app, &text).await.unwrap();
        let first = processed_at(text.clone()).await;
        reprocess_document(&t.app, &text).await.unwrap();
        assert!(processed_at(text.clone()).await > first, "replaced");
        // A PDF that cannot be read: the first run records that; a second
        // failed run changes nothing.
        let pdf = t.uploaded(Some(b"%PDF-1.7 x")).await;
        process_document(&t.app, &pdf).await.unwrap();
        let first = processed_at(pdf.clone()).await;
        let doc = t.app.store.document(&pdf).await.unwrap().unwrap();
        assert_eq!(doc.file_metadata["extraction"]["status"], "failed");
        reprocess_document(&t.app, &pdf).await.unwrap();
        assert_eq!(processed_at(pdf.clone()).await, first, "kept");
        let again = t.app.store.document(&pdf).await.unwrap().unwrap();
        assert_eq!(again.status, DocumentStatus::Completed);
        assert_eq!(again.updated_at, doc.updated_at);
    }
}
