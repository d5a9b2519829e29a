//! `/contents/v1/connectors`: create, list, read, update (PUT) and delete.

use super::error::{ApiError, ErrorBody};
use super::json::{from_value, JsonBody};
use super::params::{parse_hyphenated_uuid, ConnectorId, ConnectorPath, Query};
use super::reuse::Reusable;
use crate::domain::connector::parse_allowed_emails;
use crate::domain::{
    Connector, ConnectorConfig, ConnectorKind, ConnectorState, Description, Label, Principal,
    Timestamp,
};
use crate::service::connectors::{self as service, ConnectorEdit, DeleteOptions, NewConnector};
use crate::service::AppState;
use crate::store::{ConnectorPage, Ownership};
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

// ---------------------------------------------------------------- responses

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorType {
    Email,
    InvestmentResearch,
}

impl From<ConnectorKind> for ConnectorType {
    fn from(k: ConnectorKind) -> Self {
        match k {
            ConnectorKind::Email => Self::Email,
            ConnectorKind::InvestmentResearch => Self::InvestmentResearch,
        }
    }
}

impl From<ConnectorType> for ConnectorKind {
    fn from(t: ConnectorType) -> Self {
        match t {
            ConnectorType::Email => Self::Email,
            ConnectorType::InvestmentResearch => Self::InvestmentResearch,
        }
    }
}

/// `active`, `paused` (ingests nothing until resumed), `archived`
/// (soft-deleted) or `deleting` (hard delete under way).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorStateView {
    Active,
    Paused,
    Archived,
    Deleting,
}

/// An ingestion source: an email inbox or a research-portal sync.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorView {
    pub connector_id: Uuid,
    pub user_id: String,
    pub org_id: String,
    pub share_with_org: bool,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: ConnectorType,
    pub description: String,
    pub config: ConnectorConfigView,
    /// Documents currently held that this connector ingested.
    pub files_count: i64,
    #[schema(format = DateTime)]
    pub last_sync_at: Option<String>,
    pub last_sync_status: Option<String>,
    pub last_sync_error_msg: Option<String>,
    pub last_sync_count: Option<i64>,
    #[schema(format = DateTime, example = "2026-02-11T11:01:09.574095Z")]
    pub created_at: String,
    #[schema(format = DateTime, example = "2026-02-11T11:01:09.574102Z")]
    pub updated_at: String,
    /// `true` once soft- or hard-deleted.
    pub archived: bool,
    pub state: ConnectorStateView,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ConnectorConfigView {
    Email(EmailConfigView),
    InvestmentResearch(ResearchConfigView),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailConfigView {
    pub allowed_emails: Vec<String>,
    #[schema(example = "a1b2c3d4e5f6")]
    pub email_hash: String,
    #[schema(example = "a1b2c3d4e5f6@inbox.example.com")]
    pub email: String,
}

/// Never carries the password.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResearchConfigView {
    pub user_id: String,
    pub portal: String,
}

impl ConnectorView {
    pub fn new(c: &Connector, inbox_domain: &str) -> Self {
        let config = match &c.config {
            ConnectorConfig::Email {
                allowed_emails,
                email_hash,
            } => ConnectorConfigView::Email(EmailConfigView {
                allowed_emails: allowed_emails.clone(),
                email_hash: email_hash.clone(),
                email: format!("{email_hash}@{inbox_domain}"),
            }),
            ConnectorConfig::InvestmentResearch {
                user_id, portal, ..
            } => ConnectorConfigView::InvestmentResearch(ResearchConfigView {
                user_id: user_id.clone(),
                portal: portal.clone(),
            }),
        };
        let sync = c.last_sync.as_ref();
        Self {
            connector_id: c.id,
            user_id: c.user_id.clone(),
            org_id: c.org_id.clone(),
            share_with_org: c.share_with_org,
            label: c.label.as_str().to_string(),
            kind: c.kind().into(),
            description: c.description.as_str().to_string(),
            config,
            files_count: c.files_count,
            last_sync_at: sync.map(|s| s.at.to_rfc3339()),
            last_sync_status: sync.map(|s| s.status.clone()),
            last_sync_error_msg: sync.and_then(|s| s.error_msg.clone()),
            last_sync_count: sync.and_then(|s| s.count),
            created_at: c.created_at.to_rfc3339(),
            updated_at: c.updated_at.to_rfc3339(),
            archived: c.archived(),
            state: match c.state {
                ConnectorState::Active => ConnectorStateView::Active,
                ConnectorState::Paused => ConnectorStateView::Paused,
                ConnectorState::Archived => ConnectorStateView::Archived,
                ConnectorState::Deleting => ConnectorStateView::Deleting,
            },
        }
    }
}

