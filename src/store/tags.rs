//! Users' tags, made by hand or by ingestion.

use super::StoreResult;
use crate::domain::{Tag, Timestamp};
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
pub trait TagStore: Send + Sync {
    /// The user's tag with this name, created when new.
    async fn ensure_tag(&self, user_id: &str, name: &str, at: Timestamp) -> StoreResult<Tag>;
    /// The user's tags whose name starts with `prefix`, with their document counts.
    async fn list_tags(&self, user_id: &str, prefix: &str) -> StoreResult<Vec<(Tag, i64)>>;
    /// Those of `ids` that are the user's tags.
    async fn owned_tags(&self, user_id: &str, ids: &[Uuid]) -> StoreResult<Vec<Tag>>;
}
