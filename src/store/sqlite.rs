//! The embedded default backend: one SQLite file in WAL mode.

use super::batch::{Fetch, Loader};
use super::group_commit::GroupCommit;
use super::query::{self as lists, is_unique_violation};
use super::rows::{
    config_columns, ConnectorRow, DocumentRow, JobRow, SyncJobRow, TagRow, CONNECTOR_COLUMNS,
    DOCUMENT_COLUMNS, JOB_COLUMNS, SYNC_JOB_COLUMNS, TAG_COLUMNS,
};
use super::{
    ApiKeyRecord, ConnectorPage, DocumentQuery, Ingest, Ingested, Job, NewApiKey, NewJob,
    Processed, Store, StoreError, StoreResult, SyncStart,
};
use crate::domain::{
    Connector, ConnectorState, Document, DocumentId, Principal, SyncJob, SyncStatus, Tag, Timestamp,
};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::SqliteConnection;
use sqlx::{QueryBuilder, Sqlite};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

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
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| anyhow::anyhow!("cannot migrate the SQLite database: {e}"))?;
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
                 WHERE {column} IN (SELECT value FROM json_each(?))"
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
                 WHERE k.key_hash IN (SELECT value FROM json_each(?)) AND k.revoked_at IS NULL",
            )
            .bind(serde_json::to_string(&hashes).expect("strings serialize"))
            .fetch_all(&pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|(hash, key_id, user_id, org_id)| {
                    (
                        hash,
                        Principal {
                            user_id,
                            org_id,
                            key_id,
                        },
                    )
                })
                .collect())
        })
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_api_key(&self, key: &NewApiKey) -> StoreResult<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let now = key.created_at.as_micros();
        sqlx::query("INSERT INTO orgs (org_id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(&key.org_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let existing: Option<String> =
            sqlx::query_scalar("SELECT org_id FROM users WHERE user_id = ?")
                .bind(&key.user_id)
                .fetch_optional(&mut *tx)
                .await?;
        match existing {
            Some(org) if org != key.org_id => {
                return Err(StoreError::Conflict(format!(
                    "user {:?} belongs to org {org:?}",
                    key.user_id
                )))
            }
            Some(_) => {}
            None => {
                sqlx::query("INSERT INTO users (user_id, org_id, created_at) VALUES (?, ?, ?)")
                    .bind(&key.user_id)
                    .bind(&key.org_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        sqlx::query(
            "INSERT INTO api_keys (key_id, key_hash, user_id, name, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(key.key_id.to_string())
        .bind(&key.key_hash)
        .bind(&key.user_id)
        .bind(&key.name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows: Vec<(String, String, String, Option<String>, i64, Option<i64>)> =
            sqlx::query_as(
                "SELECT k.key_id, u.org_id, k.user_id, k.name, k.created_at, k.revoked_at \
                 FROM api_keys k JOIN users u ON u.user_id = k.user_id ORDER BY k.created_at, k.key_id",
            )
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|(id, org_id, user_id, name, created, revoked)| {
                Ok(ApiKeyRecord {
                    key_id: Uuid::try_parse(&id)
                        .map_err(|_| StoreError::Corrupt(format!("api key id {id}")))?,
                    org_id,
                    user_id,
                    name,
                    created_at: Timestamp::from_micros(created),
                    revoked_at: revoked.map(Timestamp::from_micros),
                })
            })
            .collect()
    }

    async fn revoke_api_key(&self, key_id: Uuid, at: Timestamp) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE key_id = ?",
        )
        .bind(at.as_micros())
        .bind(key_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn has_api_keys(&self) -> StoreResult<bool> {
        let any: Option<i64> = sqlx::query_scalar("SELECT 1 FROM api_keys LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(any.is_some())
    }

    async fn principal_by_key_hash(&self, key_hash: &str) -> StoreResult<Option<Principal>> {
        self.principals.load(key_hash.to_string()).await
    }

    async fn insert_connector(&self, c: &Connector) -> StoreResult<()> {
        let c = c.clone();
        self.writes
            .run(move |conn| Box::pin(async move { insert_connector_in(conn, &c).await }))
            .await
    }

    async fn connector(&self, id: Uuid) -> StoreResult<Option<Connector>> {
        self.connectors.load(id).await
    }

    async fn connector_by_email_hash(&self, email_hash: &str) -> StoreResult<Option<Connector>> {
        self.inboxes.load(email_hash.to_string()).await
    }

    async fn list_connectors(
        &self,
        viewer: &Principal,
        page: &ConnectorPage,
    ) -> StoreResult<Vec<Connector>> {
        let rows: Vec<ConnectorRow> = lists::connector_list_query(&lists::SQLITE, "", viewer, page)
            .build_query_as()
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(Connector::try_from).collect()
    }

    async fn update_connector(&self, c: &Connector) -> StoreResult<bool> {
        let (_, allowed, ..) = config_columns(&c.config);
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE connectors SET label = ?, description = ?, share_with_org = ?, \
             allowed_emails = COALESCE(?, allowed_emails), updated_at = ? \
             WHERE connector_id = ? AND state <> 'deleting'",
        )
        .bind(c.label.as_str())
        .bind(c.description.as_str())
        .bind(c.share_with_org)
        .bind(allowed)
        .bind(c.updated_at.as_micros())
        .bind(c.id.to_string())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        // Sharing a connector shares everything it ingested, and vice versa.
        sqlx::query(
            "UPDATE documents SET share_with_org = ?, updated_at = ? \
             WHERE connector_id = ? AND share_with_org <> ?",
        )
        .bind(c.share_with_org)
        .bind(c.updated_at.as_micros())
        .bind(c.id.to_string())
        .bind(c.share_with_org)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn archive_connector(&self, id: Uuid, at: Timestamp) -> StoreResult<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "UPDATE connectors SET state = ?, updated_at = ? WHERE connector_id = ? AND state = ?",
        )
        .bind(ConnectorState::Archived.as_str())
        .bind(at.as_micros())
        .bind(id.to_string())
        .bind(ConnectorState::Active.as_str())
        .execute(&mut *tx)
        .await?;
        stop_syncs(&mut tx, id, at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn begin_hard_delete(
        &self,
        id: Uuid,
        at: Timestamp,
        purge: &NewJob,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE connectors SET state = 'deleting', updated_at = ? \
             WHERE connector_id = ? AND state <> 'deleting'",
        )
        .bind(at.as_micros())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_job(&mut tx, purge, at).await?;
        stop_syncs(&mut tx, id, at).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn connector_documents(
        &self,
        connector: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<(DocumentId, Option<String>)>> {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT document_id, blob_key FROM documents WHERE connector_id = ? \
             ORDER BY created_at DESC LIMIT ?",
        )
        .bind(connector.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, key)| {
                DocumentId::parse(&id)
                    .map(|id| (id, key))
                    .ok_or_else(|| StoreError::Corrupt(format!("document id {id}")))
            })
            .collect()
    }

    async fn delete_documents(&self, ids: &[DocumentId]) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut deleted = 0;
        for chunk in ids.chunks(500) {
            let mut q: QueryBuilder<Sqlite> =
                QueryBuilder::new("DELETE FROM documents WHERE document_id IN (");
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id.as_str().to_string());
            }
            q.push(") RETURNING connector_id");
            let connectors: Vec<Option<String>> =
                q.build_query_scalar().fetch_all(&mut *tx).await?;
            deleted += connectors.len() as u64;
            let mut per_connector: HashMap<String, i64> = HashMap::new();
            for c in connectors.into_iter().flatten() {
                *per_connector.entry(c).or_default() += 1;
            }
            for (connector, n) in per_connector {
                sqlx::query(
                    "UPDATE connectors SET files_count = files_count - ? WHERE connector_id = ?",
                )
                .bind(n)
                .bind(connector)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn finish_purge(&self, connector: Uuid) -> StoreResult<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let owner: Option<String> =
            sqlx::query_scalar("SELECT user_id FROM connectors WHERE connector_id = ?")
                .bind(connector.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(owner) = owner else {
            return Ok(()); // already purged
        };
        sqlx::query(
            "DELETE FROM tags WHERE user_id = ? AND automatic = 1 \
             AND NOT EXISTS (SELECT 1 FROM document_tags dt WHERE dt.tag_id = tags.tag_id)",
        )
        .bind(&owner)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sync_jobs WHERE connector_id = ?")
            .bind(connector.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM connectors WHERE connector_id = ?")
            .bind(connector.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_document(
        &self,
        doc: &Document,
        user_tags: &[String],
        auto_tags: &[String],
    ) -> StoreResult<Document> {
        let (doc, user_tags, auto_tags) = (doc.clone(), user_tags.to_vec(), auto_tags.to_vec());
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    insert_document_in(conn, &doc, &user_tags, &auto_tags, None).await
                })
            })
            .await
    }

    async fn insert_ingested(&self, ingest: &Ingest<'_>) -> StoreResult<Ingested> {
        let doc = ingest.doc.clone();
        let auto_tags = ingest.auto_tags.to_vec();
        let dedupe_key = ingest.dedupe_key.to_string();
        let follow_up = ingest.follow_up.cloned();
        let also_archived = ingest.also_archived;
        let senders: Option<Vec<String>> = ingest
            .senders
            .map(|s| s.iter().map(|s| s.to_string()).collect());
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    let senders: Option<Vec<&str>> = senders
                        .as_ref()
                        .map(|s| s.iter().map(String::as_str).collect());
                    let ingest = Ingest {
                        doc: &doc,
                        auto_tags: &auto_tags,
                        dedupe_key: &dedupe_key,
                        follow_up: follow_up.as_ref(),
                        also_archived,
                        senders: senders.as_deref(),
                    };
                    ingest_in(conn, &ingest).await
                })
            })
            .await
    }

    async fn document(&self, id: &DocumentId) -> StoreResult<Option<Document>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents d WHERE d.document_id = ?"
        ));
        let row: Option<DocumentRow> = sqlx::query_as(sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut docs = vec![Document::try_from(row)?];
        self.attach_tags(&mut docs).await?;
        Ok(docs.pop())
    }

    async fn list_documents(
        &self,
        viewer: &Principal,
        query: &DocumentQuery,
    ) -> StoreResult<Vec<Document>> {
        let rows: Vec<DocumentRow> = lists::document_list_query(&lists::SQLITE, "", viewer, query)
            .build_query_as()
            .fetch_all(&self.pool)
            .await?;
        let mut docs = rows
            .into_iter()
            .map(Document::try_from)
            .collect::<StoreResult<Vec<_>>>()?;
        self.attach_tags(&mut docs).await?;
        Ok(docs)
    }

    async fn attach_upload(
        &self,
        id: &DocumentId,
        blob_key: &str,
        at: Timestamp,
        process: &NewJob,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE documents SET status = 'processing', blob_key = ?, updated_at = ? \
             WHERE document_id = ? AND status = 'pending'",
        )
        .bind(blob_key)
        .bind(at.as_micros())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_job(&mut tx, process, at).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn record_processing(
        &self,
        id: &DocumentId,
        p: &Processed,
        at: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE documents SET status = ?, raw_size = ?, sha256 = ?, content_type = ?, \
             error_code = ?, updated_at = ? WHERE document_id = ?",
        )
        .bind(p.status.as_str())
        .bind(p.raw_size)
        .bind(&p.sha256)
        .bind(&p.content_type)
        .bind(&p.error_code)
        .bind(at.as_micros())
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn update_document(
        &self,
        id: &DocumentId,
        tag_ids: Option<&[Uuid]>,
        share_with_org: Option<bool>,
        at: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if let Some(ids) = tag_ids {
            sqlx::query("DELETE FROM document_tags WHERE document_id = ?")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            for tag in ids {
                sqlx::query(
                    "INSERT OR IGNORE INTO document_tags (document_id, tag_id) VALUES (?, ?)",
                )
                .bind(id.as_str())
                .bind(tag.to_string())
                .execute(&mut *tx)
                .await?;
            }
        }
        sqlx::query(
            "UPDATE documents SET share_with_org = COALESCE(?, share_with_org), updated_at = ? \
             WHERE document_id = ?",
        )
        .bind(share_with_org)
        .bind(at.as_micros())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_document(&self, id: &DocumentId) -> StoreResult<bool> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let connector: Option<Option<String>> = sqlx::query_scalar(
            "DELETE FROM documents WHERE document_id = ? RETURNING connector_id",
        )
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(connector) = connector else {
            return Ok(false);
        };
        if let Some(connector) = connector {
            sqlx::query(
                "UPDATE connectors SET files_count = files_count - 1 WHERE connector_id = ?",
            )
            .bind(connector)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn referenced_blob_keys(&self, keys: &[String]) -> StoreResult<HashSet<String>> {
        let mut found = HashSet::new();
        for chunk in keys.chunks(500) {
            let mut q: QueryBuilder<Sqlite> =
                QueryBuilder::new("SELECT blob_key FROM documents WHERE blob_key IN (");
            let mut list = q.separated(", ");
            for key in chunk {
                list.push_bind(key.clone());
            }
            q.push(")");
            let rows: Vec<String> = q.build_query_scalar().fetch_all(&self.pool).await?;
            found.extend(rows);
        }
        Ok(found)
    }

    async fn ensure_tag(&self, user_id: &str, name: &str, at: Timestamp) -> StoreResult<Tag> {
        let mut conn = self.pool.acquire().await?;
        let mut tags = ensure_tags_in(&mut conn, user_id, &[(name, false)], at).await?;
        tags.pop()
            .ok_or_else(|| StoreError::Corrupt("the tag upsert returned no row".into()))
    }

    async fn list_tags(&self, user_id: &str, prefix: &str) -> StoreResult<Vec<(Tag, i64)>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TAG_COLUMNS}, (SELECT COUNT(*) FROM document_tags dt WHERE dt.tag_id = t.tag_id) AS file_count \
             FROM tags t WHERE t.user_id = ? AND substr(t.name, 1, length(?)) = ? ORDER BY t.name"
        ));
        let rows: Vec<(String, String, String, i64, i64, i64)> = sqlx::query_as(sql)
            .bind(user_id)
            .bind(prefix)
            .bind(prefix)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|(tag_id, user_id, name, created_at, updated_at, count)| {
                Ok((
                    Tag::try_from(TagRow {
                        tag_id,
                        user_id,
                        name,
                        created_at,
                        updated_at,
                    })?,
                    count,
                ))
            })
            .collect()
    }

    async fn owned_tags(&self, user_id: &str, ids: &[Uuid]) -> StoreResult<Vec<Tag>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT {TAG_COLUMNS} FROM tags t WHERE t.user_id = "
        ));
        q.push_bind(user_id.to_string()).push(" AND t.tag_id IN (");
        let mut list = q.separated(", ");
        for id in ids {
            list.push_bind(id.to_string());
        }
        q.push(")");
        let rows: Vec<TagRow> = q.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter().map(Tag::try_from).collect()
    }

    async fn enqueue_job(&self, job: &NewJob) -> StoreResult<bool> {
        let mut conn = self.pool.acquire().await?;
        match insert_job(&mut conn, job, Timestamp::now()).await {
            Ok(()) => Ok(true),
            Err(StoreError::Backend(e)) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn claim_job(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
    ) -> StoreResult<Option<Job>> {
        let expires = now.as_micros() + lease.as_micros() as i64;
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?, \
             attempts = attempts + 1, updated_at = ? \
             WHERE job_id = (SELECT job_id FROM jobs \
                 WHERE (state = 'queued' AND run_at <= ?) OR (state = 'running' AND lease_expires_at < ?) \
                 ORDER BY run_at LIMIT 1) \
             RETURNING {JOB_COLUMNS}"
        ));
        let row: Option<JobRow> = sqlx::query_as(sql)
            .bind(worker)
            .bind(expires)
            .bind(now.as_micros())
            .bind(now.as_micros())
            .bind(now.as_micros())
            .fetch_optional(&self.pool)
            .await?;
        row.map(Job::try_from).transpose()
    }

    async fn finish_job(&self, id: Uuid, worker: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM jobs WHERE job_id = ? AND lease_owner = ?")
            .bind(id.to_string())
            .bind(worker)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn extend_lease(&self, id: Uuid, worker: &str, until: Timestamp) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_expires_at = ? WHERE job_id = ? AND lease_owner = ? AND state = 'running'",
        )
        .bind(until.as_micros())
        .bind(id.to_string())
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn requeue_job(&self, id: Uuid, worker: &str, run_at: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE jobs SET state = 'queued', run_at = ?, attempts = MAX(attempts - 1, 0), \
             lease_owner = NULL, lease_expires_at = NULL, updated_at = ? \
             WHERE job_id = ? AND lease_owner = ?",
        )
        .bind(run_at.as_micros())
        .bind(Timestamp::now().as_micros())
        .bind(id.to_string())
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn retry_job(
        &self,
        id: Uuid,
        worker: &str,
        error: &str,
        run_at: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE jobs SET state = 'queued', run_at = ?, last_error = ?, lease_owner = NULL, \
             lease_expires_at = NULL, updated_at = ? WHERE job_id = ? AND lease_owner = ?",
        )
        .bind(run_at.as_micros())
        .bind(error)
        .bind(Timestamp::now().as_micros())
        .bind(id.to_string())
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn bury_job(&self, id: Uuid, worker: &str, error: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE jobs SET state = 'dead', last_error = ?, lease_owner = NULL, \
             lease_expires_at = NULL, updated_at = ? WHERE job_id = ? AND lease_owner = ?",
        )
        .bind(error)
        .bind(Timestamp::now().as_micros())
        .bind(id.to_string())
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn release_leases(&self, worker: &str) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, \
             attempts = MAX(attempts - 1, 0) WHERE state = 'running' AND lease_owner = ?",
        )
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn job_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        Ok(
            sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn create_sync_job(&self, sync: &SyncJob, run: &NewJob) -> StoreResult<SyncStart> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let active: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM connectors WHERE connector_id = ? AND state = 'active'",
        )
        .bind(sync.connector_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        if active.is_none() {
            return Ok(SyncStart::Inactive);
        }
        let inserted = sqlx::query(
            "INSERT INTO sync_jobs (sync_job_id, connector_id, status, trigger_method, date_limit, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(sync.id.to_string())
        .bind(sync.connector_id.to_string())
        .bind(sync.status.as_str())
        .bind(sync.trigger_method.as_str())
        .bind(&sync.date_limit)
        .bind(sync.created_at.as_micros())
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Ok(SyncStart::InProgress),
            other => {
                other?;
            }
        }
        insert_job(&mut tx, run, sync.created_at).await?;
        tx.commit().await?;
        Ok(SyncStart::Created)
    }

    async fn sync_job(&self, id: Uuid) -> StoreResult<Option<SyncJob>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {SYNC_JOB_COLUMNS} FROM sync_jobs WHERE sync_job_id = ?"
        ));
        let row: Option<SyncJobRow> = sqlx::query_as(sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(SyncJob::try_from).transpose()
    }

    async fn sync_jobs(&self, connector: Uuid, limit: u32) -> StoreResult<Vec<SyncJob>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {SYNC_JOB_COLUMNS} FROM sync_jobs WHERE connector_id = ? \
             ORDER BY created_at DESC, sync_job_id DESC LIMIT ?"
        ));
        let rows: Vec<SyncJobRow> = sqlx::query_as(sql)
            .bind(connector.to_string())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(SyncJob::try_from).collect()
    }

    async fn cancel_sync_job(&self, id: Uuid, at: Timestamp) -> StoreResult<Option<SyncJob>> {
        sqlx::query(
            "UPDATE sync_jobs SET status = CASE status WHEN 'pending' THEN 'canceled' ELSE 'canceling' END, \
             completed_at = CASE status WHEN 'pending' THEN ? ELSE completed_at END \
             WHERE sync_job_id = ? AND status IN ('pending', 'in_progress')",
        )
        .bind(at.as_micros())
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        self.sync_job(id).await
    }

    async fn start_sync_job(&self, id: Uuid, at: Timestamp) -> StoreResult<Option<SyncJob>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let started = sqlx::query(
            "UPDATE sync_jobs SET status = 'in_progress', started_at = ? \
             WHERE sync_job_id = ? AND status = 'pending'",
        )
        .bind(at.as_micros())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        if started.rows_affected() == 1 {
            sqlx::query(
                "UPDATE connectors SET last_sync_status = 'IN_PROGRESS', last_sync_at = ?, \
                 last_sync_error_msg = NULL, last_sync_count = NULL \
                 WHERE connector_id = (SELECT connector_id FROM sync_jobs WHERE sync_job_id = ?)",
            )
            .bind(at.as_micros())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.sync_job(id).await
    }

    async fn sync_progress(&self, id: Uuid, indexed: i64, skipped: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sync_jobs SET indexed_document_count = ?, skipped_document_count = ? WHERE sync_job_id = ?",
        )
        .bind(indexed)
        .bind(skipped)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn finish_sync_job(
        &self,
        id: Uuid,
        status: SyncStatus,
        error: Option<&str>,
        indexed: i64,
        skipped: i64,
        at: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE sync_jobs SET status = ?, error = ?, indexed_document_count = ?, \
             skipped_document_count = ?, completed_at = ? \
             WHERE sync_job_id = ? AND status IN ('pending', 'in_progress', 'canceling')",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(indexed)
        .bind(skipped)
        .bind(at.as_micros())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            sqlx::query(
                "UPDATE connectors SET last_sync_status = ?, last_sync_at = ?, \
                 last_sync_error_msg = ?, last_sync_count = ? \
                 WHERE connector_id = (SELECT connector_id FROM sync_jobs WHERE sync_job_id = ?)",
            )
            .bind(status.connector_status())
            .bind(at.as_micros())
            .bind(error)
            .bind(indexed)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delete_sync_jobs(&self, connector: Uuid) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM sync_jobs WHERE connector_id = ? \
             AND status IN ('canceled', 'completed', 'error')",
        )
        .bind(connector.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn ingested(
        &self,
        connector: Uuid,
        dedupe_key: Option<&str>,
        sha256: Option<&str>,
    ) -> StoreResult<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM documents WHERE connector_id = ?1 AND dedupe_key = ?2 \
             UNION ALL SELECT 1 FROM documents WHERE connector_id = ?1 AND sha256 = ?3 LIMIT 1",
        )
        .bind(connector.to_string())
        .bind(dedupe_key)
        .bind(sha256)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    async fn set_next_sync(&self, connector: Uuid, at: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE connectors SET next_sync_at = ? WHERE connector_id = ?")
            .bind(at.as_micros())
            .bind(connector.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn due_syncs(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<(Connector, Timestamp)>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {CONNECTOR_COLUMNS}, next_sync_at FROM connectors \
             WHERE kind = 'investment_research' AND state = 'active' AND next_sync_at <= ? \
             ORDER BY next_sync_at LIMIT ?"
        ));
        let rows: Vec<sqlx::sqlite::SqliteRow> = sqlx::query(sql)
            .bind(now.as_micros())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                use sqlx::{FromRow, Row};
                let next: i64 = row.try_get("next_sync_at")?;
                Ok((
                    Connector::try_from(ConnectorRow::from_row(&row)?)?,
                    Timestamp::from_micros(next),
                ))
            })
            .collect()
    }

    async fn advance_next_sync(
        &self,
        connector: Uuid,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE connectors SET next_sync_at = ? WHERE connector_id = ? AND next_sync_at = ?",
        )
        .bind(to.as_micros())
        .bind(connector.to_string())
        .bind(from.as_micros())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn jobs(&self) -> StoreResult<Vec<Job>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY run_at"));
        let rows: Vec<JobRow> = sqlx::query_as(sql).fetch_all(&self.pool).await?;
        rows.into_iter().map(Job::try_from).collect()
    }
}

