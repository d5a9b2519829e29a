// Sync jobs and schedules (compiled per backend by `statements!`).

use super::jobs::insert_job;
use crate::domain::sync_job::SyncCounts;
use crate::domain::{Connector, SyncJob, SyncStatus, Timestamp};
use crate::store::sql::is_unique_violation;
use crate::store::sql::rows::{ConnectorRow, SyncJobRow, CONNECTOR_COLUMNS, SYNC_JOB_COLUMNS};
use crate::store::{NewJob, StoreResult, SyncStart, SyncStore};
use async_trait::async_trait;
use sqlx::{FromRow, Row};
use uuid::Uuid;

/// Moves the sync jobs it matches: pending → canceled, in progress →
/// canceling (a running sync notices before its next file).
const CANCEL: &str =
    "UPDATE sync_jobs SET status = CASE status WHEN 'pending' THEN 'canceled' ELSE 'canceling' END, \
     completed_at = CASE status WHEN 'pending' THEN $1 ELSE completed_at END \
     WHERE status IN ('pending', 'in_progress') AND ";

#[async_trait]
impl SyncStore for Backend {
    async fn create_sync_job(&self, sync: &SyncJob, run: &NewJob) -> StoreResult<SyncStart> {
        let mut tx = self.begin_write().await?;
        let active: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT state FROM connectors WHERE connector_id = $1 AND state = 'active' \
             AND paused_at IS NULL{}",
            DIALECT.row_lock
        )))
        .bind(sync.connector_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        if active.is_none() {
            return Ok(SyncStart::Inactive);
        }
        let inserted = sqlx::query(
            "INSERT INTO sync_jobs (sync_job_id, connector_id, status, trigger_method, \
             date_limit, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
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
            "SELECT {SYNC_JOB_COLUMNS} FROM sync_jobs WHERE sync_job_id = $1"
        ));
        let row: Option<SyncJobRow> = sqlx::query_as(sql)
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.map(SyncJob::try_from).transpose()
    }

    async fn sync_jobs(&self, connector: Uuid, limit: u32) -> StoreResult<Vec<SyncJob>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {SYNC_JOB_COLUMNS} FROM sync_jobs WHERE connector_id = $1 \
             ORDER BY created_at DESC, sync_job_id DESC LIMIT $2"
        ));
        let rows: Vec<SyncJobRow> = sqlx::query_as(sql)
            .bind(connector.to_string())
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(SyncJob::try_from).collect()
    }

    async fn cancel_sync_job(&self, id: Uuid, at: Timestamp) -> StoreResult<Option<SyncJob>> {
        sqlx::query(sqlx::AssertSqlSafe(format!("{CANCEL}sync_job_id = $2")))
            .bind(at.as_micros())
            .bind(id.to_string())
            .execute(self.pool())
            .await?;
        self.sync_job(id).await
    }

    async fn start_sync_job(&self, id: Uuid, at: Timestamp) -> StoreResult<Option<SyncJob>> {
        let mut tx = self.begin_write().await?;
        lock_connector_of_sync(&mut tx, id).await?;
        let started = sqlx::query(
            "UPDATE sync_jobs SET status = 'in_progress', started_at = $1 \
             WHERE sync_job_id = $2 AND status = 'pending'",
        )
        .bind(at.as_micros())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        if started.rows_affected() == 1 {
            sqlx::query(
                "UPDATE connectors SET last_sync_status = 'IN_PROGRESS', last_sync_at = $1, \
                 last_sync_error_msg = NULL, last_sync_count = NULL \
                 WHERE connector_id = (SELECT connector_id FROM sync_jobs WHERE sync_job_id = $2)",
            )
            .bind(at.as_micros())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.sync_job(id).await
    }

    async fn sync_progress(&self, id: Uuid, counts: &SyncCounts) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sync_jobs SET indexed_document_count = $1, skipped_document_count = $2, \
             errors = $3 WHERE sync_job_id = $4",
        )
        .bind(counts.indexed)
        .bind(counts.skipped)
        .bind(errors_json(counts))
        .bind(id.to_string())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn finish_sync_job(
        &self,
        id: Uuid,
        status: SyncStatus,
        error: Option<&str>,
        counts: &SyncCounts,
        at: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        lock_connector_of_sync(&mut tx, id).await?;
        let done = sqlx::query(
            "UPDATE sync_jobs SET status = $1, error = $2, indexed_document_count = $3, \
             skipped_document_count = $4, completed_at = $5, errors = $7 \
             WHERE sync_job_id = $6 AND status IN ('pending', 'in_progress', 'canceling')",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(counts.indexed)
        .bind(counts.skipped)
        .bind(at.as_micros())
        .bind(id.to_string())
        .bind(errors_json(counts))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            sqlx::query(
                "UPDATE connectors SET last_sync_status = $1, last_sync_at = $2, \
                 last_sync_error_msg = $3, last_sync_count = $4 \
                 WHERE connector_id = (SELECT connector_id FROM sync_jobs WHERE sync_job_id = $5)",
            )
            .bind(status.connector_status())
            .bind(at.as_micros())
            .bind(error)
            .bind(counts.indexed)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delete_sync_jobs(&self, connector: Uuid) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM sync_jobs WHERE connector_id = $1 \
             AND status IN ('canceled', 'completed', 'error')",
        )
        .bind(connector.to_string())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    async fn set_next_sync(&self, connector: Uuid, at: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE connectors SET next_sync_at = $1 WHERE connector_id = $2")
            .bind(at.as_micros())
            .bind(connector.to_string())
            .execute(self.pool())
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
             WHERE kind = 'investment_research' AND state = 'active' AND paused_at IS NULL \
             AND next_sync_at <= $1 \
             ORDER BY next_sync_at LIMIT $2"
        ));
        let rows = sqlx::query(sql)
            .bind(now.as_micros())
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        rows.into_iter()
            .map(|row| {
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
            "UPDATE connectors SET next_sync_at = $1 WHERE connector_id = $2 AND next_sync_at = $3",
        )
        .bind(to.as_micros())
        .bind(connector.to_string())
        .bind(from.as_micros())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

fn errors_json(counts: &SyncCounts) -> String {
    serde_json::to_string(&counts.errors).expect("strings serialize")
}

/// Halts a connector's syncs: a pending one is canceled, a running one is
/// asked to stop.
pub(in crate::store) async fn stop_syncs(
    conn: &mut Conn,
    connector: Uuid,
    at: Timestamp,
) -> StoreResult<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!("{CANCEL}connector_id = $2")))
        .bind(at.as_micros())
        .bind(connector.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Locks a sync job's connector row before the job's own row is touched:
/// a trigger locks the connector and then inserts a job, so taking the two
/// in the other order could deadlock with it. (SQLite's write transaction
/// holds the one lock already.)
async fn lock_connector_of_sync(conn: &mut Conn, sync_job: Uuid) -> StoreResult<()> {
    if DIALECT.row_lock.is_empty() {
        return Ok(());
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT 1 FROM connectors WHERE connector_id = \
         (SELECT connector_id FROM sync_jobs WHERE sync_job_id = $1){}",
        DIALECT.row_lock
    )))
    .bind(sync_job.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