fn view(app: &AppState, c: &Connector) -> Json<ConnectorView> {
    Json(ConnectorView::new(c, &app.config.inbox_domain))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorList {
    pub results: Vec<ConnectorView>,
    /// Pass back as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

// ---------------------------------------------------------------- create

/// Payload for creating a connector.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents the body; `service::check_new` reads it
pub struct ConnectorCreate {
    #[serde(rename = "type")]
    pub kind: ConnectorType,
    pub label: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub share_with_org: Option<bool>,
    #[schema(value_type = ConnectorConfigInput)]
    pub config: Value,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ConnectorConfigInput {
    Email(EmailConfigInput),
    InvestmentResearch(ResearchConfigInput),
}

/// Email config on create: `email_hash` and `email` are generated.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct EmailConfigInput {
    pub allowed_emails: Vec<String>,
}

/// Research portal login; `portal` defaults to the server's default portal.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ResearchConfigInput {
    pub user_id: String,
    pub user_password: String,
    #[serde(default)]
    pub portal: Option<String>,
}

fn invalid(e: crate::domain::ValidationError) -> ApiError {
    ApiError::from(crate::error::Error::from(e))
}

/// The create rules applied to a body: the connector, or the first problem.
fn check_create(app: &AppState, body: &Map<String, Value>) -> Result<NewConnector, ApiError> {
    service::check_new(&app.config, body).map_err(|mut problems| invalid(problems.swap_remove(0)))
}

/// Create a connector
#[utoipa::path(
    post,
    path = "/contents/v1/connectors",
    tag = "Connectors",
    request_body = ConnectorCreate,
    responses(
        (status = 201, description = "The created connector", body = ConnectorView,
         headers(("Location" = String, description = "/contents/v1/connectors/{connector_id}"))),
        (status = 400, description = "Invalid body; the message names the field", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn create_connector(
    State(app): State<AppState>,
    caller: Principal,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<impl IntoResponse, ApiError> {
    let new = check_create(&app, &body)?;
    let connector = service::create(&app, &caller, new).await?;
    let location = format!("/contents/v1/connectors/{}", connector.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        view(&app, &connector),
    ))
}

// ---------------------------------------------------------------- list

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 500;

/// Query parameters of the connector list.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListConnectorsParams {
    /// Only connectors of this type.
    #[param(value_type = Option<ConnectorType>, rename = "type")]
    pub kind: Option<ConnectorKind>,
    /// Only archived (`true`) or only not archived (`false`: active or
    /// paused) connectors.
    pub archived: Option<bool>,
    /// Only connectors in this state.
    #[param(value_type = Option<String>, pattern = "^(active|paused|archived)$")]
    pub state: Option<ConnectorState>,
    /// `all` (default), `owned` (the caller's own) or `shared` (others',
    /// shared with the caller's org).
    #[param(value_type = Option<String>, pattern = "^(all|owned|shared)$")]
    pub ownership: Option<Ownership>,
    /// Page size, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl ListConnectorsParams {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let q = Query::parse(
            raw,
            &["type", "archived", "state", "ownership", "limit", "cursor"],
        )?;
        Ok(Self {
            kind: q
                .choice("type", &["email", "investment_research"])?
                .and_then(ConnectorKind::parse),
            archived: q.bool("archived")?,
            state: q
                .choice("state", &["active", "paused", "archived"])?
                .and_then(ConnectorState::parse),
            ownership: q
                .choice("ownership", &["all", "owned", "shared"])?
                .map(|o| match o {
                    "owned" => Ownership::Owned,
                    "shared" => Ownership::Shared,
                    _ => Ownership::All,
                }),
            limit: q.int("limit", 1..=MAX_PAGE)?,
            cursor: q.one("cursor")?.map(str::to_string),
        })
    }
}

