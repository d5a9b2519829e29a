//! The embedded default backend: one SQLite file in WAL mode. Writes that
//! arrive together share a transaction and an fsync (`group_commit`), and
//! the point reads behind every request run on the caller's thread
//! (`reads`).

mod group_commit;
pub(super) mod rank;
mod reads;
mod wal_index;

use super::sql::rows::{CONNECTOR_BY_ID, CONNECTOR_BY_INBOX};
use super::sql::{migrate, statements, SQLITE};
use super::{Caller, StoreResult};
use crate::domain::{Connector, Document};
use futures_util::future::BoxFuture;
use group_commit::GroupCommit;
use reads::Readers;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

statements!(Sqlite, SqliteStore, SQLITE);

pub struct SqliteStore {
    pool: SqlitePool,
    writes: GroupCommit,
    reads: Readers,
}

impl SqliteStore {
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?;
        // The point reads open the file again: an in-memory database would
        // be another, empty one for them.
        let file = options.get_filename();
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if in_memory || file.as_os_str().is_empty() {
            anyhow::bail!("invalid configuration: database_url must name a SQLite file, not an in-memory database");
        }
        let file = file.to_path_buf();
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed transaction survives power loss, not only a crash.
            .synchronous(SqliteSynchronous::Full)
            // Group commit puts each write in a savepoint; keep their
            // subjournals in memory instead of a temporary file per batch.
            .pragma("temp_store", "memory")
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        configure_process();
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            // An in-process database has no link to test: the ping would only
            // add a round trip to the connection's thread on every query.
            .test_before_acquire(false)
            .after_connect(|conn, _| Box::pin(configure_connection(conn)))
            .connect_with(options)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the SQLite database {url}: {e}"))?;
        migrate(sqlx::migrate!("./migrations/sqlite"), &pool, "SQLite").await?;
        Ok(Self {
            writes: GroupCommit::new(pool.clone()),
            reads: Readers::open(&file)?,
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
        self.reads.connector(CONNECTOR_BY_ID, &id.to_string())
    }

    async fn connector_by_inbox(&self, email_hash: &str) -> StoreResult<Option<Connector>> {
        self.reads.connector(CONNECTOR_BY_INBOX, email_hash)
    }

    async fn document_by_id(&self, id: &str) -> StoreResult<Option<Document>> {
        self.reads.document(id)
    }

    async fn caller_by_hash(&self, key_hash: &str) -> StoreResult<Option<Caller>> {
        self.reads.caller(key_hash)
    }
}

/// Settings of the SQLite library itself, made once before its first
/// connection: no memory statistics. With them on, every allocation of
/// every connection takes one global mutex, and under load the connections'
/// threads queue on it (15% of a list's profile went to that lock).
fn configure_process() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: SQLITE_CONFIG_MEMSTATUS takes one int. Before the library
        // is initialised nothing else is using it; after, the call only
        // returns SQLITE_MISUSE and changes nothing.
        let rc = unsafe {
            rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0 as libc::c_int)
        };
        if rc != rusqlite::ffi::SQLITE_OK {
            tracing::debug!(
                rc,
                "SQLite was initialised already; memory statistics stay on"
            );
        }
    });
}

