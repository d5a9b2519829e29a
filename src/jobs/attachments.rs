//! Attachments of a stored email become documents of their own, in the
//! message's `rp_collection_id`. Idempotent: each attachment has a dedupe
//! key, so a run interrupted midway resumes without duplicates.

use super::process::sniff_content_type;
use super::JobError;
use crate::domain::{Document, DocumentId, DocumentStatus, Timestamp};
use crate::service::email::attachment_metadata;
use crate::service::AppState;
use crate::store::{Ingest, Ingested};
use bytes::Bytes;
use futures_util::TryStreamExt;
use mail_parser::{MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

pub async fn extract_attachments(app: &AppState, id: &DocumentId) -> Result<(), JobError> {
    let Some(eml) = app.store.document(id).await.map_err(JobError::transient)? else {
        return Ok(()); // deleted meanwhile
    };
    let Some(key) = eml.blob_key.as_deref() else {
        return Ok(());
    };
    let raw: Vec<Bytes> = match app.blobs.get(key).await {
        Ok((_, stream)) => stream.try_collect().await.map_err(JobError::transient)?,
        Err(crate::blobs::BlobError::NotFound) => return Ok(()), // purged meanwhile
        Err(e) => return Err(JobError::transient(e)),
    };
    let raw = raw.concat();
    let Some(message) = MessageParser::default().parse(&raw) else {
        return Ok(()); // not MIME at all: the .eml is the whole document
    };
    let tags: Vec<String> = eml.tags.iter().map(|t| t.name.clone()).collect();
    for (index, part) in message.attachments().enumerate() {
        let name = part
            .attachment_name()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| n.chars().filter(|c| !c.is_control()).take(255).collect())
            .unwrap_or_else(|| format!("attachment-{}", index + 1));
        let contents = part.contents();
        let doc_id = DocumentId::new();
        let blob_key = crate::blobs::document_key(doc_id.as_str());
        let body =
            futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::copy_from_slice(contents))]);
        app.blobs
            .put_stream(&blob_key, body, u64::MAX)
            .await
            .map_err(JobError::transient)?;
        let now = Timestamp::now();
        let doc = Document {
            id: doc_id,
            file_name: name.clone(),
            raw_size: Some(contents.len() as i64),
            content_type: Some(sniff_content_type(&contents[..contents.len().min(8192)])),
            status: if contents.is_empty() {
                DocumentStatus::Failed
            } else {
                DocumentStatus::Completed
            },
            error_code: contents.is_empty().then(|| "EMPTY_FILE".to_string()),
            created_at: now,
            updated_at: now,
            file_metadata: attachment_metadata(&eml, &name),
            sha256: Some(hex::encode(Sha256::digest(contents))),
            blob_key: Some(blob_key.clone()),
            tags: vec![],
            ..eml.clone()
        };
        let dedupe = format!("{}/attachment/{index}", eml.id);
        let ingest = Ingest {
            doc: &doc,
            auto_tags: &tags,
            dedupe_key: &dedupe,
            follow_up: None,
            also_archived: true,
            senders: None,
        };
        let kept = app
            .store
            .insert_ingested(&ingest)
            .await
            .map_err(JobError::transient)?;
        if !matches!(kept, Ingested::Stored) {
            app.blobs
                .delete(&blob_key)
                .await
                .map_err(JobError::transient)?;
        }
    }
    Ok(())
}
