//! `X-Request-Id` on every response, the request's tracing span, and the
//! rendering of every error body with that id.

use super::error::ApiError;
use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::time::Instant;
use tracing::Instrument;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The route template a request matched, for metrics (bounded cardinality).
/// Marks a response whose body is already what the client should see (the
/// console's HTML pages), so errors keep it instead of the JSON error body.
#[derive(Clone, Copy)]
pub struct OwnBody;

#[derive(Clone)]
pub struct MatchedRoute(pub String);

/// Runs after routing: hands the matched template out to the response.
pub async fn record_route(
    matched: axum::extract::MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    response
        .extensions_mut()
        .insert(MatchedRoute(matched.as_str().to_string()));
    response
}

/// The methods the API serves, as static labels (no allocation per request).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The caller's id when it is 1–128 characters of `[A-Za-z0-9._-]`.
fn accept_client_id(value: &HeaderValue) -> Option<&str> {
    let s = value.to_str().ok()?;
    let ok = (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    ok.then_some(s)
}

pub async fn middleware(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(accept_client_id)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
        user_id = tracing::field::Empty,
    );
    let started = Instant::now();
    let method = method_label(request.method());
    async move {
        let mut response = next.run(request).await;
        let route = response
            .extensions_mut()
            .remove::<MatchedRoute>()
            .map_or_else(|| "unmatched".to_string(), |r| r.0);
        let status = response.status();
        let own_body = response.extensions().get::<OwnBody>().is_some();
        if (status.is_client_error() || status.is_server_error()) && !own_body {
            let error = response
                .extensions_mut()
                .remove::<ApiError>()
                .unwrap_or_else(|| ApiError::from_status(status));
            let headers = std::mem::take(response.headers_mut());
            response = (error.status, Json(error.body(&id))).into_response();
            for (name, value) in headers.iter() {
                // Keep headers such as Allow and Retry-After; the body is ours.
                if name != axum::http::header::CONTENT_TYPE
                    && name != axum::http::header::CONTENT_LENGTH
                {
                    response.headers_mut().append(name, value.clone());
                }
            }
        }
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body was never read: the connection cannot
            // carry another request, and the client must not try.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response.headers_mut().insert(
            X_REQUEST_ID.clone(),
            HeaderValue::from_str(&id).expect("request ids are ASCII"),
        );
        let elapsed = started.elapsed();
        let status = response.status().as_u16().to_string();
        metrics::counter!(crate::metrics::HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status)
            .increment(1);
        metrics::histogram!(crate::metrics::HTTP_DURATION, "method" => method, "route" => route)
            .record(elapsed.as_secs_f64());
        tracing::info!(
            status = response.status().as_u16(),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
        response
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::accept_client_id;
    use axum::http::HeaderValue;

    #[test]
    fn client_ids_are_accepted_only_when_safe() {
        let ok = |s: &str| accept_client_id(&HeaderValue::from_str(s).unwrap()).is_some();
        assert!(ok("abc-123_x.y"));
        assert!(ok(&"a".repeat(128)));
        assert!(!ok(&"a".repeat(129)));
        assert!(!ok(""));
        assert!(!ok("has space"));
        assert!(!ok("semi;colon"));
    }
}
