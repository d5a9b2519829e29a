//! Persistence behind one trait, so the embedded SQLite default and a
//! PostgreSQL backend serve the same callers. All SQL lives below this module.

mod batch;
mod group_commit;
mod postgres;
mod query;
mod rows;
mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::domain::{
    Connector, ConnectorKind, Document, DocumentId, DocumentStatus, Principal, RequestOrigin,
    SyncJob, SyncStatus, Tag, Timestamp,
};
use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness or membership rule the database enforces.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Backend(#[from] sqlx::Error),
    /// The failure of a query or commit that several callers shared.
    #[error(transparent)]
    Shared(Arc<StoreError>),
    /// The store's own background task is gone (the process is stopping).
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub key_id: Uuid,
    pub key_hash: String,
    pub org_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub key_id: Uuid,
    pub org_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ownership {
    #[default]
    All,
    /// Only the caller's own.
    Owned,
    /// Only others' that are shared with the caller's org.
    Shared,
}

/// A page of connectors visible to a caller, newest first.
#[derive(Debug, Clone)]
pub struct ConnectorPage {
    pub kind: Option<ConnectorKind>,
    pub archived: Option<bool>,
    pub ownership: Ownership,
    /// Keyset position: the `(created_at, id)` of the last row already seen.
    pub after: Option<(Timestamp, Uuid)>,
    pub limit: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentSort {
    CreatedAt,
    UpdatedAt,
    FileName,
    RawSize,
    ContentType,
    Status,
}

/// Filters, order and page of a document list (Bigdata's query parameters).
#[derive(Debug, Clone)]
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
    pub offset: u64,
    pub limit: u32,
}

/// The outcome of storing an ingested document.
#[derive(Debug, Clone)]
pub enum Ingested {
    Stored,
    /// A document with the same dedupe key already exists for the connector.
    Duplicate,
    /// The connector was archived or is being deleted: nothing was stored.
    ConnectorInactive,
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
    pub follow_up: Option<&'a NewJob>,
    /// Parts of a message accepted earlier are still kept when the
    /// connector has been archived since (never while deleting).
    pub also_archived: bool,
    /// When given, one of them must be in the connector's `allowed_emails`.
    pub senders: Option<&'a [&'a str]>,
}

/// The outcome of asking for a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStart {
    Created,
    /// One is already pending or running.
    InProgress,
    /// The connector is archived or being deleted.
    Inactive,
}

/// What processing learned from a document's bytes.
#[derive(Debug, Clone)]
pub struct Processed {
    pub status: DocumentStatus,
    pub raw_size: i64,
    pub sha256: String,
    pub content_type: String,
    pub error_code: Option<String>,
}

/// A unit of durable background work.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub payload: serde_json::Value,
    pub run_at: Timestamp,
    pub max_attempts: i64,
    /// At most one queued or running job per key.
    pub dedupe_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Running,
    Dead,
}

#[derive(Debug, Clone)]
pub struct Job {
    pub id: Uuid,
    pub kind: String,
    pub payload: serde_json::Value,
    pub state: JobState,
    pub run_at: Timestamp,
    /// Claims so far, this one included.
    pub attempts: i64,
    pub max_attempts: i64,
    pub last_error: Option<String>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    /// Stores a key, creating its org and user when new. A user already in
    /// another org is a `Conflict`.
    async fn create_api_key(&self, key: &NewApiKey) -> StoreResult<()>;
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>>;
    /// `false` when no such key exists; revoking twice keeps the first time.
    async fn revoke_api_key(&self, key_id: Uuid, at: Timestamp) -> StoreResult<bool>;
    async fn has_api_keys(&self) -> StoreResult<bool>;
    /// The caller behind an unrevoked key.
    async fn principal_by_key_hash(&self, key_hash: &str) -> StoreResult<Option<Principal>>;

