//! API keys and the orgs and users they belong to.

use super::StoreResult;
use crate::domain::{Principal, Timestamp};
use async_trait::async_trait;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub key_id: Uuid,
    pub key_hash: String,
    pub org_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub created_at: Timestamp,
}

/// A key of user `u` in org `o` whose hash is `key_hash`, for store tests.
#[cfg(test)]
pub fn key_fixture(key_hash: &str, at: Timestamp) -> NewApiKey {
    NewApiKey {
        key_id: Uuid::now_v7(),
        key_hash: key_hash.into(),
        org_id: "o".into(),
        user_id: "u".into(),
        name: None,
        created_at: at,
    }
}

#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub key_id: Uuid,
    pub org_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// What a read's result can be checked against: two lookups that saw the
/// same generation saw the same database, as every commit in between (of
/// this process or any other) moves it. Only compared for equality, and
/// only within one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(pub(super) [u8; 48]);

#[cfg(test)]
impl Generation {
    pub fn nth(n: u8) -> Self {
        Self([n; 48])
    }
}

/// The caller behind a key, and the store's generation that lookup saw.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// `None` where the store cannot tell it cheaply (PostgreSQL).
    pub generation: Option<Generation>,
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;
    /// Stores a key, creating its org and user when new. A user already in
    /// another org is a `Conflict`.
    async fn create_api_key(&self, key: &NewApiKey) -> StoreResult<()>;
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>>;
    /// `false` when no such key exists; revoking twice keeps the first time.
    async fn revoke_api_key(&self, key_id: Uuid, at: Timestamp) -> StoreResult<bool>;
    async fn has_api_keys(&self) -> StoreResult<bool>;
    /// The caller behind an unrevoked key, looked up after it was asked.
    async fn caller_by_key_hash(&self, key_hash: &str) -> StoreResult<Option<Caller>>;
}
