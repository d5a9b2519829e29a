//! Use cases: load, check who may do what, apply the domain rules, persist.
//! Protocol adapters (HTTP, SMTP, CLI) and the job runner call these and
//! only translate; nothing here knows about them.

pub mod annotated;
pub mod answers;
pub mod attachments;
pub mod connectors;
pub mod documents;
pub mod email;
pub mod events;
pub mod ingest;
pub mod jobs;
pub mod keys;
pub mod pages;
pub mod processing;
pub mod purge;
pub mod search_index;
pub mod sessions;
pub mod sync;
pub mod sync_run;
pub mod tags;
#[cfg(test)]
pub(crate) mod testing;

use crate::blobs::BlobStore;
use crate::config::Config;
use crate::crypto::SecretKey;
use crate::store::Store;
use std::sync::Arc;

/// Everything a use case needs; one pointer, so cloning it per request or
/// per task costs one reference count.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    pub fn new(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

pub struct AppParts {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    pub secret: Arc<SecretKey>,
    pub blobs: BlobStore,
    /// Per API key.
    pub limiter: Arc<dyn crate::ratelimit::RateLimiter>,
    /// Per client IP, for requests without a valid key.
    pub ip_limiter: Arc<dyn crate::ratelimit::RateLimiter>,
    /// Wakes idle job workers when work was just enqueued.
    pub wake_jobs: Arc<tokio::sync::Notify>,
    /// Where the pages of document lists start (keyset pagination).
    pub pages: pages::PagePositions,
    /// Answers to repeated reads, while the store is unchanged.
    pub answers: answers::Answers,
}
