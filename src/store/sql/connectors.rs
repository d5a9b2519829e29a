// Connectors (compiled per backend by `statements!`).

use super::events::insert_event;
use super::syncs::stop_syncs;
use crate::domain::{Connector, ConnectorState, Event, Principal, Timestamp};
use crate::store::sql::is_unique_violation;
use crate::store::sql::rows::{config_columns, ConnectorRow, CONNECTOR_COLUMNS};
use crate::store::{ConnectorPage, ConnectorStore, NewJob, StoreError, StoreResult};
use async_trait::async_trait;
use sqlx::QueryBuilder;
use uuid::Uuid;

#[async_trait]
impl ConnectorStore for Backend {
    async fn insert_connector(&self, c: &Connector) -> StoreResult<()> {
        let c = c.clone();
        self.write(move |conn| Box::pin(async move { insert_connector(conn, &c).await }))
            .await
    }

    async fn connector(&self, id: Uuid) -> StoreResult<Option<Connector>> {
        self.connector_by_id(id).await
    }

    async fn connector_by_email_hash(&self, email_hash: &str) -> StoreResult<Option<Connector>> {
        self.connector_by_inbox(email_hash).await
    }

    async fn list_connectors(
        &self,
        viewer: &Principal,
        page: &ConnectorPage,
    ) -> StoreResult<Vec<Connector>> {
        let rows: Vec<ConnectorRow> = list_query("", viewer, page)
            .build_query_as()
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(Connector::try_from).collect()
    }

