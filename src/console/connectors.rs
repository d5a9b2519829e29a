//! Connector pages: list, create, show (with events and sync jobs), edit,
//! pause, resume, archive, hard delete, start and cancel a sync.

use super::form::{Fields, SignedForm};
use super::page::{html, ok, when, Nav};
use super::session::Session;
use super::ConsoleError;
use crate::api::connectors::{decode_cursor, encode_cursor};
use crate::domain::connector::parse_allowed_emails;
use crate::domain::sync_job::parse_date_limit;
use crate::domain::{
    Connector, ConnectorConfig, ConnectorState, Description, Event, Label, SyncJob, ValidationError,
};
use crate::error::Error;
use crate::service::connectors::{self as service, ConnectorEdit, DeleteOptions};
use crate::service::{events, sync, AppState};
use crate::store::{ConnectorPage, Ownership};
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{json, Map, Value};
use uuid::Uuid;

const PAGE_SIZE: u32 = 50;
const EVENTS_SHOWN: u32 = 50;

/// A connector as the pages show it.
pub struct Row {
    pub id: String,
    pub label: String,
    pub description: String,
    pub kind: &'static str,
    pub is_email: bool,
    pub state: &'static str,
    pub files: i64,
    pub last_sync: String,
    pub inbox: Option<String>,
    pub allowed_emails: Vec<String>,
    pub portal: Option<String>,
    pub research_user: Option<String>,
    pub shared: bool,
    pub owned: bool,
    pub created: String,
}

impl Row {
    fn new(app: &AppState, session: &Session, c: &Connector) -> Self {
        let (inbox, allowed_emails, portal, research_user) = match &c.config {
            ConnectorConfig::Email {
                allowed_emails,
                email_hash,
            } => (
                Some(format!("{email_hash}@{}", app.config.inbox_domain)),
                allowed_emails.clone(),
                None,
                None,
            ),
            ConnectorConfig::InvestmentResearch {
                user_id, portal, ..
            } => (None, vec![], Some(portal.clone()), Some(user_id.clone())),
        };
        let last_sync = match &c.last_sync {
            Some(s) => format!("{} ({})", when(s.at), s.status.to_lowercase()),
            None if inbox.is_some() => "receives mail".into(),
            None => "never".into(),
        };
        Self {
            id: c.id.to_string(),
            label: c.label.as_str().to_string(),
            description: c.description.as_str().to_string(),
            kind: if inbox.is_some() {
                "E-mail inbox"
            } else {
                "Research sync"
            },
            is_email: inbox.is_some(),
            state: c.state.as_str(),
            files: c.files_count,
            last_sync,
            inbox,
            allowed_emails,
            portal,
            research_user,
            shared: c.share_with_org,
            owned: session.principal.owns(c),
            created: when(c.created_at),
        }
    }
}

/// Confirmation of what an action just did, chosen from fixed texts (never
/// echoed from the query).
fn notice(raw: Option<&str>) -> Option<&'static str> {
    let fields = Fields::parse(raw.unwrap_or_default().as_bytes());
    Some(match fields.get("done")? {
        "created" => "Connector created.",
        "updated" => "Changes saved.",
        "paused" => "Paused: nothing is ingested until you resume it.",
        "resumed" => "Resumed.",
        "archived" => "Archived: it ingests nothing more; its documents stay.",
        "deleted" => "Hard delete accepted: its documents are being removed.",
        "sync" => "Sync queued.",
        "canceled" => "Sync cancel requested.",
        _ => return None,
    })
}

fn connector_id(raw: &str) -> Result<Uuid, ConsoleError> {
    crate::api::params::parse_hyphenated_uuid(raw).ok_or(ConsoleError::NotFound)
}

fn back_to(id: Uuid, done: &str) -> Response {
    Redirect::to(&format!("/console/connectors/{id}?done={done}")).into_response()
}

// ---------------------------------------------------------------- list

#[derive(Template)]
#[template(path = "console/connectors.html")]
struct ListPage {
    nav: Nav,
    notice: Option<&'static str>,
    rows: Vec<Row>,
    /// No cursor: the newest connectors.
    first: bool,
    next: Option<String>,
}

pub async fn list(
    State(app): State<AppState>,
    session: Session,
    RawQuery(raw): RawQuery,
) -> Result<Response, ConsoleError> {
    let fields = Fields::parse(raw.as_deref().unwrap_or_default().as_bytes());
    let after = fields.get("cursor").map(decode_cursor).transpose()?;
    let first = after.is_none();
    let page = ConnectorPage {
        kind: None,
        archived: None,
        state: None,
        ownership: Ownership::All,
        after,
        limit: PAGE_SIZE + 1,
    };
    let mut found = service::list(&app, &session.principal, &page).await?;
    let next = if found.len() > PAGE_SIZE as usize {
        found.truncate(PAGE_SIZE as usize);
        found.last().map(encode_cursor)
    } else {
        None
    };
    Ok(ok(ListPage {
        notice: notice(raw.as_deref()),
        rows: found.iter().map(|c| Row::new(&app, &session, c)).collect(),
        first,
        next,
        nav: session.nav("connectors"),
    }))
}

