//! The caller's tags: the list with document counts, and a create form.

use super::form::SignedForm;
use super::page::{html, ok, Nav};
use super::session::Session;
use super::ConsoleError;
use crate::error::Error;
use crate::service::{tags as service, AppState};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

#[derive(Template)]
#[template(path = "console/tags.html")]
struct TagsPage {
    nav: Nav,
    tags: Vec<(String, i64)>,
    name: String,
    error: Option<String>,
}

async fn page(
    app: &AppState,
    session: &Session,
    name: &str,
    error: Option<String>,
) -> Result<TagsPage, ConsoleError> {
    Ok(TagsPage {
        tags: service::list(app, &session.principal, "")
            .await?
            .into_iter()
            .map(|(t, n)| (t.name, n))
            .collect(),
        name: name.to_string(),
        error,
        nav: session.nav("tags"),
    })
}

pub async fn list(State(app): State<AppState>, session: Session) -> Result<Response, ConsoleError> {
    Ok(ok(page(&app, &session, "", None).await?))
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
            page(&app, &form.session, name, Some(problem.message)).await?,
        )),
        Err(e) => Err(e.into()),
    }
}
