//! Persistence behind one trait, so the embedded SQLite default and a
//! PostgreSQL backend serve the same callers. All SQL lives below this module.

mod rows;
mod sqlite;

pub use sqlite::SqliteStore;

use crate::domain::{Connector, ConnectorKind, Principal, Timestamp};
use async_trait::async_trait;
use std::sync::Arc;
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
}

/// Opens the store named by `database_url` and brings its schema up to date.
pub async fn open(database_url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if database_url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(database_url).await?))
    } else {
        anyhow::bail!("unsupported database_url scheme (expected sqlite:)")
    }
}
