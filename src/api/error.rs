//! The contract's error body and the mapping from service errors to it.
//!
//! Handlers return [`ApiError`]; it travels as a response extension and the
//! request-id middleware renders the body, so every error carries the same
//! `requestId` as the `X-Request-Id` header.

use crate::error::Error;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Bigdata's error shape, used by every error response.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[schema(example = 404)]
    pub status_code: u16,
    #[schema(example = "Connector not found")]
    pub message: String,
    #[schema(example = "CONNECTOR_NOT_FOUND")]
    pub error_code: String,
    #[schema(example = "0193a5a0-7f1e-7c3a-9a52-0c3b2d1e4f5a")]
    pub request_id: String,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "Internal server error; quote the request id when reporting it",
        )
    }

    /// The body for an error response that no handler described (a panic, a
    /// layer's own rejection): code and message follow from the status.
    pub fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("ROUTE_NOT_FOUND", "No such route"),
            StatusCode::METHOD_NOT_ALLOWED => {
                ("METHOD_NOT_ALLOWED", "Method not allowed on this route")
            }
            StatusCode::PAYLOAD_TOO_LARGE => ("PAYLOAD_TOO_LARGE", "Request body too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ("UNSUPPORTED_MEDIA_TYPE", "Unsupported media type")
            }
            StatusCode::REQUEST_TIMEOUT => ("REQUEST_TIMEOUT", "Request timed out"),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
                ("HEADERS_TOO_LARGE", "Request headers too large")
            }
            StatusCode::UNAUTHORIZED => ("UNAUTHORIZED", "Unauthorized"),
            s if s.is_client_error() => ("INVALID_REQUEST", "Invalid request"),
            _ => return Self::internal(),
        };
        Self::new(status, code, message)
    }

    pub fn body(&self, request_id: &str) -> ErrorBody {
        ErrorBody {
            status_code: self.status.as_u16(),
            message: self.message.clone(),
            error_code: self.code.to_string(),
            request_id: request_id.to_string(),
        }
    }
}

/// What a `503 STORAGE_UNAVAILABLE` tells the client to wait, in seconds.
pub const STORAGE_RETRY_AFTER_SECS: u32 = 5;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        if self.code == "STORAGE_UNAVAILABLE" {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(STORAGE_RETRY_AFTER_SECS),
            );
        }
        response.extensions_mut().insert(self);
        response
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        use StatusCode as S;
        match e {
            Error::Invalid(v) => Self::invalid(v.to_string()),
            Error::ConnectorNotFound => {
                Self::new(S::NOT_FOUND, "CONNECTOR_NOT_FOUND", e.to_string())
            }
            Error::ConnectorArchived => Self::new(S::CONFLICT, "CONNECTOR_ARCHIVED", e.to_string()),
            Error::ConnectorDeleting => Self::new(S::CONFLICT, "CONNECTOR_DELETING", e.to_string()),
            Error::ConnectorPaused => Self::new(S::CONFLICT, "CONNECTOR_PAUSED", e.to_string()),
            Error::SyncInProgress => Self::new(S::CONFLICT, "SYNC_IN_PROGRESS", e.to_string()),
            Error::SyncJobNotFound => Self::new(S::NOT_FOUND, "SYNC_JOB_NOT_FOUND", e.to_string()),
            Error::SyncJobFinished => Self::new(S::CONFLICT, "SYNC_JOB_FINISHED", e.to_string()),
            Error::DocumentNotFound => {
                Self::new(S::NOT_FOUND, "PRIVATE_CONTENT_NOT_FOUND", e.to_string())
            }
            Error::Forbidden => Self::new(S::FORBIDDEN, "FORBIDDEN", e.to_string()),
            Error::InvalidTags(m) => Self::new(S::BAD_REQUEST, "INVALID_TAGS_ERROR", m),
            Error::TagNotFound => Self::new(S::NOT_FOUND, "TAG_NOT_FOUND", e.to_string()),
            Error::InvalidSignature(m) => Self::new(S::FORBIDDEN, "INVALID_SIGNATURE", m),
            Error::PayloadTooLarge(m) => Self::new(S::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", m),
            Error::StorageUnavailable(ref cause) => {
                tracing::warn!(error = %cause, "blob store unavailable");
                Self::new(S::SERVICE_UNAVAILABLE, "STORAGE_UNAVAILABLE", e.to_string())
            }
            Error::Store(_) | Error::Internal(_) => {
                // The details stay in the log, under this request's id.
                tracing::error!(error = %e, "request failed");
                Self::internal()
            }
        }
    }
}
