//! Syncs of `investment_research` connectors: trigger one, list a
//! connector's sync jobs, read and cancel one (Elasticsearch's sync-job API).

use super::error::{ApiError, ErrorBody};
use super::json::JsonBody;
use super::params::{parse_hyphenated_uuid, ConnectorId};
use crate::domain::sync_job::parse_date_limit;
use crate::domain::{Principal, SyncJob, SyncStatus, Timestamp, TriggerMethod};
use crate::service::{sync as service, AppState};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `{sync_job_id}` in a path.
pub struct SyncJobId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for SyncJobId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let invalid = || ApiError::invalid("sync_job_id: must be a UUID");
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| invalid())?;
        parse_hyphenated_uuid(&raw)
            .map(SyncJobId)
            .ok_or_else(invalid)
    }
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatusView {
    Pending,
    InProgress,
    Canceling,
    Canceled,
    Completed,
    Error,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerView {
    OnDemand,
    Scheduled,
}

/// One run of a research connector's sync.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncJobView {
    pub sync_job_id: Uuid,
    pub connector_id: Uuid,
    pub status: SyncStatusView,
    pub trigger_method: TriggerView,
    /// `YYYY-MM-DD`; `null` for a scheduled first sync (everything).
    pub date_limit: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    pub indexed_document_count: i64,
    pub skipped_document_count: i64,
    pub error: Option<String>,
    /// Extension: files skipped after their retries (the first 100).
    pub errors: Vec<FileErrorView>,
}

/// A file the sync skipped, and why.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileErrorView {
    pub remote_path: String,
    pub message: String,
}

impl From<&SyncJob> for SyncJobView {
    fn from(j: &SyncJob) -> Self {
        Self {
            sync_job_id: j.id,
            connector_id: j.connector_id,
            status: match j.status {
                SyncStatus::Pending => SyncStatusView::Pending,
                SyncStatus::InProgress => SyncStatusView::InProgress,
                SyncStatus::Canceling => SyncStatusView::Canceling,
                SyncStatus::Canceled => SyncStatusView::Canceled,
                SyncStatus::Completed => SyncStatusView::Completed,
                SyncStatus::Error => SyncStatusView::Error,
            },
            trigger_method: match j.trigger_method {
                TriggerMethod::OnDemand => TriggerView::OnDemand,
                TriggerMethod::Scheduled => TriggerView::Scheduled,
            },
            date_limit: j.date_limit.clone(),
            created_at: j.created_at.to_rfc3339(),
            started_at: j.started_at.map(Timestamp::to_rfc3339),
            completed_at: j.completed_at.map(Timestamp::to_rfc3339),
            indexed_document_count: j.indexed_document_count,
            skipped_document_count: j.skipped_document_count,
            error: j.error.clone(),
            errors: j
                .errors
                .iter()
                .map(|e| FileErrorView {
                    remote_path: e.remote_path.clone(),
                    message: e.message.clone(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncJobList {
    pub results: Vec<SyncJobView>,
}

/// Payload for triggering a sync.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// Sync research published or delivered on or after this date (`YYYY-MM-DD`).
    #[schema(example = "2026-02-01")]
    pub date_limit: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncAccepted {
    pub connector_id: Uuid,
    #[schema(example = "accepted")]
    pub status: &'static str,
    pub date_limit: String,
    pub sync_job_id: Uuid,
}

/// Trigger a sync
#[utoipa::path(
    post,
    path = "/contents/v1/connectors/{connector_id}/sync",
    tag = "Sync jobs",
    params(("connector_id" = Uuid, Path, description = "UUID of an investment_research connector")),
    request_body = SyncRequest,
    responses(
        (status = 202, description = "The sync is queued", body = SyncAccepted),
        (status = 400, description = "Malformed id or body, or not an investment_research connector", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
        (status = 404, description = "No such connector, or not the caller's", body = ErrorBody),
        (status = 409, description = "Archived (CONNECTOR_ARCHIVED), being deleted (CONNECTOR_DELETING), or a sync is already pending or running (SYNC_IN_PROGRESS)", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn trigger_sync(
    State(app): State<AppState>,
    caller: Principal,
    ConnectorId(id): ConnectorId,
    JsonBody(body): JsonBody<SyncRequest>,
) -> Result<(StatusCode, Json<SyncAccepted>), ApiError> {
    let date_limit = parse_date_limit(&body.date_limit)
        .ok_or_else(|| ApiError::invalid("date_limit: must be a date such as 2026-02-01"))?;
    let job = service::trigger(&app, &caller, id, date_limit.clone()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SyncAccepted {
            connector_id: id,
            status: "accepted",
            date_limit,
            sync_job_id: job.id,
        }),
    ))
}

/// List a connector's sync jobs
#[utoipa::path(
    get,
    path = "/contents/v1/connectors/{connector_id}/sync_jobs",
    tag = "Sync jobs",
    params(("connector_id" = Uuid, Path, description = "UUID of the connector")),
    responses(
        (status = 200, description = "Newest first", body = SyncJobList),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
        (status = 404, description = "No such connector, or not visible", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn list_sync_jobs(
    State(app): State<AppState>,
    caller: Principal,
    ConnectorId(id): ConnectorId,
) -> Result<Json<SyncJobList>, ApiError> {
    let jobs = service::list(&app, &caller, id).await?;
    Ok(Json(SyncJobList {
        results: jobs.iter().map(SyncJobView::from).collect(),
    }))
}

/// Get a sync job
#[utoipa::path(
    get,
    path = "/contents/v1/sync_jobs/{sync_job_id}",
    tag = "Sync jobs",
    params(("sync_job_id" = Uuid, Path, description = "UUID of the sync job")),
    responses(
        (status = 200, description = "The sync job", body = SyncJobView),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
        (status = 404, description = "No such sync job, or its connector is not visible", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn get_sync_job(
    State(app): State<AppState>,
    caller: Principal,
    SyncJobId(id): SyncJobId,
) -> Result<Json<SyncJobView>, ApiError> {
    let job = service::get(&app, &caller, id).await?;
    Ok(Json(SyncJobView::from(&job)))
}

/// Cancel a sync job
#[utoipa::path(
    post,
    path = "/contents/v1/sync_jobs/{sync_job_id}/cancel",
    tag = "Sync jobs",
    params(("sync_job_id" = Uuid, Path, description = "UUID of the sync job")),
    responses(
        (status = 200, description = "Pending: canceled; running: canceling", body = SyncJobView),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
        (status = 404, description = "No such sync job, or not the caller's", body = ErrorBody),
        (status = 409, description = "Already finished (SYNC_JOB_FINISHED)", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn cancel_sync_job(
    State(app): State<AppState>,
    caller: Principal,
    SyncJobId(id): SyncJobId,
) -> Result<Json<SyncJobView>, ApiError> {
    let job = service::cancel(&app, &caller, id).await?;
    Ok(Json(SyncJobView::from(&job)))
}
