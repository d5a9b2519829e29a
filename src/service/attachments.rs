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
            .put_named(&blob_key, body, u64::MAX, Some(&name))
            .await
            .map_err(JobError::transient)?;
        let content_type = content_type::of(contents, &name);
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
                content_type,
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
            event: None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Connector, DocumentStatus};
    use crate::service::connectors::{self, DeleteOptions};
    use crate::service::email::{deliver, Delivery};
    use crate::service::jobs::JobSpec;
    use crate::service::testing::TestApp;

    const MULTIPART: &str = "From: desk@broker.example\r\nSubject: Notes\r\n\
        Message-ID: <2@broker.example>\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
        --b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
        --b\r\nContent-Type: application/octet-stream\r\n\
        Content-Disposition: attachment; filename=\"r.pdf\"\r\n\r\n%PDF-1.7 report\r\n\
        --b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\n\r\n\
        --b--\r\n";

    /// The stored message's document id, from the job its delivery queued.
    async fn delivered(t: &TestApp, connector: &Connector) -> DocumentId {
        let message = t.stored_message(MULTIPART.as_bytes()).await;
        let outcome = deliver(
            &t.app,
            "desk@broker.example",
            std::slice::from_ref(connector),
            message,
        )
        .await
        .unwrap();
        assert!(matches!(outcome, Delivery::Accepted { stored: 1, .. }));
        let jobs = t.app.store.jobs().await.unwrap();
        jobs.iter()
            .find_map(|j| match JobSpec::try_from(j).unwrap() {
                JobSpec::ExtractAttachments { document_id } => Some(document_id),
                _ => None,
            })
            .expect("an attachments job")
    }

    #[tokio::test]
    async fn attachments_of_mail_accepted_before_an_archive_are_extracted_once() {
        let t = TestApp::new().await;
        let c = t.email_connector(&["desk@broker.example"]).await;
        let eml = delivered(&t, &c).await;
        connectors::delete(&t.app, &t.owner, c.id, DeleteOptions::default())
            .await
            .unwrap();

        extract_attachments(&t.app, &eml).await.unwrap();
        extract_attachments(&t.app, &eml).await.unwrap(); // a rerun after a crash
        let connector = t.connector(c.id).await.unwrap();
        assert_eq!(connector.files_count, 3, "the message and two attachments");

        let message = t.app.store.document(&eml).await.unwrap().unwrap();
        let mut parts: Vec<Document> = Vec::new();
        for (id, _) in t.app.store.connector_documents(c.id, 10).await.unwrap() {
            if id != eml {
                parts.push(t.app.store.document(&id).await.unwrap().unwrap());
            }
        }
        let mut seen: Vec<(&str, DocumentStatus, Option<&str>, Option<&str>)> = parts
            .iter()
            .map(|d| {
                assert_eq!(d.rp_collection_id, message.rp_collection_id);
                (
                    d.file_name.as_str(),
                    d.status,
                    d.content_type.as_deref(),
                    d.error_code.as_deref(),
                )
            })
            .collect();
        seen.sort_by_key(|(name, ..)| *name);
        assert_eq!(
            seen,
            [
                (
                    "attachment-2",
                    DocumentStatus::Failed,
                    Some("text/plain"),
                    Some("EMPTY_FILE")
                ),
                (
                    // Completed by its own processing job.
                    "r.pdf",
                    DocumentStatus::Processing,
                    Some("application/pdf"),
                    None
                ),
            ]
        );
    }
}