impl SqliteStore {
    /// Fills in the tags of a page of documents with one query.
    async fn attach_tags(&self, docs: &mut [Document]) -> StoreResult<()> {
        if docs.is_empty() {
            return Ok(());
        }
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT dt.document_id, {TAG_COLUMNS} FROM document_tags dt \
             JOIN tags t ON t.tag_id = dt.tag_id WHERE dt.document_id IN ("
        ));
        let mut list = q.separated(", ");
        for d in docs.iter() {
            list.push_bind(d.id.as_str().to_string());
        }
        q.push(") ORDER BY t.name");
        let rows: Vec<(String, String, String, String, i64, i64)> =
            q.build_query_as().fetch_all(&self.pool).await?;
        let mut by_doc: HashMap<String, Vec<Tag>> = HashMap::new();
        for (doc_id, tag_id, user_id, name, created_at, updated_at) in rows {
            by_doc
                .entry(doc_id)
                .or_default()
                .push(Tag::try_from(TagRow {
                    tag_id,
                    user_id,
                    name,
                    created_at,
                    updated_at,
                })?);
        }
        for d in docs.iter_mut() {
            d.tags = by_doc.remove(d.id.as_str()).unwrap_or_default();
        }
        Ok(())
    }
}

/// Creates the named tags a user lacks, in one statement, and returns all
/// of them in the order named (each name once). A user-made tag stays
/// user-made; an automatic one becomes user-made once the user asks for it
/// by name.
async fn ensure_tags_in(
    conn: &mut SqliteConnection,
    user_id: &str,
    named: &[(&str, bool)],
    at: Timestamp,
) -> StoreResult<Vec<Tag>> {
    let mut names: Vec<(&str, bool)> = Vec::with_capacity(named.len());
    for &(name, automatic) in named {
        match names.iter_mut().find(|(n, _)| *n == name) {
            Some(seen) => seen.1 &= automatic,
            None => names.push((name, automatic)),
        }
    }
    if names.is_empty() {
        return Ok(vec![]);
    }
    let mut upsert = QueryBuilder::<Sqlite>::new(
        "INSERT INTO tags (tag_id, user_id, name, automatic, created_at, updated_at) ",
    );
    upsert.push_values(&names, |mut row, (name, automatic)| {
        row.push_bind(Uuid::now_v7().to_string())
            .push_bind(user_id)
            .push_bind(*name)
            .push_bind(*automatic)
            .push_bind(at.as_micros())
            .push_bind(at.as_micros());
    });
    // The upsert writes every row, so RETURNING yields each tag either way.
    upsert.push(
        " ON CONFLICT (user_id, name) DO UPDATE SET automatic = MIN(tags.automatic, excluded.automatic) \
         RETURNING tag_id, user_id, name, created_at, updated_at",
    );
    let rows: Vec<TagRow> = upsert.build_query_as().fetch_all(&mut *conn).await?;
    let mut tags: Vec<Tag> = rows
        .into_iter()
        .map(Tag::try_from)
        .collect::<StoreResult<_>>()?;
    tags.sort_by_key(|t| names.iter().position(|(n, _)| *n == t.name));
    Ok(tags)
}

