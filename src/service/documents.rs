//! Documents: direct uploads through signed URLs, reading, listing,
//! tagging, sharing, deleting and downloading.

use super::ingest::{ingest, Ingestion, NewDocument, Source};
use super::jobs::JobSpec;
use super::AppState;
use crate::blobs::{self, BlobError};
use crate::domain::document::parse_tag_names;
use crate::domain::search::{highlights, searchable_text, Highlight, SearchQuery};
use crate::domain::{Document, DocumentId, DocumentStatus, Principal, RequestOrigin, Timestamp};
use crate::error::{Error, Result};
use crate::store::DocumentQuery;
use bytes::Bytes;
use futures_util::Stream;
use uuid::Uuid;

/// A validated `POST /documents`.
#[derive(Debug)]
pub struct NewUpload {
    pub file_name: String,
    pub published_at: Option<Timestamp>,
    pub tags: Vec<String>,
    pub share_with_org: bool,
}

/// Which signed URL: the method is part of what is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlPurpose {
    Upload,
    Download,
    /// The processed content's JSON (`/annotated/{id}`).
    Annotated,
}

impl UrlPurpose {
    /// What is signed besides the id: a download signature must not open
    /// the annotated JSON, nor the other way round.
    fn method(self) -> &'static str {
        match self {
            Self::Upload => "PUT",
            Self::Download => "GET",
            Self::Annotated => "GET annotated",
        }
    }
}

/// A signed URL's query: `expires` (Unix seconds) and `signature`.
#[derive(Debug, Clone)]
pub struct Signature {
    pub expires: i64,
    pub signature: String,
}

/// The path and query of a signed URL for `id`, valid until `expires`.
pub fn signed_path(
    app: &AppState,
    purpose: UrlPurpose,
    id: &DocumentId,
    expires: Timestamp,
) -> String {
    let exp = expires.as_secs();
    let sig = app.secret.sign_url(purpose.method(), id.as_str(), exp);
    let route = match purpose {
        UrlPurpose::Upload => "uploads",
        UrlPurpose::Download => "downloads",
        UrlPurpose::Annotated => "annotated",
    };
    format!("/{route}/{id}?expires={exp}&signature={sig}")
}

pub(super) fn check_signature(
    app: &AppState,
    purpose: UrlPurpose,
    id: &DocumentId,
    sig: &Signature,
) -> Result<()> {
    if !app
        .secret
        .verify_url(purpose.method(), id.as_str(), sig.expires, &sig.signature)
    {
        return Err(Error::InvalidSignature("The URL signature is not valid"));
    }
    if Timestamp::now().as_secs() > sig.expires {
        return Err(Error::InvalidSignature("The URL has expired"));
    }
    Ok(())
}

/// Creates a `pending` document owned by the caller; its bytes come
/// through the signed upload URL.
pub async fn create_upload(app: &AppState, owner: &Principal, new: NewUpload) -> Result<Document> {
    let tags = parse_tag_names(&new.tags)?;
    let doc = NewDocument {
        id: DocumentId::new(),
        user_id: owner.user_id.clone(),
        org_id: owner.org_id.clone(),
        share_with_org: new.share_with_org,
        connector_id: None,
        rp_collection_id: None,
        file_name: new.file_name,
        origin: RequestOrigin::FileUpload,
        published_at: new.published_at,
        metadata: Default::default(),
        content: None,
    };
    match ingest(app, doc, Source::Upload { tags: &tags }).await? {
        Ingestion::Stored(doc) => Ok(*doc),
        other => Err(Error::Internal(anyhow::anyhow!(
            "an upload was refused, yet no rule refuses uploads: {other:?}"
        ))),
    }
}

