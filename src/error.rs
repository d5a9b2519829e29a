//! The service-level error: what went wrong in terms of the contract, before
//! any protocol decides how to say it.

use crate::domain::ValidationError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A client value breaks a rule; the message names the field.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Absent, or not the caller's to see or change: the same answer.
    #[error("Connector not found")]
    ConnectorNotFound,
    #[error("Connector is archived")]
    ConnectorArchived,
    #[error("Connector is being deleted")]
    ConnectorDeleting,
    #[error("Connector is paused; resume it first")]
    ConnectorPaused,
    #[error("A sync of this connector is already pending or running")]
    SyncInProgress,
    #[error("Sync job not found")]
    SyncJobNotFound,
    #[error("The sync job has already finished")]
    SyncJobFinished,
    /// Absent, or not visible to the caller.
    #[error("Document not found")]
    DocumentNotFound,
    /// Visible to the caller but not theirs to change.
    #[error("Only the owner may change or delete this document")]
    Forbidden,
    #[error("{0}")]
    InvalidTags(String),
    #[error("Tag not found")]
    TagNotFound,
    /// A signed URL that is tampered, expired or already used.
    #[error("{0}")]
    InvalidSignature(&'static str),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The blob store failed (down, unreachable): nothing was stored; the
    /// client should try again later.
    #[error("The blob store is unavailable; try again later")]
    StorageUnavailable(#[source] crate::blobs::BlobError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    /// A blob-store failure: `StorageUnavailable` when the store itself
    /// failed (503 with Retry-After, SMTP 451), otherwise internal.
    pub fn blob(e: crate::blobs::BlobError) -> Self {
        if e.is_unavailable() {
            Self::StorageUnavailable(e)
        } else {
            Self::Internal(e.into())
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
