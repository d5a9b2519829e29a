//! Rendering: templates (askama, auto-escaped as HTML) into responses.

use crate::api::request_id::OwnBody;
use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// What every signed-in page shows around its content: who is signed in,
/// the section, and the CSRF token for the sign-out form.
pub struct Nav {
    pub user_id: String,
    pub org_id: String,
    pub csrf: String,
    pub section: &'static str,
}

#[derive(Template)]
#[template(path = "console/error.html")]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

/// The page with `status`, kept as rendered (the API's error layer leaves
/// bodies marked `OwnBody` alone).
pub fn html(status: StatusCode, page: impl Template) -> Response {
    let body = match page.render() {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "Internal server error",
            )
                .into_response();
        }
    };
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        body,
    )
        .into_response();
    response.extensions_mut().insert(OwnBody);
    response
}

pub fn ok(page: impl Template) -> Response {
    html(StatusCode::OK, page)
}

/// Human-readable time: RFC 3339 to the second, UTC.
pub fn when(t: crate::domain::Timestamp) -> String {
    let s = t.to_rfc3339();
    match s.split_once('.') {
        Some((secs, _)) => format!("{} UTC", secs.replace('T', " ")),
        None => s,
    }
}
