// The job queue (compiled per backend by `statements!`).

use crate::domain::Timestamp;
use crate::store::sql::is_unique_violation;
use crate::store::sql::rows::{JobRow, JOB_COLUMNS};
use crate::store::{Job, JobQueue, NewJob, StoreError, StoreResult};
use async_trait::async_trait;
use std::time::Duration;
use uuid::Uuid;

/// Gives an attempt back: the job ran but is not to be counted.
const UNCOUNT_ATTEMPT: &str = "attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END";

#[async_trait]
impl JobQueue for Backend {
    async fn enqueue_job(&self, job: &NewJob) -> StoreResult<bool> {
        let job = job.clone();
        self.write(move |conn| {
            Box::pin(async move {
                match insert_job(conn, &job, Timestamp::now()).await {
                    Ok(()) => Ok(true),
                    Err(StoreError::Backend(e)) if is_unique_violation(&e) => Ok(false),
                    Err(e) => Err(e),
                }
            })
        })
        .await
    }

    async fn claim_job(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
    ) -> StoreResult<Option<Job>> {
        let expires = now.as_micros() + lease.as_micros() as i64;
        let sql = sqlx::AssertSqlSafe(claim_statement(""));
        let worker = worker.to_string();
        self.write(move |conn| {
            Box::pin(async move {
                let row: Option<JobRow> = sqlx::query_as(sql)
                    .bind(worker)
                    .bind(expires)
                    .bind(now.as_micros())
                    .fetch_optional(conn)
                    .await?;
                row.map(Job::try_from).transpose()
            })
        })
        .await
    }

    async fn extend_lease(&self, id: Uuid, worker: &str, until: Timestamp) -> StoreResult<bool> {
        let renew = sqlx::query(
            "UPDATE jobs SET lease_expires_at = $1 \
             WHERE job_id = $2 AND lease_owner = $3 AND state = 'running'",
        )
        .bind(until.as_micros())
        .bind(id.to_string())
        .bind(worker.to_string());
        Ok(self.write_statement(renew).await? == 1)
    }

    async fn finish_job(&self, id: Uuid, worker: &str) -> StoreResult<()> {
        let finish = sqlx::query("DELETE FROM jobs WHERE job_id = $1 AND lease_owner = $2")
            .bind(id.to_string())
            .bind(worker.to_string());
        self.write_statement(finish).await.map(drop)
    }

    async fn requeue_job(&self, id: Uuid, worker: &str, run_at: Timestamp) -> StoreResult<()> {
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE jobs SET state = 'queued', run_at = $1, {UNCOUNT_ATTEMPT}, \
             lease_owner = NULL, lease_expires_at = NULL, updated_at = $2 \
             WHERE job_id = $3 AND lease_owner = $4"
        ));
        let requeue = sqlx::query(sql)
            .bind(run_at.as_micros())
            .bind(Timestamp::now().as_micros())
            .bind(id.to_string())
            .bind(worker.to_string());
        self.write_statement(requeue).await.map(drop)
    }

    async fn retry_job(
        &self,
        id: Uuid,
        worker: &str,
        error: &str,
        run_at: Timestamp,
    ) -> StoreResult<()> {
        self.end_lease(id, worker, "queued", error, Some(run_at))
            .await
    }

    async fn bury_job(&self, id: Uuid, worker: &str, error: &str) -> StoreResult<()> {
        self.end_lease(id, worker, "dead", error, None).await
    }

    async fn release_leases(&self, worker: &str) -> StoreResult<u64> {
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, \
             {UNCOUNT_ATTEMPT} WHERE state = 'running' AND lease_owner = $1"
        ));
        self.write_statement(sqlx::query(sql).bind(worker.to_string()))
            .await
    }

    async fn jobs(&self) -> StoreResult<Vec<Job>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY run_at"));
        let rows: Vec<JobRow> = sqlx::query_as(sql).fetch_all(self.pool()).await?;
        rows.into_iter().map(Job::try_from).collect()
    }

    async fn job_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        Ok(
            sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state")
                .fetch_all(self.pool())
                .await?,
        )
    }
}

