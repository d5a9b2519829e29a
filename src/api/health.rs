//! Liveness and readiness, without a key.

use super::error::{ApiError, ErrorBody};
use crate::service::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: 200 once every listener is bound
#[utoipa::path(get, path = "/healthz", tag = "Operations",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the database and the blob store answer
#[utoipa::path(get, path = "/readyz", tag = "Operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "A dependency is unreachable", body = ErrorBody),
    ))]
pub async fn readyz(State(app): State<AppState>) -> Result<Json<Health>, ApiError> {
    let unavailable = |what: &str| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            format!("The {what} is unreachable"),
        )
    };
    if let Err(e) = app.store.ping().await {
        tracing::warn!(error = %e, "readiness check failed: database");
        return Err(unavailable("database"));
    }
    if let Err(e) = app.blobs.ping().await {
        tracing::warn!(error = %e, "readiness check failed: blob store");
        return Err(unavailable("blob store"));
    }
    Ok(Json(Health { status: "ready" }))
}

/// Prometheus metrics
#[utoipa::path(get, path = "/metrics", tag = "Operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    match app.store.job_counts().await {
        Ok(counts) => gauges(
            crate::metrics::JOB_QUEUE,
            &["queued", "running", "dead"],
            &counts,
        ),
        Err(e) => tracing::warn!(error = %e, "could not count jobs for metrics"),
    }
    match app.store.connector_counts().await {
        Ok(counts) => gauges(
            crate::metrics::CONNECTORS,
            &["active", "paused", "archived", "deleting"],
            &counts,
        ),
        Err(e) => tracing::warn!(error = %e, "could not count connectors for metrics"),
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::metrics::handle().render(),
    )
}

/// Sets `name{state=...}` for every state, 0 for those `counts` lacks.
fn gauges(name: &'static str, states: &[&'static str], counts: &[(String, i64)]) {
    for state in states {
        let n = counts
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n);
        metrics::gauge!(name, "state" => *state).set(n as f64);
    }
}