/// The opaque cursor is the keyset position `(created_at, connector_id)`:
/// `<micros>.<uuid>`. Only what `encode_cursor` writes decodes, so the
/// document's pattern for it (`openapi::CURSOR_PATTERN`) is exact.
pub fn encode_cursor(c: &Connector) -> String {
    format!("{}.{}", c.created_at.as_micros(), c.id)
}

pub fn decode_cursor(cursor: &str) -> Result<(Timestamp, Uuid), ApiError> {
    let bad = || ApiError::invalid("cursor: is not a next_cursor returned by this endpoint");
    let (micros, id) = cursor.split_once('.').ok_or_else(bad)?;
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    let id = parse_hyphenated_uuid(id).ok_or_else(bad)?;
    let position = (Timestamp::from_micros(micros), id);
    if micros < 0 || format!("{micros}.{id}") != cursor {
        return Err(bad());
    }
    Ok(position)
}

/// List connectors
///
/// The connectors the caller can see, newest first: their own, and those
/// shared with their org. Hard-deleted connectors are not listed.
#[utoipa::path(
    get,
    path = "/contents/v1/connectors",
    tag = "Connectors",
    params(ListConnectorsParams),
    responses(
        (status = 200, description = "A page of connectors", body = ConnectorList),
        (status = 400, description = "Unknown or invalid query parameter", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn list_connectors(
    State(app): State<AppState>,
    caller: Principal,
    reuse: Reusable,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = ListConnectorsParams::parse(raw.as_deref())?;
    if let Some(kept) = reuse.kept(&caller) {
        return Ok(kept);
    }
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    let page = ConnectorPage {
        kind: params.kind,
        archived: params.archived,
        state: params.state,
        ownership: params.ownership.unwrap_or_default(),
        after: params.cursor.as_deref().map(decode_cursor).transpose()?,
        // One extra row tells whether another page follows.
        limit: limit + 1,
    };
    let mut rows = service::list(&app, &caller, &page).await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(encode_cursor)
    } else {
        None
    };
    let list = ConnectorList {
        results: rows
            .iter()
            .map(|c| ConnectorView::new(c, &app.config.inbox_domain))
            .collect(),
        next_cursor,
    };
    Ok(reuse.answer(&caller, &list))
}

// ---------------------------------------------------------------- get

/// Get a connector
#[utoipa::path(
    get,
    path = "/contents/v1/connectors/{connector_id}",
    tag = "Connectors",
    params(("connector_id" = Uuid, Path, description = "UUID of the connector")),
    responses(
        (status = 200, description = "The connector", body = ConnectorView),
        (status = 400, description = "Malformed connector_id", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
        (status = 404, description = "No such connector, or not visible to the caller", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn get_connector(
    State(app): State<AppState>,
    caller: Principal,
    reuse: Reusable,
    ConnectorId(id): ConnectorId,
) -> Result<Response, ApiError> {
    if let Some(kept) = reuse.kept(&caller) {
        return Ok(kept);
    }
    let connector = service::get(&app, &caller, id).await?;
    let view = ConnectorView::new(&connector, &app.config.inbox_domain);
    Ok(reuse.answer(&caller, &view))
}

// ---------------------------------------------------------------- update

/// Payload for updating a connector (PUT semantics: omitted `description`
/// becomes `""`, omitted `share_with_org` becomes `false`, omitted or `null`
/// `config` is unchanged). Read-only Connector fields may be sent back
/// unchanged.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the body; parsing compares it with the stored connector
pub struct ConnectorUpdate {
    pub label: String,
    pub description: Option<String>,
    pub share_with_org: Option<bool>,
    pub config: Option<EmailConfigUpdate>,
}

/// Email config on update: `allowed_emails` replaces the list; `email_hash`
/// and `email` may be sent back but must equal the current values.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailConfigUpdate {
    pub allowed_emails: Vec<String>,
    #[serde(default)]
    pub email_hash: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// Fields of the Connector a client may send back but not change.
pub const READ_ONLY_FIELDS: &[&str] = &[
    "connector_id",
    "user_id",
    "org_id",
    "created_at",
    "updated_at",
    "archived",
    "state",
    "files_count",
    "last_sync_at",
    "last_sync_status",
    "last_sync_error_msg",
    "last_sync_count",
];

/// Checks a PUT body against the current connector and turns it into an edit.
fn parse_update(body: Value, current: &ConnectorView) -> Result<ConnectorEdit, ApiError> {
    let Value::Object(mut body) = body else {
        return Err(ApiError::invalid("Request body must be a JSON object"));
    };
    let current_json = serde_json::to_value(current).map_err(|_| ApiError::internal())?;
    let take = |body: &mut Map<String, Value>, k: &str| body.remove(k).filter(|v| !v.is_null());

    if let Some(kind) = body.remove("type") {
        if kind != current_json["type"] {
            return Err(ApiError::invalid("type: cannot be changed"));
        }
    }
    for field in READ_ONLY_FIELDS {
        if let Some(sent) = body.remove(*field) {
            if sent != current_json[*field] {
                return Err(ApiError::invalid(format!(
                    "{field}: is read-only and differs from the current value"
                )));
            }
        }
    }
    let label: String = from_value(
        body.remove("label")
            .ok_or_else(|| ApiError::invalid("missing field `label`"))?,
        "label",
    )?;
    let description: Option<String> = take(&mut body, "description")
        .map(|v| from_value(v, "description"))
        .transpose()?;
    let share_with_org: Option<bool> = take(&mut body, "share_with_org")
        .map(|v| from_value(v, "share_with_org"))
        .transpose()?;
    let config = take(&mut body, "config");
    if let Some(unknown) = body.keys().next() {
        return Err(ApiError::invalid(format!("unknown field `{unknown}`")));
    }

    let allowed_emails = match (config, &current.config) {
        (None, _) => None,
        (Some(sent), ConnectorConfigView::Email(cur)) => {
            let update: EmailConfigUpdate = from_value(sent, "config")?;
            if update.email_hash.is_some_and(|h| h != cur.email_hash) {
                return Err(ApiError::invalid("config.email_hash: cannot be changed"));
            }
            if update.email.is_some_and(|e| e != cur.email) {
                return Err(ApiError::invalid("config.email: cannot be changed"));
            }
            Some(parse_allowed_emails(&update.allowed_emails).map_err(invalid)?)
        }
        (Some(sent), ConnectorConfigView::InvestmentResearch(_)) => {
            if sent != current_json["config"] {
                return Err(ApiError::invalid(
                    "config: broker credentials are fixed at creation; create a new connector",
                ));
            }
            None
        }
    };
    Ok(ConnectorEdit {
        label: Label::parse(&label).map_err(invalid)?,
        description: Description::parse(description.as_deref()).map_err(invalid)?,
        share_with_org: share_with_org.unwrap_or(false),
        allowed_emails,
    })
}

/// Update a connector
///
/// Replaces `label`, `description`, `share_with_org` and, for email
/// connectors, `config.allowed_emails`. The type and research credentials are
/// fixed.
#[utoipa::path(
    put,
    path = "/contents/v1/connectors/{connector_id}",
    tag = "Connectors",
    params(("connector_id" = Uuid, Path, description = "UUID of the connector")),
    request_body = ConnectorUpdate,
    responses(
        (status = 200, description = "The updated connector", body = ConnectorView),
        (status = 400, description = "Malformed id or invalid body", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
        (status = 404, description = "No such connector, or not the caller's", body = ErrorBody),
        (status = 409, description = "The connector is being deleted", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn update_connector(
    State(app): State<AppState>,
    caller: Principal,
    ConnectorId(id): ConnectorId,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<ConnectorView>, ApiError> {
    let connector = service::update(&app, &caller, id, |current| {
        parse_update(body, &ConnectorView::new(current, &app.config.inbox_domain))
    })
    .await?;
    Ok(view(&app, &connector))
}

// ---------------------------------------------------------------- delete

/// Query parameters of the delete.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteConnectorParams {
    /// `true`: hard delete (purge documents, then the connector).
    pub force_delete: Option<bool>,
    /// Alias of `force_delete`.
    pub hard: Option<bool>,
    /// `true`: also remove the connector's sync-job history.
    pub delete_sync_jobs: Option<bool>,
}

impl DeleteConnectorParams {
    fn parse(raw: Option<&str>) -> Result<DeleteOptions, ApiError> {
        let q = Query::parse(raw, &["force_delete", "hard", "delete_sync_jobs"])?;
        let params = Self {
            force_delete: q.bool("force_delete")?,
            hard: q.bool("hard")?,
            delete_sync_jobs: q.bool("delete_sync_jobs")?,
        };
        let force = match (params.force_delete, params.hard) {
            (Some(a), Some(b)) if a != b => {
                return Err(ApiError::invalid("hard: contradicts force_delete"))
            }
            (a, b) => a.or(b).unwrap_or(false),
        };
        Ok(DeleteOptions {
            force,
            delete_sync_jobs: params.delete_sync_jobs.unwrap_or(false),
        })
    }
}

/// Delete a connector
///
/// By default archives the connector (soft delete): it stops ingesting at
/// once and its documents stay. Idempotent. `force_delete=true` (alias
/// `hard`) is the hard delete: the connector turns `deleting` at once and its
/// documents, then the connector itself, are purged asynchronously.
#[utoipa::path(
    delete,
    path = "/contents/v1/connectors/{connector_id}",
    tag = "Connectors",
    params(("connector_id" = Uuid, Path, description = "UUID of the connector"), DeleteConnectorParams),
    responses(
        (status = 200, description = "The connector in its archived (or deleting) state", body = ConnectorView),
        (status = 400, description = "Malformed id or query", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
        (status = 404, description = "No such connector, or not the caller's", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn delete_connector(
    State(app): State<AppState>,
    caller: Principal,
    ConnectorId(id): ConnectorId,
    RawQuery(raw): RawQuery,
) -> Result<Json<ConnectorView>, ApiError> {
    let options = DeleteConnectorParams::parse(raw.as_deref())?;
    let connector = service::delete(&app, &caller, id, options).await?;
    Ok(view(&app, &connector))
}

// ---------------------------------------------------------------- pause, resume

/// Pause a connector
///
/// Owner only, no body, idempotent. A paused connector ingests nothing:
/// its inbox answers `451 4.2.1 Inbox paused` (senders retry), no scheduled
/// sync starts, a running one is canceled, and on-demand syncs are
/// `409 CONNECTOR_PAUSED`.
#[utoipa::path(
    post,
    path = "/contents/v1/connectors/{connector_id}/pause",
    tag = "Connectors",
    params(ConnectorPath),
    responses(
        (status = 200, description = "The paused connector", body = ConnectorView),
        (status = 400, description = "Malformed connector_id", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
        (status = 404, description = "No such connector, or not the caller's", body = ErrorBody),
        (status = 409, description = "CONNECTOR_ARCHIVED or CONNECTOR_DELETING", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn pause_connector(
    State(app): State<AppState>,
    caller: Principal,
    ConnectorId(id): ConnectorId,
) -> Result<Json<ConnectorView>, ApiError> {
    let connector = service::set_paused(&app, &caller, id, true).await?;
    Ok(view(&app, &connector))
}

/// Resume a connector
///
/// Owner only, no body, idempotent: a paused connector ingests again.
#[utoipa::path(
    post,
    path = "/contents/v1/connectors/{connector_id}/resume",
    tag = "Connectors",
    params(ConnectorPath),
    responses(
        (status = 200, description = "The active connector", body = ConnectorView),
        (status = 400, description = "Malformed connector_id", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
        (status = 404, description = "No such connector, or not the caller's", body = ErrorBody),
        (status = 409, description = "CONNECTOR_ARCHIVED or CONNECTOR_DELETING", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn resume_connector(
    State(app): State<AppState>,
    caller: Principal,
    ConnectorId(id): ConnectorId,
) -> Result<Json<ConnectorView>, ApiError> {
    let connector = service::set_paused(&app, &caller, id, false).await?;
    Ok(view(&app, &connector))
}

// ---------------------------------------------------------------- validate

/// A create body, and optionally `test_connection`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents the body; `service::check_new` reads it
pub struct ConnectorValidate {
    #[serde(rename = "type")]
    pub kind: ConnectorType,
    pub label: String,
    pub description: Option<String>,
    pub share_with_org: Option<bool>,
    #[schema(value_type = ConnectorConfigInput)]
    pub config: Value,
    /// `investment_research`: also log in to the portal and list its root.
    pub test_connection: Option<bool>,
}

/// One problem of a body.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldProblem {
    /// Where, such as `config.allowed_emails[2]`; `connection` for a failed
    /// connection test.
    #[schema(example = "config.allowed_emails[2]")]
    pub field: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidationResult {
    pub valid: bool,
    /// Every problem, when not valid.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// Validate a connector
///
/// Checks a create body with the rules of create and lists **every**
/// problem at once; nothing is created. With `"test_connection": true`, an
/// `investment_research` body also logs in to the portal and lists its root
/// within the portal's `connect_timeout` (a failure is the field
/// `connection`; no message holds a secret).
#[utoipa::path(
    post,
    path = "/contents/v1/connectors/validate",
    tag = "Connectors",
    request_body = ConnectorValidate,
    responses(
        (status = 200, description = "Whether the body is valid, and every problem", body = ValidationResult),
        (status = 400, description = "The body is not a JSON object", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn validate_connector(
    State(app): State<AppState>,
    _caller: Principal,
    JsonBody(mut body): JsonBody<Map<String, Value>>,
) -> Result<Json<ValidationResult>, ApiError> {
    let mut problems = Vec::new();
    let test = match body.remove("test_connection") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => {
            problems.push(crate::domain::ValidationError::new(
                "test_connection",
                "must be true or false",
            ));
            false
        }
    };
    match service::check_new(&app.config, &body) {
        Ok(new) if problems.is_empty() && test => {
            problems.extend(service::test_connection(&app, &new).await);
        }
        Ok(_) => {}
        Err(more) => problems.extend(more),
    }
    Ok(Json(ValidationResult {
        valid: problems.is_empty(),
        errors: problems
            .into_iter()
            .map(|p| FieldProblem {
                field: p.field,
                message: p.message,
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let id = Uuid::now_v7();
        assert_eq!(
            decode_cursor(&format!("123.{id}")).unwrap(),
            (Timestamp::from_micros(123), id)
        );
        let upper = id.to_string().to_ascii_uppercase();
        for bad in [
            String::new(),
            "!!".into(),
            "123".into(),
            format!("0123.{id}"),
            format!("-1.{id}"),
            format!("+1.{id}"),
            format!("1.{upper}"),
            format!("1.{}", id.simple()),
            "123.not-a-uuid".into(),
            format!("99999999999999999999.{id}"),
        ] {
            assert!(decode_cursor(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn delete_params() {
        let p = |q: &str| DeleteConnectorParams::parse(Some(q));
        assert!(p("force_delete=true").unwrap().force);
        assert!(p("hard=true").unwrap().force);
        assert!(!p("").unwrap().force);
        assert!(p("delete_sync_jobs=true").unwrap().delete_sync_jobs);
        assert!(p("force_delete=yes").is_err());
        assert!(p("force_delete=true&hard=false").is_err());
        assert!(p("purge=true").is_err());
    }
}
