//! Documents: uploads and what connectors ingest, their lists and life.

use super::{NewJob, Ownership, StoreResult};
use crate::domain::{
    Document, DocumentId, DocumentStatus, Event, Principal, RequestOrigin, Timestamp,
};
use async_trait::async_trait;
use serde_json::{Map, Value};
use std::collections::HashSet;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentSort {
    CreatedAt,
    UpdatedAt,
    FileName,
    RawSize,
    ContentType,
    Status,
    /// Best match first (only with a search; without one, as `CreatedAt`).
    Relevance,
}

impl DocumentSort {
    /// Whether a list in this order can start after a row (see
    /// [`Position`]): not by a column that can be empty.
    pub fn has_positions(self) -> bool {
        !matches!(self, Self::RawSize | Self::ContentType)
    }
}

/// Filters, order and page of a document list (Bigdata's query parameters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocumentQuery {
    pub origin: Option<RequestOrigin>,
    pub from_date: Option<Timestamp>,
    pub ownership: Ownership,
    pub owner: Option<String>,
    /// Case-insensitive substring of the file name.
    pub file_name: Option<String>,
    pub rp_collection_id: Option<String>,
    pub connector_id: Option<Uuid>,
    /// Any of these tag names or ids.
    pub tags: Vec<String>,
    pub sort_by: DocumentSort,
    pub descending: bool,
    /// Only rows after this one in the list's order (keyset pagination);
    /// then `offset` more are skipped.
    pub after: Option<Position>,
    pub offset: u64,
    /// Lists ask for one row more than their page shows: that row only
    /// tells whether another page follows.
    pub limit: u32,
}

impl DocumentQuery {
    /// Everything the viewer sees, newest first, `limit` at a time: the
    /// list without a filter, for callers to narrow.
    pub fn newest(limit: u32) -> Self {
        Self {
            origin: None,
            from_date: None,
            ownership: Ownership::All,
            owner: None,
            file_name: None,
            rp_collection_id: None,
            connector_id: None,
            tags: vec![],
            sort_by: DocumentSort::CreatedAt,
            descending: true,
            after: None,
            offset: 0,
            limit,
        }
    }
}

/// A row's place in a list's order: its sort column's value and the id
/// that breaks ties.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Position {
    pub key: SortKey,
    pub id: DocumentId,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SortKey {
    /// Microseconds since the epoch.
    Time(i64),
    Text(String),
}

impl Position {
    /// Where `doc` stands in a list sorted by `sort` (without a search);
    /// `None` where the order has no positions: such lists page by offset.
    pub fn of(doc: &Document, sort: DocumentSort) -> Option<Self> {
        let key = match sort {
            DocumentSort::CreatedAt | DocumentSort::Relevance => {
                SortKey::Time(doc.created_at.as_micros())
            }
            DocumentSort::UpdatedAt => SortKey::Time(doc.updated_at.as_micros()),
            DocumentSort::FileName => SortKey::Text(doc.file_name.clone()),
            DocumentSort::Status => SortKey::Text(doc.status.as_str().to_string()),
            // As `has_positions` says.
            DocumentSort::RawSize | DocumentSort::ContentType => return None,
        };
        Some(Self {
            key,
            id: doc.id.clone(),
        })
    }
}

/// The outcome of storing an ingested document.
#[derive(Debug, Clone)]
pub enum Ingested {
    Stored,
    /// A document with the same dedupe key already exists for the connector.
    Duplicate,
    /// The connector was archived or is being deleted: nothing was stored.
    ConnectorInactive,
    /// The connector is paused: nothing was stored (senders retry).
    Paused,
    /// None of the senders is (any longer) in the connector's allowed list.
    SenderNotAllowed,
}

/// A document a connector brought in, and the rules checked when it is
/// stored, in the same transaction as the insert.
#[derive(Debug, Clone)]
pub struct Ingest<'a> {
    /// Its `share_with_org` is replaced by the connector's current one.
    pub doc: &'a Document,
    pub auto_tags: &'a [String],
    pub dedupe_key: &'a str,
    /// Enqueued with the document, in the same transaction.
    pub follow_ups: &'a [NewJob],
    /// Parts of a message accepted earlier are still kept when the
    /// connector has been archived since (never while deleting).
    pub also_archived: bool,
    /// When given, one of them must be in the connector's `allowed_emails`.
    pub senders: Option<&'a [&'a str]>,
    /// Recorded in the insert's transaction when the document is stored.
    pub event: Option<&'a Event>,
}

/// What processing learned from a document's bytes.
#[derive(Debug, Clone)]
pub struct Processed {
    pub status: DocumentStatus,
    pub raw_size: i64,
    pub sha256: String,
    pub content_type: String,
    pub error_code: Option<String>,
    /// The extracted plain text; empty when there is none.
    pub text: String,
    /// When given, the document's new `file_metadata` (with the outcome of
    /// extraction in it).
    pub file_metadata: Option<Map<String, Value>>,
    /// What extraction produced, stored with the status.
    pub content: Option<ProcessedContent>,
}

