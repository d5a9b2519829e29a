//! The embedded default backend: one SQLite file in WAL mode. Writes that
//! arrive together share a transaction and an fsync (`group_commit`), and
//! the point reads behind every request share queries (`batch`).

mod batch;
mod group_commit;

use super::sql::rows::{ConnectorRow, CONNECTOR_COLUMNS};
use super::sql::{migrate, statements, SQLITE};
use super::StoreResult;
use crate::domain::{Connector, Principal};
use batch::{Fetch, Loader};
use futures_util::future::BoxFuture;
use group_commit::GroupCommit;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

statements!(Sqlite, SqliteStore, SQLITE);

pub struct SqliteStore {
    pool: SqlitePool,
    writes: GroupCommit,
    connectors: Loader<Uuid, Connector>,
    /// Email connectors by `email_hash`.
    inboxes: Loader<String, Connector>,
    principals: Loader<String, Principal>,
}

impl SqliteStore {
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed transaction survives power loss, not only a crash.
            .synchronous(SqliteSynchronous::Full)
            // Group commit puts each write in a savepoint; keep their
            // subjournals in memory instead of a temporary file per batch.
            .pragma("temp_store", "memory")
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            // An in-process database has no link to test: the ping would only
            // add a round trip to the connection's thread on every query.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the SQLite database {url}: {e}"))?;
        migrate(sqlx::migrate!("./migrations/sqlite"), &pool, "SQLite").await?;
        Ok(Self {
            writes: GroupCommit::new(pool.clone()),
            connectors: Loader::new(fetch_connectors(pool.clone(), "connector_id", |c| {
                Some(c.id)
            })),
            inboxes: Loader::new(fetch_connectors(pool.clone(), "email_hash", |c| {
                c.config.email_hash().map(str::to_string)
            })),
            principals: Loader::new(fetch_principals(pool.clone())),
            pool,
        })
    }

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// `IMMEDIATE` takes the write lock at once, so what the transaction
    /// reads cannot change before it writes.
    async fn begin_write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Runs `write` in the next group commit.
    async fn write<T, F>(&self, write: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<T>>
            + Send
            + 'static,
    {
        self.writes.run(write).await
    }

    async fn connector_by_id(&self, id: Uuid) -> StoreResult<Option<Connector>> {
        self.connectors.load(id).await
    }

    async fn connector_by_inbox(&self, email_hash: &str) -> StoreResult<Option<Connector>> {
        self.inboxes.load(email_hash.to_string()).await
    }

    async fn principal_by_hash(&self, key_hash: &str) -> StoreResult<Option<Principal>> {
        self.principals.load(key_hash.to_string()).await
    }
}

/// Connectors whose `column` is one of the keys, many per query (the keys
/// travel as one JSON array); `key_of` names the key each one answers.
fn fetch_connectors<K>(
    pool: SqlitePool,
    column: &'static str,
    key_of: fn(&Connector) -> Option<K>,
) -> Fetch<K, Connector>
where
    K: ToString + Send + 'static,
{
    Arc::new(move |keys: Vec<K>| {
        let pool = pool.clone();
        Box::pin(async move {
            let keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
            let sql = sqlx::AssertSqlSafe(format!(
                "SELECT {CONNECTOR_COLUMNS} FROM connectors \
                 WHERE {column} IN (SELECT value FROM json_each($1))"
            ));
            let rows: Vec<ConnectorRow> = sqlx::query_as(sql)
                .bind(serde_json::to_string(&keys).expect("strings serialize"))
                .fetch_all(&pool)
                .await?;
            let mut found = Vec::with_capacity(rows.len());
            for row in rows {
                let connector = Connector::try_from(row)?;
                if let Some(key) = key_of(&connector) {
                    found.push((key, connector));
                }
            }
            Ok(found)
        })
    })
}