/// What every connection of the pool needs before its first statement:
///
/// - plans that do not depend on bound values (SQLite's query planner
///   stability guarantee). Otherwise a bound `LIMIT` is read while planning,
///   so every execution with new bindings compiled the statement again: a
///   fifth of a list's time. Every predicate a partial index needs is
///   written as a literal, so no plan loses an index by it;
/// - the searches' ranking function ([`rank`]).
async fn configure_connection(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    // SAFETY: the handle is locked for this scope, and the connection made
    // from it borrows it without closing it when dropped.
    let borrowed = unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr()) }
        .map_err(|e| sqlx::Error::Configuration(e.into()))?;
    borrowed
        .set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .and_then(|_| rank::register(&borrowed))
        .map_err(|e| sqlx::Error::Configuration(e.into()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConnectorKind, Principal, RequestOrigin, Timestamp};
    use crate::store::{ConnectorPage, DocumentQuery, DocumentSort, DocumentStore, Ownership};

    /// A database migrated up to `version` (not included), with foreign
    /// keys off so that test rows may stand alone; and every migration, to
    /// run after them.
    async fn migrated_before(
        version: i64,
    ) -> (tempfile::TempDir, SqlitePool, sqlx::migrate::Migrator) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let options = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .foreign_keys(false);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        let all = sqlx::migrate!("./migrations/sqlite");
        let mut before = sqlx::migrate!("./migrations/sqlite");
        before.migrations = all
            .migrations
            .iter()
            .filter(|m| m.version < version)
            .cloned()
            .collect();
        before.run(&pool).await.unwrap();
        (dir, pool, all)
    }

    #[tokio::test]
    async fn processed_content_survives_the_move_to_a_rowid_table() {
        let (_dir, pool, all) = migrated_before(11).await;
        sqlx::query("INSERT INTO document_content VALUES ('d1', 'c', 'p', 'a', 7)")
            .execute(&pool)
            .await
            .unwrap();
        all.run(&pool).await.unwrap();
        let row: (String, String, String, String, i64) =
            sqlx::query_as("SELECT * FROM document_content")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(row, ("d1".into(), "c".into(), "p".into(), "a".into(), 7));
        let sql: String =
            sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE name = 'document_content'")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert!(!sql.contains("WITHOUT ROWID"), "{sql}");
    }

    #[tokio::test]
    async fn tag_links_made_before_the_tag_walk_get_their_documents_created_at() {
        let (_dir, pool, all) = migrated_before(13).await;
        for sql in [
            "INSERT INTO documents (document_id, user_id, org_id, file_name, request_origin, \
             status, share_with_org, created_at, updated_at) \
             VALUES ('d1', 'u', 'o', 'f', 'file_upload', 'completed', 0, 42, 43)",
            "INSERT INTO tags (tag_id, user_id, name, created_at, updated_at) \
             VALUES ('t1', 'u', 'macro', 1, 1)",
            "INSERT INTO document_tags VALUES ('d1', 't1')",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        all.run(&pool).await.unwrap();
        let at: i64 = sqlx::query_scalar("SELECT created_at FROM document_tags")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(at, 42);
    }

    #[tokio::test]
    async fn search_entries_move_to_their_orgs_key_ranges_in_their_order() {
        let (_dir, pool, all) = migrated_before(15).await;
        // Three entries of two orgs, made before the ranges: keys 1, 2, 3.
        for (id, org, shared, text) in [
            ("d1", "o", 0, "lithium"),
            ("d2", "p", 1, "lithium"),
            ("d3", "o", 1, "cobalt lithium"),
        ] {
            sqlx::query(
                "INSERT INTO documents (document_id, user_id, org_id, file_name, \
                 request_origin, status, share_with_org, created_at, updated_at) \
                 VALUES ($1, 'u', $2, 'f', 'file_upload', 'completed', $3, 1, 1)",
            )
            .bind(id)
            .bind(org)
            .bind(shared)
            .execute(&pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO search_documents (search_document_id, search_text, search_terms, \
                 search_org) VALUES ($1, $2, $2, $3)",
            )
            .bind(id)
            .bind(text)
            .bind(crate::domain::search::org_term(org))
            .execute(&pool)
            .await
            .unwrap();
        }
        all.run(&pool).await.unwrap();
        let found = |org: &'static str, words: &'static str| {
            let pool = pool.clone();
            async move {
                sqlx::query_as::<_, (String, bool)>(
                    "SELECT s.document_id, s.share_with_org FROM search_fts_orgs o \
                     CROSS JOIN search_fts CROSS JOIN search_documents s \
                     ON s.search_key = search_fts.rowid WHERE o.org_id = $1 \
                     AND search_fts MATCH $2 \
                     AND search_fts.rowid BETWEEN o.search_org_first AND o.search_org_last \
                     ORDER BY search_fts.rowid DESC",
                )
                .bind(org)
                .bind(words)
                .fetch_all(&pool)
                .await
                .unwrap()
            }
        };
        let o = |id: &str, shared| (id.to_string(), shared);
        assert_eq!(
            found("o", "lithium").await,
            vec![o("d3", true), o("d1", false)]
        );
        assert_eq!(found("p", "lithium").await, vec![o("d2", true)]);
        assert_eq!(found("p", "cobalt").await, vec![]);
        assert_eq!(found("q", "lithium").await, vec![]);
        // Each entry's length in terms, as the ranking reads it (0016).
        let lengths: Vec<(String, i64)> = sqlx::query_as(
            "SELECT document_id, search_length FROM search_documents ORDER BY document_id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let l = |id: &str, n| (id.to_string(), n);
        assert_eq!(lengths, vec![l("d1", 1), l("d2", 1), l("d3", 2)]);
        // A change of the document's sharing reaches its entry.
        sqlx::query("UPDATE documents SET share_with_org = 0 WHERE document_id = 'd3'")
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(found("o", "cobalt").await, vec![o("d3", false)]);
    }

    /// `(user, org)`s, and their orgs.
    async fn add_users(store: &SqliteStore, users: &[(&str, &str)]) {
        for (user, org) in users {
            sqlx::query("INSERT INTO orgs VALUES ($1, 0) ON CONFLICT DO NOTHING")
                .bind(org)
                .execute(&store.pool)
                .await
                .unwrap();
            sqlx::query("INSERT INTO users VALUES ($1, $2, 0)")
                .bind(user)
                .bind(org)
                .execute(&store.pool)
                .await
                .unwrap();
        }
    }

    /// A fresh database (gone with the returned dir) and a caller.
    pub(super) async fn store_and_viewer() -> (tempfile::TempDir, SqliteStore, Principal) {
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

    /// The point reads run outside sqlx, on connections of their own: each
    /// must see every write that returned before it, from the group commit
    /// and from a transaction of its own alike.
    #[tokio::test]
    async fn point_reads_see_every_write_that_returned_before_them() {
        use crate::store::{ConnectorStore, KeyStore};
        let (_dir, store, _) = store_and_viewer().await;
        let now = Timestamp::now();
        let key = crate::store::keys::key_fixture("h", now);
        store.create_api_key(&key).await.unwrap();
        let principal = store
            .caller_by_key_hash("h")
            .await
            .unwrap()
            .unwrap()
            .principal;
        assert_eq!(
            (principal.user_id.as_str(), principal.org_id.as_str()),
            ("u", "o")
        );
        let mut connector = crate::domain::connector::research_fixture(now);
        assert!(store.connector(connector.id).await.unwrap().is_none());
        store.insert_connector(&connector).await.unwrap();
        for n in 0..50 {
            connector.label = crate::domain::Label::parse(&format!("label {n}")).unwrap();
            assert!(store.update_connector(&connector).await.unwrap());
            let read = store.connector(connector.id).await.unwrap().unwrap();
            assert_eq!(read.label.as_str(), format!("label {n}"));
        }
        let inbox = Connector {
            id: Uuid::now_v7(),
            config: crate::domain::ConnectorConfig::Email {
                allowed_emails: vec!["desk@broker.example".into()],
                email_hash: crate::domain::connector::new_email_hash(),
            },
            ..crate::domain::connector::research_fixture(now)
        };
        store.insert_connector(&inbox).await.unwrap();
        let hash = inbox.config.email_hash().unwrap();
        let found = store.connector_by_email_hash(hash).await.unwrap().unwrap();
        assert_eq!(found.id, inbox.id);
        assert!(store.revoke_api_key(key.key_id, now).await.unwrap());
        assert!(store.caller_by_key_hash("h").await.unwrap().is_none());
    }

    /// Only a file can be opened twice, by the writers and by the readers.
    #[tokio::test]
    async fn an_in_memory_database_is_refused_with_a_reason() {
        let Err(e) = SqliteStore::open("sqlite::memory:").await else {
            panic!("an in-memory database was accepted");
        };
        assert!(e.to_string().contains("database_url"), "{e}");
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
                file_name: Some("q3".into()),
                offset: 50,
                ownership,
                ..DocumentQuery::newest(51)
            };
            let details = store
                .explain_document_list(&viewer, &query, None)
                .await
                .unwrap();
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

    /// A tag filter walks the links of each tag it can mean, in order: the
    /// viewer's own, and those of the org's other users for shared
    /// documents; never another org's, never the whole visibility range.
    #[tokio::test]
    async fn a_tag_filter_walks_the_links_of_each_tag_it_can_mean_in_order() {
        use crate::store::TagStore;
        let (_dir, store, viewer) = store_and_viewer().await;
        add_users(&store, &[("u", "o"), ("u2", "o"), ("u3", "p")]).await;
        let now = Timestamp::now();
        for user in ["u", "u2", "u3"] {
            store.ensure_tag(user, "macro", now).await.unwrap();
        }
        for (ownership, walks) in [
            (Ownership::All, 2),
            (Ownership::Owned, 1),
            (Ownership::Shared, 1),
        ] {
            let query = DocumentQuery {
                tags: vec!["macro".into()],
                origin: Some(RequestOrigin::Email),
                offset: 50,
                ownership,
                ..DocumentQuery::newest(51)
            };
            let details = store
                .explain_document_list(&viewer, &query, None)
                .await
                .unwrap();
            let tag_walks = details
                .iter()
                .filter(|d| d.contains("USING COVERING INDEX document_tags_by_tag (tag_id=?)"))
                .count();
            assert_eq!(tag_walks, walks, "{ownership:?}: {details:?}");
            // Only the merged page is sorted; a walk is in index order.
            assert!(
                details.iter().all(|d| !d.starts_with("SCAN d"))
                    && details
                        .iter()
                        .filter(|d| d.contains("FOR ORDER BY"))
                        .count()
                        <= 1,
                "{ownership:?}: {details:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_connector_or_an_origin_filter_walks_an_index_of_its_own_in_order() {
        let (_dir, store, viewer) = store_and_viewer().await;
        for ownership in [Ownership::All, Ownership::Owned, Ownership::Shared] {
            let mut query = DocumentQuery {
                origin: Some(RequestOrigin::FileUpload),
                connector_id: Some(Uuid::now_v7()),
                ownership,
                ..DocumentQuery::newest(51)
            };
            let details = store
                .explain_document_list(&viewer, &query, None)
                .await
                .unwrap();
            assert!(
                details.iter().any(|d| d.contains("documents_by_connector"))
                    && details.iter().all(|d| !d.contains("TEMP B-TREE")),
                "{ownership:?}: {details:?}"
            );
            query.connector_id = None;
            let details = store
                .explain_document_list(&viewer, &query, None)
                .await
                .unwrap();
            // Besides the page's rows, read by id last.
            let searches: Vec<&String> = details
                .iter()
                .filter(|d| d.starts_with("SEARCH") && !d.ends_with("(document_id=?)"))
                .collect();
            assert!(
                !searches.is_empty() && searches.iter().all(|d| d.contains("_origin (")),
                "{ownership:?}: {details:?}"
            );
        }
    }

    /// A ranked search ranks the most recently indexed matches the viewer
    /// may see: others' newer unshared matches push none of theirs out,
    /// and pages end after `RANKED_MATCHES`.
    #[tokio::test]
    async fn a_ranked_search_takes_the_newest_matches_the_viewer_may_see() {
        use super::documents::RANKED_MATCHES;
        use crate::domain::Document;
        use crate::store::SearchIndex;
        let (_dir, store, viewer) = store_and_viewer().await;
        add_users(&store, &[("u", "o"), ("u2", "o")]).await;
        let now = Timestamp::now();
        let doc = |user: &str, n: i64| Document {
            user_id: user.into(),
            file_name: format!("lithium note {n}"),
            ..crate::domain::document::document_fixture(now)
        };
        for n in 0..5 {
            store.insert_document(&doc("u", n), &[], &[]).await.unwrap();
        }
        let others: Vec<Document> = (0..RANKED_MATCHES + 20).map(|n| doc("u2", n)).collect();
        for chunk in others.chunks(64) {
            futures_util::future::try_join_all(
                chunk.iter().map(|d| store.insert_document(d, &[], &[])),
            )
            .await
            .unwrap();
        }
        let search = crate::domain::search::SearchQuery::parse("lithium").unwrap();
        let page = |viewer: Principal, offset: u64| {
            let (store, search) = (&store, &search);
            async move {
                let query = DocumentQuery {
                    sort_by: DocumentSort::Relevance,
                    offset,
                    ..DocumentQuery::newest(51)
                };
                store
                    .search_documents(&viewer, &query, search)
                    .await
                    .unwrap()
                    .len()
            }
        };
        assert_eq!(page(viewer.clone(), 0).await, 5);
        let other = Principal {
            user_id: "u2".into(),
            ..viewer
        };
        let last = RANKED_MATCHES as u64 - 10;
        assert_eq!(page(other.clone(), last).await, 10);
        assert_eq!(page(other, last + 10).await, 0);
    }

    #[tokio::test]
    async fn a_search_starts_from_the_full_text_index_and_joins_visible_rows() {
        let (_dir, store, viewer) = store_and_viewer().await;
        let search = crate::domain::search::SearchQuery::parse("lithium \"rate hike\" -x").unwrap();
        for ownership in [Ownership::All, Ownership::Owned, Ownership::Shared] {
            let query = DocumentQuery {
                connector_id: Some(Uuid::now_v7()),
                sort_by: DocumentSort::Relevance,
                ownership,
                ..DocumentQuery::newest(51)
            };
            let details = store
                .explain_document_list(&viewer, &query, Some(&search))
                .await
                .unwrap();
            // FTS5 walks its rows newest first for the window (no sort):
            // only the window is sorted, by relevance.
            assert_eq!(
                details
                    .iter()
                    .filter(|d| d.contains("FOR ORDER BY"))
                    .count(),
                1,
                "{ownership:?}: {details:?}"
            );
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
