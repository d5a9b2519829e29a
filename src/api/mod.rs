//! The HTTP API: routing, middleware and one module per resource. Handlers
//! parse, call a service, and map the result; they hold no rules or SQL.

pub mod annotated;
pub mod auth;
pub mod conn;
pub mod connectors;
pub mod documents;
pub mod error;
pub mod events;
pub mod files;
pub mod health;
pub mod json;
pub mod limits;
pub mod openapi;
pub mod params;
pub mod request_id;
pub mod reuse;
pub mod sync;
pub mod tags;

use crate::service::AppState;
use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{middleware, Router};
use error::ApiError;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every route of the service, with its OpenAPI document.
pub fn router(app: AppState) -> Router {
    let (contents, mut doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(
            connectors::create_connector,
            connectors::list_connectors
        ))
        .routes(routes!(connectors::validate_connector))
        .routes(routes!(connectors::pause_connector))
        .routes(routes!(connectors::resume_connector))
        .routes(routes!(events::list_events))
        .routes(routes!(
            connectors::get_connector,
            connectors::update_connector,
            connectors::delete_connector
        ))
        .routes(routes!(
            documents::create_document,
            documents::list_documents
        ))
        .routes(routes!(
            documents::get_document,
            documents::patch_document,
            documents::delete_document
        ))
        .routes(routes!(documents::original_url))
        .routes(routes!(annotated::annotated))
        .routes(routes!(tags::list_tags, tags::create_tag))
        .routes(routes!(sync::trigger_sync))
        .routes(routes!(sync::list_sync_jobs))
        .routes(routes!(sync::get_sync_job))
        .routes(routes!(sync::cancel_sync_job))
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            auth::require_key,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            app.config.http.request_timeout(),
        ))
        .split_for_parts();
    let (ops, ops_doc) = OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(files::upload))
        .routes(routes!(files::download))
        .routes(routes!(annotated::signed_annotated))
        .split_for_parts();
    doc.merge(ops_doc);
    let doc = openapi::document(doc, &app.config);
    let doc = Bytes::from(serde_json::to_vec(&doc).expect("the OpenAPI document serializes"));

    let console = if app.config.console.enabled {
        crate::console::router()
    } else {
        Router::new()
    };
    contents
        .merge(ops)
        .merge(console)
        .route(
            "/openapi.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], doc) }),
        )
        .route_layer(middleware::from_fn(request_id::record_route))
        .fallback(|| async { ApiError::from_status(StatusCode::NOT_FOUND) })
        .method_not_allowed_fallback(|| async {
            ApiError::from_status(StatusCode::METHOD_NOT_ALLOWED).into_response()
        })
        .layer(middleware::from_fn(limits::host))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            limits::header_size,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            ApiError::internal().into_response()
        }))
        .layer(middleware::from_fn(request_id::middleware))
        .with_state(app)
}
