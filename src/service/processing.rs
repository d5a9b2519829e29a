//! Processing a stored document: size, SHA-256 and content type from its
//! bytes, then `completed` (or `failed` with an `error_code`). Idempotent:
//! a document already processed, or gone, is left alone.

use super::jobs::JobError;
use super::AppState;
use crate::blobs::BlobError;
use crate::domain::document::{error_code, status_for_size};
use crate::domain::{content_type, DocumentId, DocumentStatus, Timestamp};
use crate::store::Processed;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

pub async fn process_document(app: &AppState, id: &DocumentId) -> Result<(), JobError> {
    let Some(doc) = app.store.document(id).await.map_err(JobError::transient)? else {
        return Ok(()); // deleted before it was processed
    };
    if doc.status != DocumentStatus::Processing {
        return Ok(());
    }
    let Some(key) = doc.blob_key.as_deref() else {
        return Err(JobError::Permanent("document has no blob".into()));
    };
    let processed = match app.blobs.get(key).await {
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
                content_type: head.content_type(&doc.file_name),
                error_code: error_code.map(str::to_string),
                text: String::new(),
            }
        }
        Err(BlobError::NotFound) => Processed {
            status: DocumentStatus::Failed,
            raw_size: 0,
            sha256: String::new(),
            content_type: content_type::UNKNOWN.into(),
            error_code: Some(error_code::BLOB_MISSING.into()),
            text: String::new(),
        },
        Err(e) => return Err(JobError::transient(e)),
    };
    app.store
        .record_processing(id, &processed, Timestamp::now())
        .await
        .map_err(JobError::transient)?;
    tracing::info!(document_id = %id, status = processed.status.as_str(), size = processed.raw_size, "document processed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::documents::{create_upload, NewUpload};
    use crate::service::jobs::JobSpec;
    use crate::service::testing::TestApp;

    /// An upload whose bytes (or none, when `bytes` is `None`) are attached.
    async fn uploaded(t: &TestApp, bytes: Option<&[u8]>) -> DocumentId {
        let new = NewUpload {
            file_name: "f".into(),
            published_at: None,
            tags: vec![],
            share_with_org: false,
        };
        let doc = create_upload(&t.app, &t.owner, new).await.unwrap();
        let key = match bytes {
            Some(b) => t.put(b).await.0,
            None => crate::blobs::document_key(doc.id.as_str()),
        };
        let job = JobSpec::ProcessDocument {
            document_id: doc.id.clone(),
        }
        .new_job(&t.app.config.jobs);
        assert!(t
            .app
            .store
            .attach_upload(&doc.id, &key, Timestamp::now(), &job)
            .await
            .unwrap());
        doc.id
    }

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
            let id = uploaded(&t, bytes).await;
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
}