// ---------------------------------------------------------------- create

#[derive(Template)]
#[template(path = "console/connector_new.html")]
struct NewPage {
    nav: Nav,
    is_email: bool,
    portals: Vec<String>,
    default_portal: String,
    label: String,
    description: String,
    allowed_emails: String,
    user_id: String,
    portal: String,
    shared: bool,
    errors: Vec<ValidationError>,
}

impl NewPage {
    fn blank(app: &AppState, session: &Session, is_email: bool) -> Self {
        Self {
            nav: session.nav("connectors"),
            is_email,
            portals: app.config.portals.iter().map(|p| p.name.clone()).collect(),
            default_portal: app
                .config
                .portal(None)
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            label: String::new(),
            description: String::new(),
            allowed_emails: String::new(),
            user_id: String::new(),
            portal: String::new(),
            shared: false,
            errors: vec![],
        }
    }

    /// The problems reported on `field` or inside it (`config.allowed_emails[2]`).
    fn errors_for(&self, field: &str) -> Vec<&str> {
        errors_for(&self.errors, field)
    }

    /// Problems on no field the form shows.
    fn other_errors(&self) -> Vec<&ValidationError> {
        const SHOWN: [&str; 6] = [
            "label",
            "description",
            "config.allowed_emails",
            "config.user_id",
            "config.user_password",
            "config.portal",
        ];
        self.errors
            .iter()
            .filter(|e| !SHOWN.iter().any(|f| on_field(&e.field, f)))
            .collect()
    }
}

fn on_field(reported: &str, field: &str) -> bool {
    reported == field
        || reported
            .strip_prefix(field)
            .is_some_and(|rest| rest.starts_with('[') || rest.starts_with('.'))
}

fn errors_for<'a>(errors: &'a [ValidationError], field: &str) -> Vec<&'a str> {
    errors
        .iter()
        .filter(|e| on_field(&e.field, field))
        .map(|e| e.message.as_str())
        .collect()
}

pub async fn new_page(
    State(app): State<AppState>,
    session: Session,
    RawQuery(raw): RawQuery,
) -> Response {
    let fields = Fields::parse(raw.as_deref().unwrap_or_default().as_bytes());
    let is_email = fields.get("type") != Some("investment_research");
    ok(NewPage::blank(&app, &session, is_email))
}

/// Addresses one per line (commas and spaces separate too).
fn address_list(text: &str) -> Vec<Value> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| Value::String(s.to_string()))
        .collect()
}

/// The create body the API would receive, so the same rules judge it.
fn create_body(fields: &Fields) -> Map<String, Value> {
    let mut body = Map::new();
    let kind = fields.text("type");
    body.insert("type".into(), json!(kind));
    body.insert("label".into(), json!(fields.text("label")));
    if !fields.text("description").is_empty() {
        body.insert("description".into(), json!(fields.text("description")));
    }
    body.insert(
        "share_with_org".into(),
        json!(fields.checked("share_with_org")),
    );
    let config = if kind == "investment_research" {
        let mut c = json!({
            "user_id": fields.text("user_id"),
            "user_password": fields.text("user_password"),
        });
        if !fields.text("portal").is_empty() {
            c["portal"] = json!(fields.text("portal"));
        }
        c
    } else {
        json!({ "allowed_emails": address_list(fields.text("allowed_emails")) })
    };
    body.insert("config".into(), config);
    body
}

pub async fn create(
    State(app): State<AppState>,
    form: SignedForm,
) -> Result<Response, ConsoleError> {
    let SignedForm { session, fields } = form;
    let body = create_body(&fields);
    let mut problems = Vec::new();
    let checked = service::check_new(&app.config, &body);
    if let Ok(new) = &checked {
        if fields.checked("test_connection") {
            problems.extend(service::test_connection(&app, new).await);
        }
    }
    let new = match checked {
        Ok(new) if problems.is_empty() => new,
        Ok(_) => return Ok(refill(&app, &session, &fields, problems)),
        Err(more) => return Ok(refill(&app, &session, &fields, more)),
    };
    let connector = service::create(&app, &session.principal, new).await?;
    Ok(back_to(connector.id, "created"))
}