/// Claims one job due at `$3` for worker `$1` until `$2`, after `prefix`
/// (`EXPLAIN …` in tests): a job whose lease expired (its worker died)
/// first, else the queued job due first. Each is one step down its own
/// partial index; one `OR` of both would collect every due job and sort
/// them all for each claim, which a backlog of 100,000 jobs slows to a
/// crawl.
pub(crate) fn claim_statement(prefix: &str) -> String {
    let skip = DIALECT.skip_locked;
    format!(
        "{prefix}UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_at = $2, \
         attempts = attempts + 1, updated_at = $3 \
         WHERE job_id = COALESCE(\
             (SELECT job_id FROM jobs WHERE state = 'running' AND lease_expires_at < $3 \
              ORDER BY lease_expires_at LIMIT 1{skip}), \
             (SELECT job_id FROM jobs WHERE state = 'queued' AND run_at <= $3 \
              ORDER BY run_at LIMIT 1{skip})) \
         RETURNING {JOB_COLUMNS}"
    )
}

impl Backend {
    /// A failed attempt: the lease holder's job goes to `state` with its
    /// error, and runs again at `run_at` (when given).
    async fn end_lease(
        &self,
        id: Uuid,
        worker: &str,
        state: &str,
        error: &str,
        run_at: Option<Timestamp>,
    ) -> StoreResult<()> {
        let end = sqlx::query(
            "UPDATE jobs SET state = $1, run_at = COALESCE($2, run_at), last_error = $3, \
             lease_owner = NULL, lease_expires_at = NULL, updated_at = $4 \
             WHERE job_id = $5 AND lease_owner = $6",
        )
        .bind(state.to_string())
        .bind(run_at.map(Timestamp::as_micros))
        .bind(error.to_string())
        .bind(Timestamp::now().as_micros())
        .bind(id.to_string())
        .bind(worker.to_string());
        self.write_statement(end).await.map(drop)
    }

    /// Runs one statement as a write of its own (SQLite: in the next group
    /// commit, sharing ingestion's fsync instead of waiting for its lock);
    /// the rows it changed.
    async fn write_statement(&self, statement: Statement) -> StoreResult<u64> {
        self.write(move |conn| {
            Box::pin(async move { Ok(statement.execute(conn).await?.rows_affected()) })
        })
        .await
    }
}

/// A statement with its arguments bound, owned: ready to be queued.
type Statement = sqlx::query::Query<'static, Db, <Db as sqlx::Database>::Arguments>;

/// Queues a job on this connection (inside the caller's transaction, when
/// it is one); a pending job with the same dedupe key is a unique violation.
pub(in crate::store) async fn insert_job(
    conn: &mut Conn,
    job: &NewJob,
    now: Timestamp,
) -> StoreResult<()> {
    bind_new_job(
        sqlx::query(
            "INSERT INTO jobs (job_id, kind, payload, state, run_at, attempts, max_attempts, \
             dedupe_key, created_at, updated_at) \
             VALUES ($1, $2, $3, 'queued', $4, 0, $5, $6, $7, $7)",
        ),
        job,
        now,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Binds a new job's values as `$1`–`$7`: its id, kind, payload, due time,
/// attempts allowed, dedupe key, and `now` for both timestamps.
pub(in crate::store) fn bind_new_job<'q>(
    query: sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>,
    job: &'q NewJob,
    now: Timestamp,
) -> sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments> {
    query
        .bind(Uuid::now_v7().to_string())
        .bind(&job.kind)
        .bind(job.payload.to_string())
        .bind(job.run_at.as_micros())
        .bind(job.max_attempts)
        .bind(&job.dedupe_key)
        .bind(now.as_micros())
}
