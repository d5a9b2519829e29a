//! Web console sessions (contract §14), stored hashed, shared by replicas.

use super::StoreResult;
use crate::domain::{Principal, Timestamp};
use async_trait::async_trait;

/// A live session: who it signs in, its CSRF token and when it was last used.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    pub principal: Principal,
    pub csrf_token: String,
    pub last_seen_at: Timestamp,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(
        &self,
        session_hash: &str,
        key_id: &str,
        csrf_token: &str,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// The session with this hash, when its API key is not revoked.
    async fn session(&self, session_hash: &str) -> StoreResult<Option<ConsoleSession>>;
    async fn touch_session(&self, session_hash: &str, now: Timestamp) -> StoreResult<()>;
    async fn delete_session(&self, session_hash: &str) -> StoreResult<()>;
    /// Removes sessions last used before `cutoff`; returns how many.
    async fn delete_sessions_before(&self, cutoff: Timestamp) -> StoreResult<u64>;
}
