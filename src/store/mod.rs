//! Persistence, so the embedded SQLite default and a PostgreSQL backend
//! serve the same callers. One trait per aggregate, and `Store` is all of
//! them. Every statement is written once, in `sql/`, and compiled for each
//! backend; `sqlite/` and `postgres.rs` hold only what differs (opening a
//! write transaction, row locks, SQLite's group commit and read batching).
//! All SQL lives below this module.

mod connectors;
mod documents;
mod events;
mod jobs;
mod keys;
mod postgres;
mod search;
mod sessions;
mod sql;
mod sqlite;
mod syncs;
mod tags;

pub use connectors::{ConnectorPage, ConnectorStore, Ownership};
pub use documents::{
    DocumentQuery, DocumentSort, DocumentStore, Ingest, Ingested, Position, Processed,
    ProcessedContent, ReprocessQuery, SortKey,
};
pub use events::EventLog;
pub use jobs::{Job, JobQueue, JobState, NewJob};
pub use keys::{ApiKeyRecord, Caller, Generation, KeyStore, NewApiKey};
pub use postgres::PostgresStore;
pub use search::{SearchHit, SearchIndex};
pub use sessions::{ConsoleSession, SessionStore};
pub use sqlite::rank::register as register_sqlite_rank;
pub use sqlite::SqliteStore;
pub use syncs::{SyncStart, SyncStore};
pub use tags::{TagStore, Window};

use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness or membership rule the database enforces.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Backend(#[from] sqlx::Error),
    /// SQLite's point reads (`sqlite::reads`), outside sqlx.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// The failure of a query or commit that several callers shared.
    #[error(transparent)]
    Shared(Arc<StoreError>),
    /// The store's own background task is gone (the process is stopping).
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The whole store: every aggregate's operations on one database.
pub trait Store:
    KeyStore
    + ConnectorStore
    + DocumentStore
    + SearchIndex
    + EventLog
    + TagStore
    + JobQueue
    + SyncStore
    + SessionStore
    + 'static
{
}

impl<T> Store for T where
    T: KeyStore
        + ConnectorStore
        + DocumentStore
        + SearchIndex
        + EventLog
        + TagStore
        + JobQueue
        + SyncStore
        + SessionStore
        + 'static
{
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Document, RequestOrigin, Timestamp};

    #[tokio::test]
    async fn connector_documents_are_counted_and_follow_its_sharing() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = open(&url).await.unwrap();
        let now = Timestamp::now();
        store
            .create_api_key(&keys::key_fixture("h", now))
            .await
            .unwrap();
        let mut connector = crate::domain::connector::research_fixture(now);
        store.insert_connector(&connector).await.unwrap();
        let mut ids = vec![];
        for _ in 0..3 {
            let doc = Document {
                connector_id: Some(connector.id),
                file_name: "f".into(),
                request_origin: RequestOrigin::InvestmentResearch,
                ..crate::domain::document::document_fixture(now)
            };
            ids.push(
                store
                    .insert_document(&doc, &[], &["broker:B".into()])
                    .await
                    .unwrap()
                    .id,
            );
        }
        let files_count = || store.connector(connector.id);
        assert_eq!(files_count().await.unwrap().unwrap().files_count, 3);
        connector.share_with_org = true;
        assert!(store.update_connector(&connector).await.unwrap());
        for id in &ids {
            assert!(store.document(id).await.unwrap().unwrap().share_with_org);
        }
        assert!(store.delete_document(&ids[0]).await.unwrap());
        assert!(!store.delete_document(&ids[0]).await.unwrap());
        assert_eq!(files_count().await.unwrap().unwrap().files_count, 2);
    }
}
