//! Users' tags, made by hand or by ingestion.

use super::StoreResult;
use crate::domain::{Tag, Timestamp};
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
pub trait TagStore: Send + Sync {
    /// The user's tag with this name, created when new.
    async fn ensure_tag(&self, user_id: &str, name: &str, at: Timestamp) -> StoreResult<Tag>;
    /// The user's tags whose name starts with `prefix`, by name, with their
    /// document counts; only those in `window` when given (each tag's
    /// documents are counted, so a page counts only its own).
    async fn list_tags(
        &self,
        user_id: &str,
        prefix: &str,
        window: Option<Window>,
    ) -> StoreResult<Vec<(Tag, i64)>>;
    /// Those of `ids` that are the user's tags.
    async fn owned_tags(&self, user_id: &str, ids: &[Uuid]) -> StoreResult<Vec<Tag>>;
}

/// A slice of a list: `limit` rows after the first `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: u32,
    pub offset: u64,
}
