//! Document pages: the list with search box, filters and paging; one
//! document with its metadata, extracted text and entities; its download.

use super::page::{ok, when, Nav};
use super::session::Session;
use super::ConsoleError;
use crate::api::documents::parse_list_query;
use crate::domain::search::Highlight;
use crate::domain::{ConnectorConfig, Document, DocumentId, DocumentStatus, RequestOrigin};
use crate::error::Error;
use crate::service::documents::{self as service, Download};
use crate::service::{annotated, connectors, AppState};
use crate::store::{ConnectorPage, Ownership};
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;

/// The filters the page offers, by their API names.
const FILTERS: [&str; 5] = ["q", "origin", "connector", "tags", "page"];
/// Connectors offered in the filter.
const CONNECTOR_CHOICES: u32 = 500;

/// A piece of a highlight: matched or not (emphasis is added by the
/// template, the text itself is escaped like everything else).
pub struct Piece {
    pub text: String,
    pub matched: bool,
}

fn pieces(h: &Highlight) -> Vec<Piece> {
    let chars: Vec<char> = h.text.chars().collect();
    let mut out = vec![];
    let mut at = 0;
    for &(start, end) in &h.matches {
        let (start, end) = (start.min(chars.len()), end.min(chars.len()));
        if start < at || end < start {
            continue;
        }
        out.push(Piece {
            text: chars[at..start].iter().collect(),
            matched: false,
        });
        out.push(Piece {
            text: chars[start..end].iter().collect(),
            matched: true,
        });
        at = end;
    }
    out.push(Piece {
        text: chars[at..].iter().collect(),
        matched: false,
    });
    out
}

pub struct DocRow {
    pub id: String,
    pub file_name: String,
    pub subject: String,
    pub origin: &'static str,
    pub status: &'static str,
    pub size: String,
    pub created: String,
    pub highlights: Vec<Vec<Piece>>,
}

fn size(bytes: Option<i64>) -> String {
    match bytes {
        None => "—".into(),
        Some(b) if b < 1024 => format!("{b} B"),
        Some(b) if b < 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        Some(b) => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    }
}

impl DocRow {
    fn new(d: &Document, highlights: &[Highlight]) -> Self {
        Self {
            id: d.id.as_str().to_string(),
            file_name: d.file_name.clone(),
            subject: d
                .file_metadata
                .get("subject")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            origin: d.request_origin.as_str(),
            status: d.status.as_str(),
            size: size(d.raw_size),
            created: when(d.created_at),
            highlights: highlights.iter().map(pieces).collect(),
        }
    }
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "console/documents.html")]
struct ListPage {
    nav: Nav,
    q: String,
    origins: Vec<Choice>,
    connectors: Vec<Choice>,
    /// The tag names filtered on (any of): the first in the field, each
    /// other one a ticked box to untick. The Tags page lists them all, 100
    /// a page, and links each to its documents; this page does not list
    /// or count them again.
    tags: Vec<String>,
    rows: Vec<DocRow>,
    filtered: bool,
    /// Where mail to the caller's first e-mail connector goes, for the
    /// empty state.
    inbox: Option<String>,
    page: u32,
    prev: Option<String>,
    next: Option<String>,
}

/// The page's own query without empty fields (an untouched filter), in the
/// API's syntax, so the API's parser and rules read it.
fn api_query(raw: Option<&str>) -> (String, Vec<(String, String)>) {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .filter(|(k, v)| !v.is_empty() && FILTERS.contains(&k.as_str()))
        .collect();
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        out.append_pair(k, v);
    }
    (out.finish(), pairs)
}

fn page_link(pairs: &[(String, String)], page: u32) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(k, _)| k != "page") {
        out.append_pair(k, v);
    }
    out.append_pair("page", &page.to_string());
    format!("/console/documents?{}", out.finish())
}

