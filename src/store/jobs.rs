//! The durable job queue: jobs are leased to workers, and a lease that
//! expires (a crashed worker) makes the job claimable again.

use super::StoreResult;
use crate::domain::Timestamp;
use async_trait::async_trait;
use std::time::Duration;
use uuid::Uuid;

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
pub trait JobQueue: Send + Sync {
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
}