/// The form again, as sent (but the password), with every problem beside
/// its field.
fn refill(
    app: &AppState,
    session: &Session,
    fields: &Fields,
    errors: Vec<ValidationError>,
) -> Response {
    let page = NewPage {
        label: fields.text("label").into(),
        description: fields.text("description").into(),
        allowed_emails: fields.text("allowed_emails").into(),
        user_id: fields.text("user_id").into(),
        portal: fields.text("portal").into(),
        shared: fields.checked("share_with_org"),
        errors,
        ..NewPage::blank(app, session, fields.text("type") != "investment_research")
    };
    html(StatusCode::BAD_REQUEST, page)
}

// ---------------------------------------------------------------- show

pub struct EventRow {
    pub at: String,
    pub kind: &'static str,
    pub detail: String,
}

impl EventRow {
    fn new(e: &Event) -> Self {
        let mut detail = vec![];
        let mut add = |name: &str, v: &Option<String>| {
            if let Some(v) = v {
                detail.push(format!("{name}: {v}"));
            }
        };
        add("from", &e.header_from);
        add("sender", &e.envelope_from);
        add("subject", &e.subject);
        add("file", &e.remote_path);
        add("note", &e.message);
        if let Some(reason) = e.reason {
            detail.push(format!("reason: {}", reason.as_str()));
        }
        if let Some(code) = e.smtp_code {
            detail.push(format!("SMTP {code}"));
        }
        if e.count > 1 {
            detail.push(format!("{} times", e.count));
        }
        Self {
            at: when(e.last_at),
            kind: e.kind.as_str(),
            detail: detail.join(" · "),
        }
    }
}

pub struct JobRow {
    pub id: String,
    pub status: &'static str,
    pub trigger: &'static str,
    pub date_limit: String,
    pub created: String,
    pub indexed: i64,
    pub skipped: i64,
    pub error: String,
    pub cancelable: bool,
}

