//! The embedded default backend: one SQLite file in WAL mode.

use super::rows::{config_columns, ConnectorRow, CONNECTOR_COLUMNS};
use super::{ApiKeyRecord, ConnectorPage, NewApiKey, Ownership, Store, StoreError, StoreResult};
use crate::domain::{Connector, ConnectorState, Principal, Timestamp};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite};
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

pub struct SqliteStore {
    pool: SqlitePool,
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
            .connect_with(options)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the SQLite database {url}: {e}"))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| anyhow::anyhow!("cannot migrate the SQLite database: {e}"))?;
        Ok(Self { pool })
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_api_key(&self, key: &NewApiKey) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
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
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT k.key_id, u.user_id, u.org_id FROM api_keys k \
             JOIN users u ON u.user_id = k.user_id \
             WHERE k.key_hash = ? AND k.revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(key_id, user_id, org_id)| Principal {
            user_id,
            org_id,
            key_id,
        }))
    }

    async fn insert_connector(&self, c: &Connector) -> StoreResult<()> {
        let (email_hash, allowed, research_user, portal, password) = config_columns(&c.config);
        let result = sqlx::query(
            "INSERT INTO connectors (connector_id, user_id, org_id, kind, label, description, \
             share_with_org, state, email_hash, allowed_emails, research_user_id, portal, \
             password_sealed, files_count, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(c.id.to_string())
        .bind(&c.user_id)
        .bind(&c.org_id)
        .bind(c.kind().as_str())
        .bind(c.label.as_str())
        .bind(c.description.as_str())
        .bind(c.share_with_org)
        .bind(c.state.as_str())
        .bind(email_hash)
        .bind(allowed)
        .bind(research_user)
        .bind(portal)
        .bind(password)
        .bind(c.files_count)
        .bind(c.created_at.as_micros())
        .bind(c.updated_at.as_micros())
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(
                "connector id or email_hash taken".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    async fn connector(&self, id: Uuid) -> StoreResult<Option<Connector>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE connector_id = ?"
        ));
        let row: Option<ConnectorRow> = sqlx::query_as(sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(Connector::try_from).transpose()
    }

    async fn list_connectors(
        &self,
        viewer: &Principal,
        page: &ConnectorPage,
    ) -> StoreResult<Vec<Connector>> {
        let rows: Vec<ConnectorRow> = list_query("", viewer, page)
            .build_query_as()
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(Connector::try_from).collect()
    }

    async fn update_connector(&self, c: &Connector) -> StoreResult<bool> {
        let (_, allowed, ..) = config_columns(&c.config);
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
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn archive_connector(&self, id: Uuid, at: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE connectors SET state = ?, updated_at = ? WHERE connector_id = ? AND state = ?",
        )
        .bind(ConnectorState::Archived.as_str())
        .bind(at.as_micros())
        .bind(id.to_string())
        .bind(ConnectorState::Active.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// The page query: one index range per visibility rule, merged, so no list
/// scans the table. `prefix` lets tests ask for the query plan.
fn list_query(prefix: &str, viewer: &Principal, page: &ConnectorPage) -> QueryBuilder<Sqlite> {
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!("{prefix}SELECT * FROM ("));
    let branches: &[Ownership] = match page.ownership {
        Ownership::All => &[Ownership::Owned, Ownership::Shared],
        Ownership::Owned => &[Ownership::Owned],
        Ownership::Shared => &[Ownership::Shared],
    };
    for (i, branch) in branches.iter().enumerate() {
        if i > 0 {
            q.push(") UNION ALL SELECT * FROM (");
        }
        q.push(format_args!(
            "SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE "
        ));
        match branch {
            Ownership::Owned => {
                q.push("user_id = ").push_bind(viewer.user_id.clone());
            }
            _ => {
                q.push("org_id = ")
                    .push_bind(viewer.org_id.clone())
                    .push(" AND share_with_org = 1 AND user_id <> ")
                    .push_bind(viewer.user_id.clone());
            }
        }
        q.push(" AND state <> 'deleting'");
        if let Some(kind) = page.kind {
            q.push(" AND kind = ").push_bind(kind.as_str());
        }
        match page.archived {
            Some(true) => q.push(" AND state = 'archived'"),
            Some(false) => q.push(" AND state = 'active'"),
            None => &mut q,
        };
        if let Some((at, id)) = page.after {
            q.push(" AND (created_at < ")
                .push_bind(at.as_micros())
                .push(" OR (created_at = ")
                .push_bind(at.as_micros())
                .push(" AND connector_id < ")
                .push_bind(id.to_string())
                .push("))");
        }
        q.push(" ORDER BY created_at DESC, connector_id DESC LIMIT ")
            .push_bind(i64::from(page.limit));
    }
    q.push(") ORDER BY created_at DESC, connector_id DESC LIMIT ")
        .push_bind(i64::from(page.limit));
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ConnectorKind;

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
                let plan: Vec<(i64, i64, i64, String)> =
                    list_query("EXPLAIN QUERY PLAN ", &viewer, &page)
                        .build_query_as()
                        .fetch_all(&store.pool)
                        .await
                        .unwrap();
                let details: Vec<&str> = plan.iter().map(|r| r.3.as_str()).collect();
                assert!(
                    details.iter().all(|d| !d.starts_with("SCAN connectors")),
                    "{ownership:?}: {details:?}"
                );
                assert!(
                    details.iter().any(|d| d.contains("USING INDEX")),
                    "{details:?}"
                );
            }
        }
    }
}
