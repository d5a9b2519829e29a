//! Types and rules of the product, free of I/O: parsing client input into
//! values that are valid by construction, and who may see or change what.

pub mod analytics;
pub mod connector;
pub mod content_type;
pub mod document;
pub mod email_address;
pub mod event;
pub mod principal;
pub mod search;
pub mod sender_auth;
pub mod sync_job;
pub mod time;

pub use connector::{
    Connector, ConnectorConfig, ConnectorKind, ConnectorState, Description, Label, LastSync,
};
pub use document::{Document, DocumentId, DocumentStatus, RequestOrigin, Tag};
pub use event::{Event, EventReason, EventType};
pub use principal::Principal;
pub use sync_job::{SyncJob, SyncStatus, TriggerMethod};
pub use time::Timestamp;

/// A client value that breaks a rule; `field` names it for the error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