/// A processed document's content, profiling and analytics (contract §10),
/// kept as the JSON the API serves.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessedContent {
    pub content: Value,
    pub profiling: Value,
    pub analytics: Value,
    pub processed_at: Timestamp,
}

/// Which documents `inlet admin reprocess` takes, a page at a time.
#[derive(Debug, Clone)]
pub struct ReprocessQuery {
    pub connector: Option<Uuid>,
    /// `None`: only completed documents never processed (stored before
    /// processing existed). `Some(t)`: also those processed before `t`.
    pub processed_before: Option<Timestamp>,
    /// Resume after this id (ids ascending).
    pub after: Option<DocumentId>,
    pub limit: u32,
}

#[async_trait]
pub trait DocumentStore: Send + Sync {
    /// Inserts a document with tags by name (created for its owner when
    /// new): `user_tags` the owner chose, `auto_tags` ingestion added. It
    /// counts in its connector's `files_count`.
    async fn insert_document(
        &self,
        doc: &Document,
        user_tags: &[String],
        auto_tags: &[String],
    ) -> StoreResult<Document>;
    /// Stores a document a connector ingested. One transaction checks the
    /// connector is still active (so nothing is accepted after an archive or
    /// hard delete has been answered) and still allows the sender, takes its
    /// current sharing, skips a duplicate `dedupe_key`, inserts, and
    /// enqueues `follow_ups`.
    async fn insert_ingested(&self, ingest: &Ingest<'_>) -> StoreResult<Ingested>;
    /// Whether the connector already holds a document with this dedupe key
    /// or this content.
    async fn ingested(
        &self,
        connector: Uuid,
        dedupe_key: Option<&str>,
        sha256: Option<&str>,
    ) -> StoreResult<bool>;
    async fn document(&self, id: &DocumentId) -> StoreResult<Option<Document>>;
    async fn list_documents(
        &self,
        viewer: &Principal,
        query: &DocumentQuery,
    ) -> StoreResult<Vec<Document>>;
    /// The plan the database makes for that list (or a search), one step a
    /// line: what plan tests check and `bench/scale.py` records.
    async fn explain_document_list(
        &self,
        viewer: &Principal,
        query: &DocumentQuery,
        search: Option<&crate::domain::search::SearchQuery>,
    ) -> StoreResult<Vec<String>>;
    /// Records the uploaded blob of a `pending` document, moves it to
    /// `processing` and enqueues its processing, in one transaction. `false`
    /// when the document is not pending (the upload URL was already used).
    async fn attach_upload(
        &self,
        id: &DocumentId,
        blob_key: &str,
        at: Timestamp,
        process: &NewJob,
    ) -> StoreResult<bool>;
    /// Records what processing found, the extracted content with it, and
    /// when the document is now `completed` indexes it for search, in one
    /// transaction: the document is `completed` exactly when its content is
    /// stored and searchable.
    async fn record_processing(
        &self,
        id: &DocumentId,
        outcome: Processed,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// The stored content of a processed document.
    async fn processed_content(&self, id: &DocumentId) -> StoreResult<Option<ProcessedContent>>;
    /// Completed documents with bytes that `query` selects, ids ascending.
    async fn reprocess_candidates(&self, query: &ReprocessQuery) -> StoreResult<Vec<DocumentId>>;
    /// Enqueues `job`, the reprocessing of a completed document, which
    /// stays completed; `false` when the document is not completed or a
    /// job of the same dedupe key is already pending.
    async fn queue_reprocessing(
        &self,
        id: &DocumentId,
        process: &NewJob,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Replaces the tag set (ids already checked to be the owner's) and/or
    /// the sharing of a document; the search index follows the tags.
    async fn update_document(
        &self,
        id: &DocumentId,
        tag_ids: Option<&[Uuid]>,
        share_with_org: Option<bool>,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Fails every upload still `pending` that was registered before
    /// `registered_before`, with `error_code`; returns how many.
    async fn expire_uploads(
        &self,
        registered_before: Timestamp,
        error_code: &str,
        at: Timestamp,
    ) -> StoreResult<u64>;
    /// Deletes the row (its blob must already be gone); `false` when absent.
    async fn delete_document(&self, id: &DocumentId) -> StoreResult<bool>;
    /// Up to `limit` of the connector's documents, newest first: ids and
    /// blob keys. In creation order, a batch's rows share pages in the table
    /// and most indexes; in another order (the planner took one by `sha256`)
    /// deleting a batch dirtied pages all over the database.
    async fn connector_documents(
        &self,
        connector: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<(DocumentId, Option<String>)>>;
    /// Deletes these document rows (their blobs must already be gone) in one
    /// transaction; returns how many were deleted.
    async fn delete_documents(&self, ids: &[DocumentId]) -> StoreResult<u64>;
    /// The subset of `keys` that some document references.
    async fn referenced_blob_keys(&self, keys: &[String]) -> StoreResult<HashSet<String>>;
}
