//! Processing a stored document: size, SHA-256 and content type from its
//! bytes, then `completed` (or `failed` with an `error_code`). Idempotent:
//! a document already processed, or gone, is left alone.

use super::JobError;
use crate::blobs::BlobError;
use crate::domain::{DocumentId, DocumentStatus, Timestamp};
use crate::service::AppState;
use crate::store::Processed;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

/// Bytes kept from the start of a file to recognise its type.
const SNIFF_LEN: usize = 8192;

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
            let mut head = Vec::with_capacity(SNIFF_LEN);
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(JobError::transient)?;
                if head.len() < SNIFF_LEN {
                    let take = (SNIFF_LEN - head.len()).min(chunk.len());
                    head.extend_from_slice(&chunk[..take]);
                }
                size += chunk.len() as u64;
                hasher.update(&chunk);
            }
            let empty = size == 0;
            Processed {
                status: if empty {
                    DocumentStatus::Failed
                } else {
                    DocumentStatus::Completed
                },
                raw_size: size as i64,
                sha256: hex::encode(hasher.finalize()),
                content_type: sniff_content_type(&head),
                error_code: empty.then(|| "EMPTY_FILE".to_string()),
            }
        }
        Err(BlobError::NotFound) => Processed {
            status: DocumentStatus::Failed,
            raw_size: 0,
            sha256: String::new(),
            content_type: "application/octet-stream".into(),
            error_code: Some("BLOB_MISSING".into()),
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

/// The media type a file's first bytes show; text when they are UTF-8.
pub fn sniff_content_type(head: &[u8]) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_string();
    }
    if looks_like_email(head) {
        return "message/rfc822".into();
    }
    let text = match std::str::from_utf8(head) {
        Ok(t) => Some(t),
        // A multi-byte character cut at the end of the sniffed prefix.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok(),
        Err(_) => None,
    };
    match text {
        Some(t) if t.trim_start().starts_with('<') && t.to_ascii_lowercase().contains("<html") => {
            "text/html".into()
        }
        Some(t) if !t.contains('\0') => "text/plain".into(),
        _ => "application/octet-stream".into(),
    }
}

fn looks_like_email(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&head[..head.len().min(2048)]).to_ascii_lowercase();
    let headers = [
        "from:",
        "to:",
        "subject:",
        "date:",
        "message-id:",
        "received:",
        "mime-version:",
    ];
    let first = text.lines().next().unwrap_or_default();
    headers.iter().any(|h| first.starts_with(h))
        && headers.iter().filter(|h| text.contains(**h)).count() >= 3
}

#[cfg(test)]
mod tests {
    use super::sniff_content_type;

    #[test]
    fn content_types_come_from_the_bytes() {
        assert_eq!(sniff_content_type(b"%PDF-1.7\n%..."), "application/pdf");
        assert_eq!(
            sniff_content_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            "image/png"
        );
        assert_eq!(
            sniff_content_type("plain text, ünïcode".as_bytes()),
            "text/plain"
        );
        assert_eq!(
            sniff_content_type(b"<!doctype html><html><body>x"),
            "text/html"
        );
        assert_eq!(
            sniff_content_type(b"From: a@b.example\r\nTo: c@d.example\r\nSubject: hi\r\n\r\nbody"),
            "message/rfc822"
        );
        assert_eq!(
            sniff_content_type(&[0xff, 0xfe, 0x00, 0x01, 0x80]),
            "application/octet-stream"
        );
        let mut cut = "é".repeat(10).into_bytes();
        cut.pop();
        assert_eq!(sniff_content_type(&cut), "text/plain");
    }
}