/// Halts a connector's syncs: a pending one is canceled, a running one is
/// asked to stop (it notices before its next file).
async fn stop_syncs(
    conn: &mut SqliteConnection,
    connector: Uuid,
    at: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE sync_jobs SET status = CASE status WHEN 'pending' THEN 'canceled' ELSE 'canceling' END, \
         completed_at = CASE status WHEN 'pending' THEN ? ELSE completed_at END \
         WHERE connector_id = ? AND status IN ('pending', 'in_progress')",
    )
    .bind(at.as_micros())
    .bind(connector.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_connector_in(conn: &mut SqliteConnection, c: &Connector) -> StoreResult<()> {
    let result = lists::insert_connector_query::<Sqlite>(c)
        .build()
        .execute(&mut *conn)
        .await;
    lists::connector_inserted(result)
}

/// Inside a write transaction, so the reads and the insert are one
/// serialized step: an archive or an update either precedes it or follows it.
async fn ingest_in(conn: &mut SqliteConnection, ingest: &Ingest<'_>) -> StoreResult<Ingested> {
    let doc = ingest.doc;
    let connector = doc
        .connector_id
        .ok_or_else(|| StoreError::Corrupt("an ingested document needs a connector".into()))?;
    let current: Option<(String, bool, Option<String>, bool)> = sqlx::query_as(
        "SELECT state, share_with_org, allowed_emails, EXISTS (SELECT 1 FROM documents \
         WHERE connector_id = ?1 AND dedupe_key = ?2) FROM connectors WHERE connector_id = ?1",
    )
    .bind(connector.to_string())
    .bind(ingest.dedupe_key)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((state, share_with_org, allowed, duplicate)) = current else {
        return Ok(Ingested::ConnectorInactive);
    };
    if !(state == "active" || (ingest.also_archived && state == "archived")) {
        return Ok(Ingested::ConnectorInactive);
    }
    if let Some(senders) = ingest.senders {
        let allowed: Vec<String> = allowed
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        let ok = senders
            .iter()
            .any(|s| allowed.iter().any(|a| a.eq_ignore_ascii_case(s)));
        if !ok {
            return Ok(Ingested::SenderNotAllowed);
        }
    }
    if duplicate {
        return Ok(Ingested::Duplicate);
    }
    let doc = Document {
        share_with_org,
        ..doc.clone()
    };
    insert_document_in(conn, &doc, &[], ingest.auto_tags, Some(ingest.dedupe_key)).await?;
    if let Some(job) = ingest.follow_up {
        insert_job(conn, job, doc.created_at).await?;
    }
    Ok(Ingested::Stored)
}

/// Inserts a document with its tags and counts it in its connector.
async fn insert_document_in(
    conn: &mut SqliteConnection,
    doc: &Document,
    user_tags: &[String],
    auto_tags: &[String],
    dedupe_key: Option<&str>,
) -> StoreResult<Document> {
    sqlx::query(
        "INSERT INTO documents (document_id, user_id, org_id, connector_id, rp_collection_id, \
         file_name, raw_size, content_type, request_origin, status, error_code, share_with_org, \
         published_at, created_at, updated_at, file_metadata, sha256, blob_key, dedupe_key) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(doc.id.as_str())
    .bind(&doc.user_id)
    .bind(&doc.org_id)
    .bind(doc.connector_id.map(|c| c.to_string()))
    .bind(&doc.rp_collection_id)
    .bind(&doc.file_name)
    .bind(doc.raw_size)
    .bind(&doc.content_type)
    .bind(doc.request_origin.as_str())
    .bind(doc.status.as_str())
    .bind(&doc.error_code)
    .bind(doc.share_with_org)
    .bind(doc.published_at.map(Timestamp::as_micros))
    .bind(doc.created_at.as_micros())
    .bind(doc.updated_at.as_micros())
    .bind(serde_json::Value::Object(doc.file_metadata.clone()).to_string())
    .bind(&doc.sha256)
    .bind(&doc.blob_key)
    .bind(dedupe_key)
    .execute(&mut *conn)
    .await?;
    let named: Vec<(&str, bool)> = user_tags
        .iter()
        .map(|n| (n.as_str(), false))
        .chain(auto_tags.iter().map(|n| (n.as_str(), true)))
        .collect();
    let tags = ensure_tags_in(&mut *conn, &doc.user_id, &named, doc.created_at).await?;
    if !tags.is_empty() {
        let mut link = QueryBuilder::<Sqlite>::new(
            "INSERT OR IGNORE INTO document_tags (document_id, tag_id) ",
        );
        link.push_values(&tags, |mut row, tag| {
            row.push_bind(doc.id.as_str()).push_bind(tag.id.to_string());
        });
        link.build().execute(&mut *conn).await?;
    }
    if let Some(connector) = doc.connector_id {
        sqlx::query("UPDATE connectors SET files_count = files_count + 1 WHERE connector_id = ?")
            .bind(connector.to_string())
            .execute(&mut *conn)
            .await?;
    }
    let mut stored = doc.clone();
    stored.tags = tags;
    Ok(stored)
}

async fn insert_job(conn: &mut SqliteConnection, job: &NewJob, now: Timestamp) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO jobs (job_id, kind, payload, state, run_at, attempts, max_attempts, \
         dedupe_key, created_at, updated_at) VALUES (?, ?, ?, 'queued', ?, 0, ?, ?, ?, ?)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(&job.kind)
    .bind(job.payload.to_string())
    .bind(job.run_at.as_micros())
    .bind(job.max_attempts)
    .bind(&job.dedupe_key)
    .bind(now.as_micros())
    .bind(now.as_micros())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::connector::Sealed;
    use crate::domain::{
        ConnectorConfig, ConnectorKind, Description, DocumentStatus, Label, RequestOrigin,
    };
    use crate::store::{DocumentSort, Ownership};

    #[tokio::test]
    async fn connector_lists_search_an_index_and_never_scan() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let viewer = Principal {
            user_id: "u".into(),
            org_id: "o".into(),
            key_id: "k".into(),
        };
        for ownership in [Ownership::All, Ownership::Owned, Ownership::Shared] {
            for after in [None, Some((Timestamp::from_micros(5), Uuid::now_v7()))] {
                let page = ConnectorPage {
                    kind: Some(ConnectorKind::Email),
                    archived: Some(false),
                    ownership,
                    after,
                    limit: 51,
                };
                let plan: Vec<(i64, i64, i64, String)> = lists::connector_list_query(
                    &lists::SQLITE,
                    "EXPLAIN QUERY PLAN ",
                    &viewer,
                    &page,
                )
                .build_query_as()
                .fetch_all(&store.pool)
                .await
                .unwrap();
                let details: Vec<&str> = plan.iter().map(|r| r.3.as_str()).collect();
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
    async fn document_lists_search_indexes_and_never_scan() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let viewer = Principal {
            user_id: "u".into(),
            org_id: "o".into(),
            key_id: "k".into(),
        };
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
            let plan: Vec<(i64, i64, i64, String)> =
                lists::document_list_query(&lists::SQLITE, "EXPLAIN QUERY PLAN ", &viewer, &query)
                    .build_query_as()
                    .fetch_all(&store.pool)
                    .await
                    .unwrap();
            let details: Vec<&str> = plan.iter().map(|r| r.3.as_str()).collect();
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
    async fn connector_documents_are_counted_and_follow_its_sharing() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let now = Timestamp::now();
        store
            .create_api_key(&crate::store::NewApiKey {
                key_id: Uuid::now_v7(),
                key_hash: "h".into(),
                org_id: "o".into(),
                user_id: "u".into(),
                name: None,
                created_at: now,
            })
            .await
            .unwrap();
        let mut connector = Connector {
            id: Uuid::now_v7(),
            user_id: "u".into(),
            org_id: "o".into(),
            share_with_org: false,
            label: Label::parse("c").unwrap(),
            description: Description::default(),
            config: ConnectorConfig::InvestmentResearch {
                user_id: "x".into(),
                portal: "p".into(),
                password: Sealed(vec![1]),
            },
            state: ConnectorState::Active,
            files_count: 0,
            last_sync: None,
            created_at: now,
            updated_at: now,
        };
        store.insert_connector(&connector).await.unwrap();
        let mut ids = vec![];
        for _ in 0..3 {
            let doc = Document {
                id: DocumentId::new(),
                user_id: "u".into(),
                org_id: "o".into(),
                connector_id: Some(connector.id),
                rp_collection_id: None,
                file_name: "f".into(),
                raw_size: None,
                content_type: None,
                request_origin: RequestOrigin::InvestmentResearch,
                status: DocumentStatus::Completed,
                error_code: None,
                share_with_org: false,
                published_at: None,
                created_at: now,
                updated_at: now,
                file_metadata: Default::default(),
                sha256: None,
                blob_key: None,
                tags: vec![],
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
