//! A processed document as Bigdata's `annotated` document (contract §10):
//! the Document with what processing stored, for the caller who may see it,
//! or through a reusable signed URL.

use super::documents::{check_signature, get, signed_path, Signature, UrlPurpose};
use super::AppState;
use crate::domain::{Document, DocumentId, DocumentStatus, Principal, Timestamp};
use crate::error::{Error, Result};
use crate::store::ProcessedContent;

/// A completed document, its processed content, and the signed path that
/// serves the same.
#[derive(Debug, Clone)]
pub struct Annotated {
    pub doc: Document,
    pub content: ProcessedContent,
    pub path: String,
}

/// The content stored for `doc`, once it is completed; otherwise (or when
/// it was completed before processing existed) not found.
async fn content_of(app: &AppState, doc: &Document) -> Result<ProcessedContent> {
    if doc.status != DocumentStatus::Completed {
        return Err(Error::DocumentNotFound);
    }
    app.store
        .processed_content(&doc.id)
        .await?
        .ok_or(Error::DocumentNotFound)
}

/// For a caller who can see the document; a new signed URL (24 h).
pub async fn annotated(app: &AppState, caller: &Principal, id: &DocumentId) -> Result<Annotated> {
    let doc = get(app, caller, id).await?;
    let content = content_of(app, &doc).await?;
    let expires = Timestamp::now().plus(app.config.documents.download_url_ttl());
    let path = signed_path(app, UrlPurpose::Annotated, id, expires);
    Ok(Annotated { doc, content, path })
}

/// Through its signed URL (reusable until it expires); the URL answered is
/// the one used.
pub async fn open_annotated(app: &AppState, id: &DocumentId, sig: &Signature) -> Result<Annotated> {
    check_signature(app, UrlPurpose::Annotated, id, sig)?;
    let doc = app
        .store
        .document(id)
        .await?
        .ok_or(Error::DocumentNotFound)?;
    let content = content_of(app, &doc).await?;
    let path = format!(
        "/annotated/{id}?expires={}&signature={}",
        sig.expires, sig.signature
    );
    Ok(Annotated { doc, content, path })
}
