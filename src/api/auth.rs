//! `X-API-KEY` authentication for every `/contents/v1` route.

use super::error::ApiError;
use crate::domain::Principal;
use crate::service::{keys, AppState};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub const API_KEY_HEADER: &str = "x-api-key";

/// Runs on matched routes only, before any path or body is looked at, so an
/// unknown route is 404 with or without a key and 401 wins over 400.
pub async fn require_key(
    State(app): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(presented) = request.headers().get(API_KEY_HEADER) else {
        return ApiError::unauthorized("Missing X-API-KEY header").into_response();
    };
    let principal = match presented.to_str() {
        Ok(key) => match keys::authenticate(&app, key).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "API key lookup failed");
                return ApiError::internal().into_response();
            }
        },
        Err(_) => None,
    };
    match principal {
        Some(p) => {
            tracing::Span::current().record("user_id", p.user_id.as_str());
            request.extensions_mut().insert(p);
            next.run(request).await
        }
        None => ApiError::unauthorized("Invalid or revoked API key").into_response(),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("Missing X-API-KEY header"))
    }
}