impl JobRow {
    fn new(j: &SyncJob) -> Self {
        Self {
            id: j.id.to_string(),
            status: j.status.as_str(),
            trigger: j.trigger_method.as_str(),
            date_limit: j.date_limit.clone().unwrap_or_else(|| "everything".into()),
            created: when(j.created_at),
            indexed: j.indexed_document_count,
            skipped: j.skipped_document_count,
            error: j.error.clone().unwrap_or_default(),
            cancelable: j.status.on_cancel().is_some(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/connector.html")]
struct ShowPage {
    nav: Nav,
    notice: Option<&'static str>,
    c: Row,
    events: Vec<EventRow>,
    /// The link to older events, when there are more.
    older: Option<String>,
    jobs: Vec<JobRow>,
    today: String,
}

pub async fn show(
    State(app): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ConsoleError> {
    let id = connector_id(&id)?;
    let caller = &session.principal;
    let connector = service::get(&app, caller, id).await?;
    let fields = Fields::parse(raw.as_deref().unwrap_or_default().as_bytes());
    let before = fields.get("before").and_then(|b| Uuid::try_parse(b).ok());
    // One extra event tells whether older ones follow.
    let mut events = events::list(&app, caller, id, before, EVENTS_SHOWN + 1).await?;
    let older = (events.len() > EVENTS_SHOWN as usize).then(|| {
        events.truncate(EVENTS_SHOWN as usize);
        format!(
            "/console/connectors/{id}?before={}",
            events[events.len() - 1].id
        )
    });
    let jobs = match connector.config {
        ConnectorConfig::InvestmentResearch { .. } => sync::list(&app, caller, id).await?,
        ConnectorConfig::Email { .. } => vec![],
    };
    Ok(ok(ShowPage {
        notice: notice(raw.as_deref()),
        c: Row::new(&app, &session, &connector),
        events: events.iter().map(EventRow::new).collect(),
        older,
        jobs: jobs.iter().map(JobRow::new).collect(),
        today: crate::domain::Timestamp::now().to_rfc3339()[..10].to_string(),
        nav: session.nav("connectors"),
    }))
}

// ---------------------------------------------------------------- edit

#[derive(Template)]
#[template(path = "console/connector_edit.html")]
struct EditPage {
    nav: Nav,
    c: Row,
    label: String,
    description: String,
    allowed_emails: String,
    shared: bool,
    errors: Vec<ValidationError>,
}

impl EditPage {
    fn errors_for(&self, field: &str) -> Vec<&str> {
        errors_for(&self.errors, field)
    }
}

/// The connector when the caller owns it; absent otherwise, as in the API.
async fn owned(app: &AppState, session: &Session, id: Uuid) -> Result<Connector, ConsoleError> {
    match service::get(app, &session.principal, id).await {
        Ok(c) if session.principal.owns(&c) => Ok(c),
        Ok(_) => Err(ConsoleError::NotFound),
        Err(e) => Err(e.into()),
    }
}

pub async fn edit_page(
    State(app): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let connector = owned(&app, &session, connector_id(&id)?).await?;
    let c = Row::new(&app, &session, &connector);
    Ok(ok(EditPage {
        label: c.label.clone(),
        description: c.description.clone(),
        allowed_emails: c.allowed_emails.join("\n"),
        shared: c.shared,
        c,
        errors: vec![],
        nav: session.nav("connectors"),
    }))
}

/// The PUT rules through the same service call; a field's problem shows
/// beside it on the form again.
pub async fn update(
    State(app): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm,
) -> Result<Response, ConsoleError> {
    let SignedForm { session, fields } = form;
    let id = connector_id(&id)?;
    let updated = service::update(&app, &session.principal, id, |current| {
        let allowed_emails = match current.config {
            ConnectorConfig::Email { .. } => {
                let list: Vec<String> = address_list(fields.text("allowed_emails"))
                    .into_iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                Some(parse_allowed_emails(&list)?)
            }
            ConnectorConfig::InvestmentResearch { .. } => None,
        };
        Ok::<_, Error>(ConnectorEdit {
            label: Label::parse(fields.text("label"))?,
            description: Description::parse(Some(fields.text("description")))?,
            share_with_org: fields.checked("share_with_org"),
            allowed_emails,
        })
    })
    .await;
    match updated {
        Ok(c) => Ok(back_to(c.id, "updated")),
        Err(Error::Invalid(problem)) => {
            let connector = owned(&app, &session, id).await?;
            let page = EditPage {
                c: Row::new(&app, &session, &connector),
                label: fields.text("label").into(),
                description: fields.text("description").into(),
                allowed_emails: fields.text("allowed_emails").into(),
                shared: fields.checked("share_with_org"),
                errors: vec![problem],
                nav: session.nav("connectors"),
            };
            Ok(html(StatusCode::BAD_REQUEST, page))
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------- state

/// Pause or resume, as `POST …/pause` and `…/resume` do.
async fn set_paused(
    app: &AppState,
    id: &str,
    form: &SignedForm,
    paused: bool,
) -> Result<Response, ConsoleError> {
    let id = connector_id(id)?;
    service::set_paused(app, &form.session.principal, id, paused).await?;
    Ok(back_to(id, if paused { "paused" } else { "resumed" }))
}

pub async fn pause(
    State(app): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm,
) -> Result<Response, ConsoleError> {
    set_paused(&app, &id, &form, true).await
}

pub async fn resume(
    State(app): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm,
) -> Result<Response, ConsoleError> {
    set_paused(&app, &id, &form, false).await
}

pub async fn archive(
    State(app): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm,
) -> Result<Response, ConsoleError> {
    let options = DeleteOptions::default();
    let c = service::delete(&app, &form.session.principal, connector_id(&id)?, options).await?;
    Ok(back_to(c.id, "archived"))
}

#[derive(Template)]
#[template(path = "console/connector_delete.html")]
struct DeletePage {
    nav: Nav,
    c: Row,
    jobs: usize,
}

/// Names what a hard delete removes before it is confirmed.
pub async fn delete_page(
    State(app): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let id = connector_id(&id)?;
    let connector = owned(&app, &session, id).await?;
    if connector.state == ConnectorState::Deleting {
        return Err(Error::ConnectorDeleting.into());
    }
    let jobs = sync::list(&app, &session.principal, id).await?.len();
    Ok(ok(DeletePage {
        c: Row::new(&app, &session, &connector),
        jobs,
        nav: session.nav("connectors"),
    }))
}

pub async fn delete(
    State(app): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm,
) -> Result<Response, ConsoleError> {
    let options = DeleteOptions {
        force: true,
        delete_sync_jobs: false,
    };
    service::delete(&app, &form.session.principal, connector_id(&id)?, options).await?;
    Ok(Redirect::to("/console/connectors?done=deleted").into_response())
}

// ---------------------------------------------------------------- syncs

pub async fn sync(
    State(app): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm,
) -> Result<Response, ConsoleError> {
    let id = connector_id(&id)?;
    let date_limit = parse_date_limit(form.fields.text("date_limit")).ok_or_else(|| {
        ConsoleError::Invalid("date_limit: must be a date such as 2026-02-01".into())
    })?;
    sync::trigger(&app, &form.session.principal, id, date_limit).await?;
    Ok(back_to(id, "sync"))
}

pub async fn cancel_sync(
    State(app): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm,
) -> Result<Response, ConsoleError> {
    let job_id = Uuid::try_parse(&id).map_err(|_| ConsoleError::NotFound)?;
    let job = sync::cancel(&app, &form.session.principal, job_id).await?;
    Ok(back_to(job.connector_id, "canceled"))
}