pub async fn list(
    State(app): State<AppState>,
    session: Session,
    RawQuery(raw): RawQuery,
) -> Result<Response, ConsoleError> {
    let caller = &session.principal;
    let (query, pairs) = api_query(raw.as_deref());
    let (query, search, page, page_size) = parse_list_query(Some(&query))?;
    let mut rows: Vec<DocRow> = match &search {
        Some(search) => service::search(&app, caller, &query, search)
            .await?
            .iter()
            .map(|f| DocRow::new(&f.document, &f.highlights))
            .collect(),
        None => service::list(&app, caller, &query)
            .await?
            .iter()
            .map(|d| DocRow::new(d, &[]))
            .collect(),
    };
    let has_more = rows.len() > page_size as usize;
    rows.truncate(page_size as usize);

    let chosen = |name: &str, value: &str| pairs.iter().any(|(k, v)| k == name && v == value);
    let visible = connectors::list(
        &app,
        caller,
        &ConnectorPage {
            kind: None,
            archived: None,
            state: None,
            ownership: Ownership::All,
            after: None,
            limit: CONNECTOR_CHOICES,
        },
    )
    .await?;
    let inbox = visible.iter().find_map(|c| match &c.config {
        ConnectorConfig::Email { email_hash, .. } if caller.owns(c) && !c.archived() => {
            Some(format!("{email_hash}@{}", app.config.inbox_domain))
        }
        _ => None,
    });
    Ok(ok(ListPage {
        q: pairs
            .iter()
            .find(|(k, _)| k == "q")
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
        origins: RequestOrigin::ALL
            .iter()
            .map(|o| Choice {
                value: o.to_string(),
                label: o.replace('_', " "),
                selected: chosen("origin", o),
            })
            .collect(),
        connectors: visible
            .iter()
            .map(|c| Choice {
                value: c.id.to_string(),
                label: c.label.as_str().to_string(),
                selected: chosen("connector", &c.id.to_string()),
            })
            .collect(),
        tags: pairs
            .iter()
            .filter(|(k, _)| k == "tags")
            .map(|(_, v)| v.clone())
            .collect(),
        rows,
        filtered: pairs.iter().any(|(k, _)| k != "page"),
        inbox,
        page,
        prev: (page > 1).then(|| page_link(&pairs, page - 1)),
        next: has_more.then(|| page_link(&pairs, page + 1)),
        nav: session.nav("documents"),
    }))
}

pub struct Entity {
    pub kind: String,
    pub text: String,
    pub value: String,
    pub count: String,
}

#[derive(Template)]
#[template(path = "console/document.html")]
struct ShowPage {
    nav: Nav,
    d: DocRow,
    completed: bool,
    error_code: String,
    connector: Option<String>,
    metadata: Vec<(String, String)>,
    tags: Vec<String>,
    text: Vec<(String, String)>,
    entities: Vec<Entity>,
    processed: bool,
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn document_id(raw: &str) -> Result<DocumentId, ConsoleError> {
    DocumentId::parse(raw).ok_or(ConsoleError::NotFound)
}

pub async fn show(
    State(app): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let id = document_id(&id)?;
    let doc = service::get(&app, &session.principal, &id).await?;
    let content = match annotated::annotated(&app, &session.principal, &id).await {
        Ok(a) => Some(a.content),
        Err(Error::DocumentNotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let list = |v: Option<&Value>| v.and_then(Value::as_array).cloned().unwrap_or_default();
    let (text, entities) = match &content {
        Some(c) => (
            list(c.content.get("body"))
                .iter()
                .map(|b| (plain(&b["type"]), plain(&b["text"])))
                .collect(),
            list(c.analytics.get("entities"))
                .iter()
                .map(|e| Entity {
                    kind: plain(&e["type"]),
                    text: plain(&e["text"]),
                    value: plain(&e["value"]),
                    count: plain(&e["count"]),
                })
                .collect(),
        ),
        None => (vec![], vec![]),
    };
    Ok(ok(ShowPage {
        completed: doc.status == DocumentStatus::Completed,
        error_code: doc.error_code.clone().unwrap_or_default(),
        connector: doc.connector_id.map(|c| c.to_string()),
        metadata: doc
            .file_metadata
            .iter()
            .map(|(k, v)| (k.clone(), plain(v)))
            .collect(),
        tags: doc.tags.iter().map(|t| t.name.clone()).collect(),
        processed: content.is_some(),
        text,
        entities,
        d: DocRow::new(&doc, &[]),
        nav: session.nav("documents"),
    }))
}

/// A fresh signed download URL of the original, followed at once.
pub async fn original(
    State(app): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let id = document_id(&id)?;
    let url = match service::download_url(&app, &session.principal, &id).await? {
        Download::Signed(path) | Download::Direct(path) => path,
    };
    Ok(Redirect::to(&url).into_response())
}
