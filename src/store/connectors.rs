//! Connectors: their rows, lists, lifecycle and the last steps of a purge.

use super::{NewJob, StoreResult};
use crate::domain::{Connector, ConnectorKind, ConnectorState, Event, Principal, Timestamp};
use async_trait::async_trait;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Ownership {
    #[default]
    All,
    /// Only the caller's own.
    Owned,
    /// Only others' that are shared with the caller's org.
    Shared,
}

/// A page of connectors visible to a caller, newest first.
#[derive(Debug, Clone)]
pub struct ConnectorPage {
    pub kind: Option<ConnectorKind>,
    pub archived: Option<bool>,
    /// `Active`, `Paused` or `Archived` (deleting ones are never listed).
    pub state: Option<ConnectorState>,
    pub ownership: Ownership,
    /// Keyset position: the `(created_at, id)` of the last row already seen.
    pub after: Option<(Timestamp, Uuid)>,
    pub limit: u32,
}

#[async_trait]
pub trait ConnectorStore: Send + Sync {
    /// Inserts a new connector; a taken `email_hash` is a `Conflict`.
    async fn insert_connector(&self, connector: &Connector) -> StoreResult<()>;
    /// Any connector still in the database, whoever owns it.
    async fn connector(&self, id: Uuid) -> StoreResult<Option<Connector>>;
    /// The email connector whose inbox id this is (lowercase).
    async fn connector_by_email_hash(&self, email_hash: &str) -> StoreResult<Option<Connector>>;
    /// Connectors the viewer can see, excluding those being hard-deleted.
    async fn list_connectors(
        &self,
        viewer: &Principal,
        page: &ConnectorPage,
    ) -> StoreResult<Vec<Connector>>;
    /// Writes the editable fields (label, description, sharing, allowed
    /// senders) and `updated_at`, unless the connector is being deleted.
    /// Returns `false` when nothing was written.
    async fn update_connector(&self, connector: &Connector) -> StoreResult<bool>;
    /// Moves an `active` or `paused` connector to `archived` and records
    /// `event`, in one transaction; other states are left alone.
    async fn archive_connector(&self, id: Uuid, at: Timestamp, event: &Event) -> StoreResult<()>;
    /// Pauses an `active` connector (`paused: true`, halting its syncs) or
    /// resumes a `paused` one, recording `event` in the same transaction.
    /// `false` when the connector was not in the state to move from.
    async fn set_paused(
        &self,
        id: Uuid,
        paused: bool,
        at: Timestamp,
        event: &Event,
    ) -> StoreResult<bool>;
    /// Moves a connector to `deleting` and records its purge job, in one
    /// transaction. `false` when it was already being deleted.
    async fn begin_hard_delete(&self, id: Uuid, at: Timestamp, purge: &NewJob)
        -> StoreResult<bool>;
    /// The purge's last step, in one transaction: the owner's automatic tags
    /// that no document uses any more, the connector's events, then the
    /// connector row.
    async fn finish_purge(&self, connector: Uuid) -> StoreResult<()>;
    /// How many connectors are in each state, for metrics.
    async fn connector_counts(&self) -> StoreResult<Vec<(String, i64)>>;
}