    async fn update_connector(&self, c: &Connector) -> StoreResult<bool> {
        let (_, allowed, ..) = config_columns(&c.config);
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE connectors SET label = $1, description = $2, share_with_org = $3, \
             allowed_emails = COALESCE($4, allowed_emails), updated_at = $5 \
             WHERE connector_id = $6 AND state <> 'deleting'",
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
            "UPDATE documents SET share_with_org = $1, updated_at = $2 \
             WHERE connector_id = $3 AND share_with_org <> $1",
        )
        .bind(c.share_with_org)
        .bind(c.updated_at.as_micros())
        .bind(c.id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn archive_connector(&self, id: Uuid, at: Timestamp, event: &Event) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        // A paused connector's row is `active` too.
        let done = sqlx::query(
            "UPDATE connectors SET state = $1, updated_at = $2, paused_at = NULL \
             WHERE connector_id = $3 AND state = $4",
        )
        .bind(ConnectorState::Archived.as_str())
        .bind(at.as_micros())
        .bind(id.to_string())
        .bind(ConnectorState::Active.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            insert_event(&mut tx, event).await?;
        }
        stop_syncs(&mut tx, id, at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_paused(
        &self,
        id: Uuid,
        paused: bool,
        at: Timestamp,
        event: &Event,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(if paused {
            "UPDATE connectors SET paused_at = $1, updated_at = $1 \
             WHERE connector_id = $2 AND state = 'active' AND paused_at IS NULL"
        } else {
            "UPDATE connectors SET paused_at = NULL, updated_at = $1 \
             WHERE connector_id = $2 AND state = 'active' AND paused_at IS NOT NULL"
        })
        .bind(at.as_micros())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if paused {
            stop_syncs(&mut tx, id, at).await?;
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn begin_hard_delete(
        &self,
        id: Uuid,
        at: Timestamp,
        purge: &NewJob,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE connectors SET state = 'deleting', paused_at = NULL, updated_at = $1 \
             WHERE connector_id = $2 AND state <> 'deleting'",
        )
        .bind(at.as_micros())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        super::jobs::insert_job(&mut tx, purge, at).await?;
        stop_syncs(&mut tx, id, at).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn finish_purge(&self, connector: Uuid) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let owner: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT user_id FROM connectors WHERE connector_id = $1{}",
            DIALECT.row_lock
        )))
        .bind(connector.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(owner) = owner else {
            return Ok(()); // already purged
        };
        sqlx::query(
            "DELETE FROM tags WHERE user_id = $1 AND automatic = TRUE \
             AND NOT EXISTS (SELECT 1 FROM document_tags dt WHERE dt.tag_id = tags.tag_id)",
        )
        .bind(&owner)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM connector_events WHERE connector_id = $1")
            .bind(connector.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sync_jobs WHERE connector_id = $1")
            .bind(connector.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM connectors WHERE connector_id = $1")
            .bind(connector.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn connector_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT CASE WHEN paused_at IS NULL THEN state ELSE 'paused' END AS s, COUNT(*) \
             FROM connectors GROUP BY s",
        )
        .fetch_all(self.pool())
        .await?)
    }
}

/// Locks a connector's row until the transaction ends, so that what the
/// transaction reads next (the connector, its documents) stays as read
/// until it commits. A statement that follows the lock sees what the lock's
/// previous holder committed. SQLite's write transaction holds the one
/// write lock already.
pub(in crate::store) async fn lock_connector(conn: &mut Conn, id: Uuid) -> StoreResult<()> {
    if DIALECT.row_lock.is_empty() {
        return Ok(());
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT 1 FROM connectors WHERE connector_id = $1{}",
        DIALECT.row_lock
    )))
    .bind(id.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A new connector's row; a taken id or inbox is a conflict.
pub(in crate::store) async fn insert_connector(conn: &mut Conn, c: &Connector) -> StoreResult<()> {
    let (email_hash, allowed, research_user, portal, password) = config_columns(&c.config);
    let inserted = sqlx::query(
        "INSERT INTO connectors (connector_id, user_id, org_id, kind, label, description, \
         share_with_org, state, email_hash, allowed_emails, research_user_id, portal, \
         password_sealed, files_count, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(c.id.to_string())
    .bind(&c.user_id)
    .bind(&c.org_id)
    .bind(c.kind().as_str())
    .bind(c.label.as_str())
    .bind(c.description.as_str())
    .bind(c.share_with_org)
    // Paused is `active` with `paused_at` set (never inserted so anyway).
    .bind(match c.state {
        ConnectorState::Paused => ConnectorState::Active.as_str(),
        s => s.as_str(),
    })
    .bind(email_hash)
    .bind(allowed)
    .bind(research_user)
    .bind(portal)
    .bind(password)
    .bind(c.files_count)
    .bind(c.created_at.as_micros())
    .bind(c.updated_at.as_micros())
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(
            "connector id or email_hash taken".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The connector page query, newest first after the keyset position;
/// `prefix` goes before it (`EXPLAIN QUERY PLAN ` in tests).
pub(in crate::store) fn list_query(
    prefix: &str,
    viewer: &Principal,
    page: &ConnectorPage,
) -> QueryBuilder<Db> {
    let walk = super::visibility::Walk {
        prefix,
        alias: "c",
        viewer,
        ownership: page.ownership,
        order: "created_at DESC, connector_id DESC",
        limit: i64::from(page.limit),
        offset: 0,
    };
    super::visibility::visible_union(
        &walk,
        |b| {
            b.push(format_args!("SELECT {CONNECTOR_COLUMNS} FROM connectors c"));
        },
        |q| {
            q.push(" AND c.state <> 'deleting'");
            if let Some(kind) = page.kind {
                q.push(" AND c.kind = ")
                    .push_bind(kind.as_str().to_string());
            }
            match page.archived {
                Some(true) => q.push(" AND c.state = 'archived'"),
                Some(false) => q.push(" AND c.state = 'active'"),
                None => q,
            };
            match page.state {
                Some(ConnectorState::Active) => {
                    q.push(" AND c.state = 'active' AND c.paused_at IS NULL")
                }
                Some(ConnectorState::Paused) => {
                    q.push(" AND c.state = 'active' AND c.paused_at IS NOT NULL")
                }
                Some(ConnectorState::Archived) => q.push(" AND c.state = 'archived'"),
                Some(ConnectorState::Deleting) => q.push(" AND 1 = 0"),
                None => q,
            };
            if let Some((at, id)) = page.after {
                q.push(" AND (c.created_at < ")
                    .push_bind(at.as_micros())
                    .push(" OR (c.created_at = ")
                    .push_bind(at.as_micros())
                    .push(" AND c.connector_id < ")
                    .push_bind(id.to_string())
                    .push("))");
            }
        },
    )
}
