//! The web console (contract §14): server-rendered pages at `/console`,
//! with their assets embedded in the binary. Handlers read a form or a
//! path, call the same `service` functions as the JSON API, and render a
//! template; what the API forbids fails here through the same errors.

mod assets;
mod connectors;
mod documents;
mod error;
mod form;
mod page;
mod session;
mod tags;

use crate::service::AppState;
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
pub use error::ConsoleError;

/// Scripts and styles come only from our own embedded files, so injected
/// markup could not run even if escaping failed somewhere; no framing
/// (click-jacking) and forms post only back to us.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Every console route, under `/console`.
pub fn router() -> Router<AppState> {
    let pages = Router::new()
        .route(
            "/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/sign-out", post(session::sign_out))
        .route(
            "/connectors",
            get(connectors::list).post(connectors::create),
        )
        .route("/connectors/new", get(connectors::new_page))
        .route(
            "/connectors/{id}",
            get(connectors::show).post(connectors::update),
        )
        .route("/connectors/{id}/edit", get(connectors::edit_page))
        .route("/connectors/{id}/pause", post(connectors::pause))
        .route("/connectors/{id}/resume", post(connectors::resume))
        .route("/connectors/{id}/archive", post(connectors::archive))
        .route(
            "/connectors/{id}/delete",
            get(connectors::delete_page).post(connectors::delete),
        )
        .route("/connectors/{id}/sync", post(connectors::sync))
        .route("/sync-jobs/{id}/cancel", post(connectors::cancel_sync))
        .route("/documents", get(documents::list))
        .route("/documents/{id}", get(documents::show))
        .route("/documents/{id}/original", get(documents::original))
        .route("/tags", get(tags::list).post(tags::create))
        .route("/assets/{file}", get(assets::serve))
        .fallback(|| async { ConsoleError::NotFound })
        .method_not_allowed_fallback(|| async { ConsoleError::MethodNotAllowed });
    Router::new()
        .route(
            "/console",
            get(session::home).fallback(|| async { ConsoleError::MethodNotAllowed }),
        )
        .nest("/console", pages)
        .layer(middleware::from_fn(security_headers))
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