    /// Inserts a new connector; a taken `email_hash` is a `Conflict`.
    async fn insert_connector(&self, connector: &Connector) -> StoreResult<()>;
    /// Any connector still in the database, whoever owns it.
    async fn connector(&self, id: Uuid) -> StoreResult<Option<Connector>>;
    /// The email connector whose inbox id this is (lowercase).
    async fn connector_by_email_hash(&self, email_hash: &str) -> StoreResult<Option<Connector>>;
    /// Connectors the viewer can see, excluding those being hard-deleted.
    async fn list_connectors(
        &self,
        viewer: &Principal,
        page: &ConnectorPage,
    ) -> StoreResult<Vec<Connector>>;
    /// Writes the editable fields (label, description, sharing, allowed
    /// senders) and `updated_at`, unless the connector is being deleted.
    /// Returns `false` when nothing was written.
    async fn update_connector(&self, connector: &Connector) -> StoreResult<bool>;
    /// Moves an `active` connector to `archived`; other states are left alone.
    async fn archive_connector(&self, id: Uuid, at: Timestamp) -> StoreResult<()>;
    /// Moves a connector to `deleting` and records its purge job, in one
    /// transaction. `false` when it was already being deleted.
    async fn begin_hard_delete(&self, id: Uuid, at: Timestamp, purge: &NewJob)
        -> StoreResult<bool>;
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
    /// The purge's last step, in one transaction: the owner's automatic tags
    /// that no document uses any more, then the connector row.
    async fn finish_purge(&self, connector: Uuid) -> StoreResult<()>;

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
    /// enqueues `follow_up`.
    async fn insert_ingested(&self, ingest: &Ingest<'_>) -> StoreResult<Ingested>;
    async fn document(&self, id: &DocumentId) -> StoreResult<Option<Document>>;
    async fn list_documents(
        &self,
        viewer: &Principal,
        query: &DocumentQuery,
    ) -> StoreResult<Vec<Document>>;
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
    async fn record_processing(
        &self,
        id: &DocumentId,
        outcome: &Processed,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Replaces the tag set (ids already checked to be the owner's) and/or
    /// the sharing of a document.
    async fn update_document(
        &self,
        id: &DocumentId,
        tag_ids: Option<&[Uuid]>,
        share_with_org: Option<bool>,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Deletes the row (its blob must already be gone); `false` when absent.
    async fn delete_document(&self, id: &DocumentId) -> StoreResult<bool>;
    /// The subset of `keys` that some document references.
    async fn referenced_blob_keys(&self, keys: &[String]) -> StoreResult<HashSet<String>>;

    /// The user's tag with this name, created when new.
    async fn ensure_tag(&self, user_id: &str, name: &str, at: Timestamp) -> StoreResult<Tag>;
    /// The user's tags whose name starts with `prefix`, with their document counts.
    async fn list_tags(&self, user_id: &str, prefix: &str) -> StoreResult<Vec<(Tag, i64)>>;
    /// Those of `ids` that are the user's tags.
    async fn owned_tags(&self, user_id: &str, ids: &[Uuid]) -> StoreResult<Vec<Tag>>;

    /// `false` when a job with the same dedupe key is already pending.
    async fn enqueue_job(&self, job: &NewJob) -> StoreResult<bool>;
    /// Leases the next due job (queued and due, or running with an expired
    /// lease) to `worker` until `now + lease`.
    async fn claim_job(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
    ) -> StoreResult<Option<Job>>;
    /// Extends a lease the worker still holds; `false` when it lost it.
    async fn extend_lease(&self, id: Uuid, worker: &str, until: Timestamp) -> StoreResult<bool>;
    /// Done: the job is removed. Only the lease holder may finish it.
    async fn finish_job(&self, id: Uuid, worker: &str) -> StoreResult<()>;
    /// Not finished but made progress: queued again at `run_at` without
    /// counting the attempt.
    async fn requeue_job(&self, id: Uuid, worker: &str, run_at: Timestamp) -> StoreResult<()>;
    /// Failed, to be tried again at `run_at`.
    async fn retry_job(
        &self,
        id: Uuid,
        worker: &str,
        error: &str,
        run_at: Timestamp,
    ) -> StoreResult<()>;
    /// Failed for good: kept as `dead` for the operator.
    async fn bury_job(&self, id: Uuid, worker: &str, error: &str) -> StoreResult<()>;
    /// Hands back every lease `worker` holds (graceful shutdown).
    async fn release_leases(&self, worker: &str) -> StoreResult<u64>;
    async fn jobs(&self) -> StoreResult<Vec<Job>>;
    /// Jobs per state (`queued`, `running`, `dead`), for metrics.
    async fn job_counts(&self) -> StoreResult<Vec<(String, i64)>>;

    /// Records a pending sync job and the durable job that runs it, in one
    /// transaction, if the connector is active and has no sync under way.
    async fn create_sync_job(&self, sync: &SyncJob, run: &NewJob) -> StoreResult<SyncStart>;
    async fn sync_job(&self, id: Uuid) -> StoreResult<Option<SyncJob>>;
    /// A connector's sync jobs, newest first.
    async fn sync_jobs(&self, connector: Uuid, limit: u32) -> StoreResult<Vec<SyncJob>>;
    /// Applies a cancel request (pending → canceled, running → canceling);
    /// returns the job as it is afterwards.
    async fn cancel_sync_job(&self, id: Uuid, at: Timestamp) -> StoreResult<Option<SyncJob>>;
    /// pending → in_progress, and the connector's `last_sync_*` say so.
    /// Returns the job as it is afterwards (a canceled one stays canceled).
    async fn start_sync_job(&self, id: Uuid, at: Timestamp) -> StoreResult<Option<SyncJob>>;
    async fn sync_progress(&self, id: Uuid, indexed: i64, skipped: i64) -> StoreResult<()>;
    /// Ends a job (completed, error or canceled) and records the outcome on
    /// its connector, in one transaction.
    async fn finish_sync_job(
        &self,
        id: Uuid,
        status: SyncStatus,
        error: Option<&str>,
        indexed: i64,
        skipped: i64,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Deletes a connector's finished sync jobs.
    async fn delete_sync_jobs(&self, connector: Uuid) -> StoreResult<u64>;
    /// Whether the connector already holds a document with this dedupe key
    /// or this content.
    async fn ingested(
        &self,
        connector: Uuid,
        dedupe_key: Option<&str>,
        sha256: Option<&str>,
    ) -> StoreResult<bool>;
    async fn set_next_sync(&self, connector: Uuid, at: Timestamp) -> StoreResult<()>;
    /// Active research connectors whose scheduled sync is due.
    async fn due_syncs(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<(Connector, Timestamp)>>;
    /// Moves a connector's next sync from `from` to `to`; `false` when
    /// another replica did it first.
    async fn advance_next_sync(
        &self,
        connector: Uuid,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<bool>;
}

/// Opens the store named by `database_url` and brings its schema up to date.
pub async fn open(database_url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if database_url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(database_url).await?))
    } else if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::open(database_url).await?))
    } else {
        anyhow::bail!("unsupported database_url scheme (expected sqlite: or postgres://)")
    }
}
