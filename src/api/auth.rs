//! `X-API-KEY` authentication and per-key rate limits for every
//! `/contents/v1` route.

use super::error::ApiError;
use crate::domain::Principal;
use crate::ratelimit::Decision;
use crate::service::{keys, AppState};
use crate::store::Caller;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

pub const API_KEY_HEADER: &str = "x-api-key";

/// Runs on matched routes only, before any path or body is looked at, so an
/// unknown route is 404 with or without a key and 401 wins over 400.
/// Authenticated requests count against their key's limit; failed
/// authentication against the client IP's own limit.
pub async fn require_key(
    State(app): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let mut given = request.headers().get_all(API_KEY_HEADER).iter();
    // Two keys are ambiguous: refused, never resolved by taking one of them.
    let key = match (given.next().map(|v| v.to_str()), given.next()) {
        (Some(Ok(key)), None) => Some(key),
        _ => None,
    };
    let caller = match key {
        Some(key) => match keys::authenticate(&app, key).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "API key lookup failed");
                return ApiError::internal().into_response();
            }
        },
        _ => None,
    };
    let Some(Caller {
        principal,
        generation,
    }) = caller
    else {
        let ip = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string());
        let decision = app.ip_limiter.check(&ip).await;
        if !decision.allowed {
            metrics::counter!(crate::metrics::RATE_LIMITED, "scope" => "ip").increment(1);
            return too_many(&decision);
        }
        let message = match request.headers().get_all(API_KEY_HEADER).iter().count() {
            0 => "Missing X-API-KEY header",
            1 => "Invalid or revoked API key",
            _ => "Send one X-API-KEY header, not several",
        };
        return ApiError::unauthorized(message).into_response();
    };
    let decision = app.limiter.check(&principal.key_id).await;
    if !decision.allowed {
        metrics::counter!(crate::metrics::RATE_LIMITED, "scope" => "key").increment(1);
        let mut response = too_many(&decision);
        rate_headers(response.headers_mut(), &decision);
        return response;
    }
    tracing::Span::current().record("user_id", principal.user_id.as_str());
    request.extensions_mut().insert(principal);
    request.extensions_mut().insert(generation);
    let mut response = next.run(request).await;
    rate_headers(response.headers_mut(), &decision);
    response
}

fn too_many(decision: &Decision) -> Response {
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        format!(
            "Rate limit exceeded; retry in {} s",
            decision.retry_after_secs
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert("retry-after", HeaderValue::from(decision.retry_after_secs));
    response
}

/// Seed 004's headers: the per-minute limit, what is left now, and whole
/// seconds until it is all back (relative, never an epoch time).
fn rate_headers(headers: &mut HeaderMap, d: &Decision) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(d.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(d.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(d.reset_secs));
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
