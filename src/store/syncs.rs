//! Sync jobs of research connectors and their schedule.

use super::{NewJob, StoreResult};
use crate::domain::sync_job::SyncCounts;
use crate::domain::{Connector, SyncJob, SyncStatus, Timestamp};
use async_trait::async_trait;
use uuid::Uuid;

/// The outcome of asking for a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStart {
    Created,
    /// One is already pending or running.
    InProgress,
    /// The connector is archived or being deleted.
    Inactive,
}

#[async_trait]
pub trait SyncStore: Send + Sync {
    /// Records a pending sync job and the durable job that runs it, in one
    /// transaction, if the connector is active and has no sync under way.
    async fn create_sync_job(&self, sync: &SyncJob, run: &NewJob) -> StoreResult<SyncStart>;
    async fn sync_job(&self, id: Uuid) -> StoreResult<Option<SyncJob>>;
    /// A connector's sync jobs, newest first.
    async fn sync_jobs(&self, connector: Uuid, limit: u32) -> StoreResult<Vec<SyncJob>>;
    /// Applies a cancel request (pending → canceled, running → canceling);
    /// returns the job as it is afterwards.
    async fn cancel_sync_job(&self, id: Uuid, at: Timestamp) -> StoreResult<Option<SyncJob>>;
    /// pending → in_progress, and the connector's `last_sync_*` say so.
    /// Returns the job as it is afterwards (a canceled one stays canceled).
    async fn start_sync_job(&self, id: Uuid, at: Timestamp) -> StoreResult<Option<SyncJob>>;
    async fn sync_progress(&self, id: Uuid, counts: &SyncCounts) -> StoreResult<()>;
    /// Ends a job (completed, error or canceled) and records the outcome on
    /// its connector, in one transaction.
    async fn finish_sync_job(
        &self,
        id: Uuid,
        status: SyncStatus,
        error: Option<&str>,
        counts: &SyncCounts,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Deletes a connector's finished sync jobs.
    async fn delete_sync_jobs(&self, connector: Uuid) -> StoreResult<u64>;
    async fn set_next_sync(&self, connector: Uuid, at: Timestamp) -> StoreResult<()>;
    /// Active research connectors whose scheduled sync is due.
    async fn due_syncs(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<(Connector, Timestamp)>>;
    /// Moves a connector's next sync from `from` to `to`; `false` when
    /// another replica did it first.
    async fn advance_next_sync(
        &self,
        connector: Uuid,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<bool>;
}
