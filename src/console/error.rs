//! What went wrong, as an HTML page. The service's errors map to the same
//! statuses as in the JSON API (invisible is 404, exactly as absent), with
//! the same messages, but the console renders them itself.

use super::page::{html, ErrorPage};
use crate::error::Error;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

#[derive(Debug)]
pub enum ConsoleError {
    /// No session, or it ended: back to the sign-in page.
    SignIn,
    NotFound,
    MethodNotAllowed,
    /// A state-changing request without this session's CSRF token, or sent
    /// from another site.
    Forged,
    /// A form or query the service refused; the message names the field.
    Invalid(String),
    Forbidden(String),
    Conflict(String),
    RateLimited(u64),
    Unavailable(String),
    Internal,
}

impl From<Error> for ConsoleError {
    fn from(e: Error) -> Self {
        match e {
            Error::ConnectorNotFound
            | Error::DocumentNotFound
            | Error::SyncJobNotFound
            | Error::TagNotFound => Self::NotFound,
            Error::Invalid(v) => Self::Invalid(v.to_string()),
            Error::InvalidTags(m) => Self::Invalid(m),
            Error::Forbidden => Self::Forbidden(e.to_string()),
            Error::ConnectorArchived
            | Error::ConnectorDeleting
            | Error::ConnectorPaused
            | Error::SyncInProgress
            | Error::SyncJobFinished => Self::Conflict(e.to_string()),
            Error::StorageUnavailable(_) => Self::Unavailable(e.to_string()),
            other => {
                tracing::error!(error = %other, "console request failed");
                Self::Internal
            }
        }
    }
}

impl From<crate::api::error::ApiError> for ConsoleError {
    /// The API's own query parsing, reused for the console's lists.
    fn from(e: crate::api::error::ApiError) -> Self {
        Self::Invalid(e.message)
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            Self::RateLimited(secs) => Some(HeaderValue::from(*secs)),
            _ => None,
        };
        let (status, title, message) = match self {
            Self::SignIn => return Redirect::to("/console/sign-in").into_response(),
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or it is not yours to see.".to_string(),
            ),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                "This page does not take that kind of request.".to_string(),
            ),
            Self::Forged => (
                StatusCode::FORBIDDEN,
                "Request refused",
                "The form was not sent from this console's own page (or your session changed). \
                 Go back, reload the page and try again."
                    .to_string(),
            ),
            Self::Invalid(m) => (StatusCode::BAD_REQUEST, "Invalid request", m),
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m),
            Self::Conflict(m) => (StatusCode::CONFLICT, "Not possible now", m),
            Self::RateLimited(secs) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                format!("Too many sign-in attempts; try again in {secs} s."),
            ),
            Self::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, "Unavailable", m),
            Self::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The server could not complete this request; the details are in its log."
                    .to_string(),
            ),
        };
        let mut response = html(
            status,
            ErrorPage {
                title,
                message: &message,
            },
        );
        if let Some(v) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}