/// Streams an upload into the blob store. The URL is single-use: only the
/// first complete upload is kept; the document then goes `processing`.
pub async fn receive_upload<S, E>(
    app: &AppState,
    id: &DocumentId,
    sig: &Signature,
    declared_len: Option<u64>,
    body: S,
) -> Result<Document>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    check_signature(app, UrlPurpose::Upload, id, sig)?;
    let limit = app.config.documents.max_upload_bytes;
    let too_large = || Error::PayloadTooLarge(format!("The upload is larger than {limit} bytes"));
    let used = || Error::InvalidSignature("The upload URL has already been used");
    let mut doc = match app.store.document(id).await? {
        Some(d) if d.status == DocumentStatus::Pending => d,
        _ => return Err(used()),
    };
    if declared_len.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let key = blobs::document_key(id.as_str());
    let stored = match declared_len {
        Some(length) => {
            app.blobs
                .put_sized(&key, body, length, &doc.file_name)
                .await
        }
        None => {
            let name = Some(doc.file_name.as_str());
            app.blobs.put_named(&key, body, limit, name).await
        }
    };
    match stored {
        Ok(_) => {}
        Err(BlobError::TooLarge { .. }) => return Err(too_large()),
        Err(BlobError::Source(e)) => {
            return Err(crate::domain::ValidationError::new(
                "body",
                format!("the upload was interrupted: {e}"),
            )
            .into())
        }
        Err(e) => return Err(Error::blob(e)),
    }
    let job = JobSpec::ProcessDocument {
        document_id: id.clone(),
    }
    .new_job(&app.config.jobs);
    if !app
        .store
        .attach_upload(id, &key, Timestamp::now(), &job)
        .await?
    {
        // A concurrent upload won; ours must not linger.
        app.blobs.delete(&key).await.map_err(Error::blob)?;
        return Err(used());
    }
    app.wake_jobs.notify_one();
    // What `attach_upload` wrote; the rest of the row is as it was read.
    doc.status = DocumentStatus::Processing;
    doc.blob_key = Some(key);
    Ok(doc)
}

/// A document the caller can see.
pub async fn get(app: &AppState, caller: &Principal, id: &DocumentId) -> Result<Document> {
    match app.store.document(id).await? {
        Some(d) if caller.can_see(&d) => Ok(d),
        _ => Err(Error::DocumentNotFound),
    }
}

/// A document the caller owns: 403 when they can only see it, 404 when not even that.
async fn get_owned(app: &AppState, caller: &Principal, id: &DocumentId) -> Result<Document> {
    let doc = get(app, caller, id).await?;
    if !caller.owns(&doc) {
        return Err(Error::Forbidden);
    }
    Ok(doc)
}

/// Filtering by a connector the caller cannot see answers exactly as for one
/// without documents, even for documents shared on their own.
pub async fn list(
    app: &AppState,
    caller: &Principal,
    query: &DocumentQuery,
) -> Result<Vec<Document>> {
    if !connector_filter_visible(app, caller, query).await? {
        return Ok(Vec::new());
    }
    let plan = app.pages.plan(caller, query);
    let rows = app.store.list_documents(caller, &plan.query).await?;
    Ok(app.pages.learn(query, plan, rows))
}

/// Whether a list's answer depends on nothing but the database and the
/// caller (so it may be reused while the store is unchanged): every page
/// of a search or of an order without positions, and a first page. A later
/// page starts where this process's walk left off (`pages`).
pub fn depends_on_store_only(query: &DocumentQuery, is_search: bool) -> bool {
    is_search || !super::pages::continues_a_walk(query)
}

/// A list answered again from a kept answer: the remembered positions
/// change as reading it would change them.
pub fn revisit(app: &AppState, caller: &Principal, query: &DocumentQuery, is_search: bool) {
    if !is_search {
        app.pages.revisit(caller, query);
    }
}

/// Whether the query's connector filter, if any, names a connector the
/// caller can see.
async fn connector_filter_visible(
    app: &AppState,
    caller: &Principal,
    query: &DocumentQuery,
) -> Result<bool> {
    let Some(connector) = query.connector_id else {
        return Ok(true);
    };
    Ok(matches!(app.store.connector(connector).await?, Some(c) if caller.can_see(&c)))
}

/// A search result and where it matched.
#[derive(Debug)]
pub struct Found {
    pub document: Document,
    pub highlights: Vec<Highlight>,
}

/// `GET /documents?q=`: the list's filters and visibility, plus the search.
pub async fn search(
    app: &AppState,
    caller: &Principal,
    query: &DocumentQuery,
    search: &SearchQuery,
) -> Result<Vec<Found>> {
    if !connector_filter_visible(app, caller, query).await? {
        return Ok(Vec::new());
    }
    let hits = app.store.search_documents(caller, query, search).await?;
    Ok(hits
        .into_iter()
        .map(|hit| Found {
            highlights: highlights(
                search,
                &searchable_text(&hit.document, &hit.text),
                &hit.terms,
            ),
            document: hit.document,
        })
        .collect())
}

