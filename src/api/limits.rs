//! Request limits that answer with the contract's error body.

use super::error::ApiError;
use crate::service::AppState;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Refuses requests whose headers together exceed `http.max_header_bytes`
/// (431). Far larger ones are refused by the HTTP parser itself.
pub async fn header_size(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let limit = app.config.http.max_header_bytes;
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum::<usize>()
        + request
            .uri()
            .path_and_query()
            .map_or(0, |p| p.as_str().len());
    if size > limit {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "HEADERS_TOO_LARGE",
            format!("Request line and headers exceed {limit} bytes"),
        )
        .into_response();
    }
    next.run(request).await
}
