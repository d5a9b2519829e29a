//! The connectors' activity log (contract §13).

use super::StoreResult;
use crate::domain::{Event, Timestamp};
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
pub trait EventLog: Send + Sync {
    /// Records an event in a transaction of its own (what it records wrote
    /// nothing else: a refused message). `true` when it was folded into an
    /// earlier event with the same coalescing key (`count` + 1).
    async fn record_event(&self, event: &Event) -> StoreResult<bool>;
    /// A connector's events, newest first, after the keyset position
    /// `before` (an event id already seen).
    async fn events(
        &self,
        connector: Uuid,
        before: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<Event>>;
    /// Retention: removes events last seen before `cutoff`; returns how many.
    async fn delete_events_before(&self, cutoff: Timestamp) -> StoreResult<u64>;
}