/// `PATCH`: replaces the tag set (the caller's own tag ids) and/or sharing.
pub async fn update(
    app: &AppState,
    caller: &Principal,
    id: &DocumentId,
    tag_ids: Option<Vec<String>>,
    share_with_org: Option<bool>,
) -> Result<Document> {
    let doc = get_owned(app, caller, id).await?;
    let tag_ids = match tag_ids {
        None => None,
        Some(raw) => {
            let mut ids = Vec::with_capacity(raw.len());
            for t in &raw {
                let id = Uuid::try_parse(t)
                    .map_err(|_| Error::InvalidTags(format!("tags: {t:?} is not a tag id")))?;
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            let owned = app.store.owned_tags(&doc.user_id, &ids).await?;
            if let Some(missing) = ids.iter().find(|i| !owned.iter().any(|t| t.id == **i)) {
                return Err(Error::InvalidTags(format!(
                    "tags: {missing} is not one of your tags"
                )));
            }
            Some(ids)
        }
    };
    app.store
        .update_document(id, tag_ids.as_deref(), share_with_org, Timestamp::now())
        .await?;
    app.store.document(id).await?.ok_or(Error::DocumentNotFound)
}

/// Deletes the blob, then the row. Owner only.
pub async fn delete(app: &AppState, caller: &Principal, id: &DocumentId) -> Result<Document> {
    let doc = get_owned(app, caller, id).await?;
    if let Some(key) = &doc.blob_key {
        app.blobs.delete(key).await.map_err(Error::blob)?;
    }
    app.store.delete_document(id).await?;
    tracing::info!(document_id = %id, "document deleted");
    Ok(doc)
}

/// Where a completed document the caller can see is downloaded from.
#[derive(Debug)]
pub enum Download {
    /// The path and query of Inlet's own signed URL.
    Signed(String),
    /// A presigned URL of the object store (`blobs.direct_downloads`).
    Direct(String),
}

/// The download URL of a completed document the caller can see, valid for
/// `documents.download_url_ttl`.
pub async fn download_url(app: &AppState, caller: &Principal, id: &DocumentId) -> Result<Download> {
    let doc = get(app, caller, id).await?;
    if doc.status != DocumentStatus::Completed {
        return Err(Error::DocumentNotFound);
    }
    let ttl = app.config.documents.download_url_ttl();
    if app.config.blobs.direct_downloads {
        let key = doc.blob_key.as_deref().ok_or(Error::DocumentNotFound)?;
        let content_type = doc
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        let disposition = crate::domain::document::content_disposition(&doc.file_name);
        let url = app
            .blobs
            .presigned_get(key, ttl, content_type, &disposition)
            .await
            .map_err(Error::blob)?;
        if let Some(url) = url {
            return Ok(Download::Direct(url));
        }
    }
    let expires = Timestamp::now().plus(ttl);
    Ok(Download::Signed(signed_path(
        app,
        UrlPurpose::Download,
        id,
        expires,
    )))
}

/// The bytes behind a signed download URL.
pub async fn open_download(
    app: &AppState,
    id: &DocumentId,
    sig: &Signature,
) -> Result<(
    Document,
    u64,
    impl Stream<Item = std::result::Result<Bytes, BlobError>> + Send + 'static,
)> {
    check_signature(app, UrlPurpose::Download, id, sig)?;
    let doc = app
        .store
        .document(id)
        .await?
        .ok_or(Error::DocumentNotFound)?;
    let key = doc.blob_key.clone().ok_or(Error::DocumentNotFound)?;
    match app.blobs.get(&key).await {
        Ok((size, stream)) => Ok((doc, size, stream)),
        Err(BlobError::NotFound) => Err(Error::DocumentNotFound),
        Err(e) => Err(Error::blob(e)),
    }
}

/// Fails the uploads whose URL expired without bytes (`UPLOAD_EXPIRED`),
/// a grace of one sweep interval after the URL's expiry, so an upload
/// under way when the URL expired is not cut short; returns how many.
pub async fn expire_uploads(app: &AppState, now: Timestamp) -> Result<u64> {
    let ttl = app.config.documents.upload_url_ttl() + app.config.blobs.sweep_interval();
    let registered_before = Timestamp::from_micros(now.as_micros() - ttl.as_micros() as i64);
    let expired = app
        .store
        .expire_uploads(
            registered_before,
            crate::domain::document::error_code::UPLOAD_EXPIRED,
            now,
        )
        .await?;
    if expired > 0 {
        tracing::info!(expired, "uploads that never came marked failed");
    }
    Ok(expired)
}
