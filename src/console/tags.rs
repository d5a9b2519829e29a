//! The caller's tags: the list with document counts (narrowed by a name
//! prefix, 100 a page), and a create form.

use super::form::{Fields, SignedForm};
use super::page::{html, ok, Nav};
use super::session::Session;
use super::ConsoleError;
use crate::error::Error;
use crate::service::{tags as service, AppState};
use crate::store::Window;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

/// Tags on one page. Ingestion adds a `from:` tag per sender, so the list
/// grows with the mail; a page counts the documents of its own tags only.
const PAGE_SIZE: u32 = 100;

#[derive(Template)]
#[template(path = "console/tags.html")]
struct TagsPage {
    nav: Nav,
    tags: Vec<(String, i64)>,
    prefix: String,
    page: u64,
    prev: Option<String>,
    next: Option<String>,
    name: String,
    error: Option<String>,
}

/// Which part of the list a request asks for: `?prefix=…&page=N`.
struct Shown {
    prefix: String,
    page: u64,
}

impl Shown {
    fn parse(raw: Option<&str>) -> Result<Self, ConsoleError> {
        let fields = Fields::parse(raw.unwrap_or_default().as_bytes());
        let page = match fields.get("page").filter(|p| !p.is_empty()) {
            None => 1,
            Some(p) => p
                .parse()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| ConsoleError::Invalid("page: a whole number from 1".into()))?,
        };
        Ok(Self {
            prefix: fields.text("prefix").to_string(),
            page,
        })
    }

    fn link(&self, page: u64) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if !self.prefix.is_empty() {
            query.append_pair("prefix", &self.prefix);
        }
        query.append_pair("page", &page.to_string());
        format!("/console/tags?{}", query.finish())
    }
}

async fn page(
    app: &AppState,
    session: &Session,
    shown: Shown,
    name: &str,
    error: Option<String>,
) -> Result<TagsPage, ConsoleError> {
    // One more than a page: whether there is a next one.
    let window = Window {
        limit: PAGE_SIZE + 1,
        offset: (shown.page - 1).saturating_mul(u64::from(PAGE_SIZE)),
    };
    let mut found = service::list(app, &session.principal, &shown.prefix, Some(window)).await?;
    let more = found.len() > PAGE_SIZE as usize;
    found.truncate(PAGE_SIZE as usize);
    Ok(TagsPage {
        tags: found.into_iter().map(|(t, n)| (t.name, n)).collect(),
        prev: (shown.page > 1).then(|| shown.link(shown.page - 1)),
        next: more.then(|| shown.link(shown.page.saturating_add(1))),
        page: shown.page,
        prefix: shown.prefix,
        name: name.to_string(),
        error,
        nav: session.nav("tags"),
    })
}

pub async fn list(
    State(app): State<AppState>,
    session: Session,
    RawQuery(raw): RawQuery,
) -> Result<Response, ConsoleError> {
    let shown = Shown::parse(raw.as_deref())?;
    Ok(ok(page(&app, &session, shown, "", None).await?))
}

pub async fn create(
    State(app): State<AppState>,
    form: SignedForm,
) -> Result<Response, ConsoleError> {
    let name = form.fields.text("tag_name");
    match service::create(&app, &form.session.principal, name).await {
        Ok(_) => Ok(Redirect::to("/console/tags").into_response()),
        Err(Error::Invalid(problem)) => Ok(html(
            StatusCode::BAD_REQUEST,
            page(
                &app,
                &form.session,
                Shown::parse(None)?,
                name,
                Some(problem.message),
            )
            .await?,
        )),
        Err(e) => Err(e.into()),
    }
}
