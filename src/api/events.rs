//! `GET /contents/v1/connectors/{connector_id}/events`: a connector's
//! activity log, newest first, paged with a cursor.

use super::error::{ApiError, ErrorBody};
use super::params::{parse_hyphenated_uuid, ConnectorId, ConnectorPath, Query};
use crate::domain::{Event, EventReason, EventType, Principal};
use crate::service::{events as service, AppState};
use axum::extract::{RawQuery, State};
use axum::Json;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 500;

/// What happened to the connector's input.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventTypeView {
    EmailAccepted,
    EmailRejected,
    SyncFileStored,
    SyncFileSkipped,
    SyncFileFailed,
    ConnectorPaused,
    ConnectorResumed,
    ConnectorArchived,
}

/// Why an e-mail was refused or not stored, or a sync file skipped.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventReasonView {
    SenderNotAllowed,
    SenderAuthFailed,
    TooLarge,
    InboxPaused,
    Duplicate,
    AmbiguousFrom,
    FileError,
}

/// One entry of a connector's activity log. Repeats of the same refusal
/// (same sender, reason and minute) are one event with a `count`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventView {
    pub event_id: Uuid,
    pub connector_id: Uuid,
    #[serde(rename = "type")]
    pub kind: EventTypeView,
    pub reason: Option<EventReasonView>,
    /// When it (first) happened.
    #[schema(format = DateTime, example = "2026-02-11T11:01:09.574095Z")]
    pub occurred_at: String,
    /// When it last happened (equal to `occurred_at` unless `count` > 1).
    #[schema(format = DateTime)]
    pub last_occurred_at: String,
    #[schema(minimum = 1)]
    pub count: i64,
    /// E-mail: the envelope sender (`MAIL FROM`).
    pub envelope_from: Option<String>,
    /// E-mail: the header `From` address.
    pub header_from: Option<String>,
    pub subject: Option<String>,
    /// E-mail: the inbox address it was sent to.
    pub recipient: Option<String>,
    /// E-mail: the SMTP reply code the sender got.
    pub smtp_code: Option<u16>,
    /// Documents it stored.
    pub document_ids: Vec<String>,
    pub sync_job_id: Option<Uuid>,
    /// Sync: the file on the portal.
    pub remote_path: Option<String>,
    /// Sync: why a file was skipped.
    pub message: Option<String>,
}

impl From<&Event> for EventView {
    fn from(e: &Event) -> Self {
        Self {
            event_id: e.id,
            connector_id: e.connector_id,
            kind: match e.kind {
                EventType::EmailAccepted => EventTypeView::EmailAccepted,
                EventType::EmailRejected => EventTypeView::EmailRejected,
                EventType::SyncFileStored => EventTypeView::SyncFileStored,
                EventType::SyncFileSkipped => EventTypeView::SyncFileSkipped,
                EventType::SyncFileFailed => EventTypeView::SyncFileFailed,
                EventType::Paused => EventTypeView::ConnectorPaused,
                EventType::Resumed => EventTypeView::ConnectorResumed,
                EventType::Archived => EventTypeView::ConnectorArchived,
            },
            reason: e.reason.map(|r| match r {
                EventReason::SenderNotAllowed => EventReasonView::SenderNotAllowed,
                EventReason::SenderAuthFailed => EventReasonView::SenderAuthFailed,
                EventReason::TooLarge => EventReasonView::TooLarge,
                EventReason::InboxPaused => EventReasonView::InboxPaused,
                EventReason::Duplicate => EventReasonView::Duplicate,
                EventReason::AmbiguousFrom => EventReasonView::AmbiguousFrom,
                EventReason::FileError => EventReasonView::FileError,
            }),
            occurred_at: e.occurred_at.to_rfc3339(),
            last_occurred_at: e.last_at.to_rfc3339(),
            count: e.count,
            envelope_from: e.envelope_from.clone(),
            header_from: e.header_from.clone(),
            subject: e.subject.clone(),
            recipient: e.recipient.clone(),
            smtp_code: e.smtp_code,
            document_ids: e.document_ids.clone(),
            sync_job_id: e.sync_job_id,
            remote_path: e.remote_path.clone(),
            message: e.message.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventList {
    pub results: Vec<EventView>,
    /// Pass back as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Query parameters of the event list.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListEventsParams {
    /// Page size, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(
        pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    pub cursor: Option<String>,
}

/// The cursor is the id of the last event of the page.
fn decode_cursor(raw: &str) -> Result<Uuid, ApiError> {
    parse_hyphenated_uuid(raw)
        .ok_or_else(|| ApiError::invalid("cursor: is not a next_cursor returned by this endpoint"))
}

/// List a connector's events
///
/// What happened to the connector's input, newest first: each e-mail
/// accepted or refused (with the reason and the SMTP reply), each sync file
/// stored, skipped or failed, each pause, resume and archive. Visible to
/// whoever can see the connector. Kept for `[events] retention` (30 days).
#[utoipa::path(
    get,
    path = "/contents/v1/connectors/{connector_id}/events",
    tag = "Connectors",
    params(ConnectorPath, ListEventsParams),
    responses(
        (status = 200, description = "A page of events", body = EventList),
        (status = 400, description = "Malformed connector_id or query", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
        (status = 404, description = "No such connector, or not visible to the caller", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn list_events(
    State(app): State<AppState>,
    caller: Principal,
    ConnectorId(id): ConnectorId,
    RawQuery(raw): RawQuery,
) -> Result<Json<EventList>, ApiError> {
    let q = Query::parse(raw.as_deref(), &["limit", "cursor"])?;
    let limit = q.int("limit", 1..=MAX_PAGE)?.unwrap_or(DEFAULT_PAGE);
    let before = q.one("cursor")?.map(decode_cursor).transpose()?;
    // One extra row tells whether another page follows.
    let mut rows = service::list(&app, &caller, id, before, limit + 1).await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|e| e.id.to_string())
    } else {
        None
    };
    Ok(Json(EventList {
        results: rows.iter().map(EventView::from).collect(),
        next_cursor,
    }))
}
