//! Attachments of a stored email become documents of their own, in the
//! message's `rp_collection_id`. Idempotent: each attachment has a dedupe
//! key, so a run interrupted midway resumes without duplicates.

use super::ingest::{ingest, Admission, Content, NewDocument, Source};
use super::jobs::JobError;
use super::AppState;
use crate::domain::document::attachment_file_name;
use crate::domain::Document;
use crate::domain::{content_type, DocumentId};
use bytes::Bytes;
use futures_util::TryStreamExt;
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{json, Map, Value};
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
        let name = attachment_file_name(part.attachment_name(), index);
        let contents = part.contents();
        let doc_id = DocumentId::new();
        let blob_key = crate::blobs::document_key(doc_id.as_str());
        let body =
            futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::copy_from_slice(contents))]);
        app.blobs
            .put_stream(&blob_key, body, u64::MAX)
            .await
            .map_err(JobError::transient)?;
        let new = NewDocument {
            id: doc_id,
            user_id: eml.user_id.clone(),
            org_id: eml.org_id.clone(),
            share_with_org: eml.share_with_org,
            connector_id: eml.connector_id,
            rp_collection_id: eml.rp_collection_id.clone(),
            metadata: attachment_metadata(&eml, &name),
            file_name: name,
            origin: eml.request_origin,
            published_at: eml.published_at,
            content: Some(Content {
                blob_key,
                size: contents.len() as u64,
                sha256: hex::encode(Sha256::digest(contents)),
                content_type: content_type::sniff(contents),
                drop_if_refused: true,
            }),
        };
        let dedupe = format!("{}/attachment/{index}", eml.id);
        let admission = Admission {
            auto_tags: &tags,
            dedupe_key: &dedupe,
            follow_up: None,
            also_archived: true,
            senders: None,
        };
        ingest(app, new, Source::Connector(admission))
            .await
            .map_err(JobError::transient)?;
    }
    Ok(())
}

/// Metadata an attachment shares with its message.
fn attachment_metadata(eml: &Document, name: &str) -> Map<String, Value> {
    let mut meta = eml.file_metadata.clone();
    meta.insert("attachment".into(), json!(name));
    meta
}