/// The callers behind unrevoked key hashes, many per query.
fn fetch_principals(pool: SqlitePool) -> Fetch<String, Principal> {
    Arc::new(move |hashes: Vec<String>| {
        let pool = pool.clone();
        Box::pin(async move {
            let rows: Vec<(String, String, String, String)> = sqlx::query_as(
                "SELECT k.key_hash, k.key_id, u.user_id, u.org_id FROM api_keys k \
                 JOIN users u ON u.user_id = k.user_id \
                 WHERE k.key_hash IN (SELECT value FROM json_each($1)) AND k.revoked_at IS NULL",
            )
            .bind(serde_json::to_string(&hashes).expect("strings serialize"))
            .fetch_all(&pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|(hash, key_id, user_id, org_id)| {
                    let principal = Principal {
                        user_id,
                        org_id,
                        key_id,
                    };
                    (hash, principal)
                })
                .collect())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConnectorKind, RequestOrigin, Timestamp};
    use crate::store::{ConnectorPage, DocumentQuery, DocumentSort, Ownership};

    /// A fresh database (gone with the returned dir) and a caller.
    async fn store_and_viewer() -> (tempfile::TempDir, SqliteStore, Principal) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let viewer = Principal {
            user_id: "u".into(),
            org_id: "o".into(),
            key_id: "k".into(),
        };
        (dir, store, viewer)
    }

    /// The `detail` column of an `EXPLAIN QUERY PLAN`.
    async fn plan(store: &SqliteStore, mut explain: sqlx::QueryBuilder<Sqlite>) -> Vec<String> {
        let rows: Vec<(i64, i64, i64, String)> = explain
            .build_query_as()
            .fetch_all(&store.pool)
            .await
            .unwrap();
        rows.into_iter().map(|r| r.3).collect()
    }

    #[tokio::test]
    async fn connector_lists_search_an_index_and_never_scan() {
        let (_dir, store, viewer) = store_and_viewer().await;
        for ownership in [Ownership::All, Ownership::Owned, Ownership::Shared] {
            for after in [None, Some((Timestamp::from_micros(5), Uuid::now_v7()))] {
                let page = ConnectorPage {
                    kind: Some(ConnectorKind::Email),
                    archived: Some(false),
                    state: Some(crate::domain::ConnectorState::Paused),
                    ownership,
                    after,
                    limit: 51,
                };
                let details = plan(
                    &store,
                    connectors::list_query("EXPLAIN QUERY PLAN ", &viewer, &page),
                )
                .await;
                assert!(
                    details.iter().all(|d| !d.starts_with("SCAN connectors")
                        && !d.starts_with("SCAN c ")
                        && *d != "SCAN c"),
                    "{ownership:?}: {details:?}"
                );
                assert!(
                    details.iter().any(|d| d.contains("USING INDEX")),
                    "{details:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_job_claim_takes_one_step_down_an_index_and_sorts_nothing() {
        let (_dir, store, _) = store_and_viewer().await;
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(
            jobs::claim_statement("EXPLAIN QUERY PLAN "),
        ))
        .bind("w")
        .bind(2)
        .bind(1)
        .fetch_all(&store.pool)
        .await
        .unwrap();
        let details: Vec<String> = rows.into_iter().map(|r| r.3).collect();
        assert!(
            details
                .iter()
                .all(|d| !d.contains("TEMP B-TREE") && !d.starts_with("SCAN")),
            "{details:?}"
        );
        for index in ["jobs_queued", "jobs_leased"] {
            assert!(details.iter().any(|d| d.contains(index)), "{details:?}");
        }
    }

    #[tokio::test]
    async fn document_lists_search_indexes_and_never_scan() {
        let (_dir, store, viewer) = store_and_viewer().await;
        for ownership in [Ownership::All, Ownership::Owned, Ownership::Shared] {
            let query = DocumentQuery {
                origin: Some(RequestOrigin::Email),
                from_date: None,
                ownership,
                owner: None,
                file_name: Some("q3".into()),
                rp_collection_id: None,
                connector_id: None,
                tags: vec!["macro".into()],
                sort_by: DocumentSort::CreatedAt,
                descending: true,
                offset: 50,
                limit: 51,
            };
            let details = plan(
                &store,
                documents::list_query("EXPLAIN QUERY PLAN ", &viewer, &query, None),
            )
            .await;
            assert!(
                details.iter().all(|d| !d.starts_with("SCAN d")),
                "{ownership:?}: {details:?}"
            );
            assert!(
                details
                    .iter()
                    .any(|d| d.contains("documents_by_owner")
                        || d.contains("documents_shared_by_org")),
                "{details:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_search_starts_from_the_full_text_index_and_joins_visible_rows() {
        let (_dir, store, viewer) = store_and_viewer().await;
        let search = crate::domain::search::SearchQuery::parse("lithium \"rate hike\" -x").unwrap();
        for ownership in [Ownership::All, Ownership::Owned, Ownership::Shared] {
            let query = DocumentQuery {
                origin: None,
                from_date: None,
                ownership,
                owner: None,
                file_name: None,
                rp_collection_id: None,
                connector_id: Some(Uuid::now_v7()),
                tags: vec![],
                sort_by: DocumentSort::Relevance,
                descending: true,
                offset: 0,
                limit: 51,
            };
            let details = plan(
                &store,
                documents::list_query("EXPLAIN QUERY PLAN ", &viewer, &query, Some(&search)),
            )
            .await;
            assert!(
                details
                    .iter()
                    .any(|d| d.contains("SCAN search_fts VIRTUAL TABLE INDEX")),
                "{ownership:?}: {details:?}"
            );
            assert!(
                details.iter().all(|d| !d.starts_with("SCAN d")),
                "{ownership:?}: {details:?}"
            );
        }
    }
}
