//! Sign-in, sign-out and the session cookie.

use super::form::{PublicForm, SignedForm};
use super::page::{html, ok, Nav};
use super::ConsoleError;
use crate::domain::Principal;
use crate::service::{sessions, AppState};
use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, OptionalFromRequestParts, State};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use std::net::SocketAddr;

const COOKIE: &str = "inlet_session";

/// A signed-in user: who, the session's CSRF token, and the browser's
/// session id (to end it).
pub struct Session {
    pub principal: Principal,
    pub csrf: String,
    id: String,
}

impl Session {
    pub fn nav(&self, section: &'static str) -> Nav {
        Nav {
            user_id: self.principal.user_id.clone(),
            org_id: self.principal.org_id.clone(),
            csrf: self.csrf.clone(),
            section,
        }
    }
}

/// The session id the browser sent, if it has the shape of one.
fn cookie_value(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .find(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ConsoleError> {
        let id = cookie_value(parts).ok_or(ConsoleError::SignIn)?;
        let session = sessions::resolve(app, &id)
            .await?
            .ok_or(ConsoleError::SignIn)?;
        tracing::Span::current().record("user_id", session.principal.user_id.as_str());
        Ok(Self {
            principal: session.principal,
            csrf: session.csrf_token,
            id,
        })
    }
}

impl OptionalFromRequestParts<AppState> for Session {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Option<Self>, ConsoleError> {
        match <Self as FromRequestParts<AppState>>::from_request_parts(parts, app).await {
            Ok(s) => Ok(Some(s)),
            Err(ConsoleError::SignIn) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's
/// page sends it), only for `/console`, `Secure` behind an https
/// `public_url`. No `Max-Age`: the server ends idle sessions itself.
fn set_cookie(app: &AppState, value: &str, clear: bool) -> HeaderValue {
    let secure = app
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let mut cookie = format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/console");
    if secure {
        cookie.push_str("; Secure");
    }
    if clear {
        cookie.push_str("; Max-Age=0");
    }
    HeaderValue::from_str(&cookie).expect("a cookie of hex and ASCII")
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    error: Option<&'static str>,
}

/// `/console`: the connectors when signed in, else the sign-in form.
pub async fn home(session: Option<Session>) -> Response {
    match session {
        Some(_) => Redirect::to("/console/connectors").into_response(),
        None => Redirect::to("/console/sign-in").into_response(),
    }
}

pub async fn sign_in_page() -> Response {
    ok(SignInPage { error: None })
}

/// Every attempt counts against the client address's allowance for
/// unauthenticated requests, the one API key guessing draws on too.
pub async fn sign_in(
    State(app): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    PublicForm(fields): PublicForm,
) -> Result<Response, ConsoleError> {
    let ip = peer.map_or_else(|| "unknown".to_string(), |c| c.0 .0.ip().to_string());
    let decision = app.ip_limiter.check(&ip).await;
    if !decision.allowed {
        metrics::counter!(crate::metrics::RATE_LIMITED, "scope" => "console_sign_in").increment(1);
        return Err(ConsoleError::RateLimited(decision.retry_after_secs));
    }
    match sessions::sign_in(&app, fields.text("api_key")).await? {
        Some(opened) => Ok((
            [(
                header::SET_COOKIE,
                set_cookie(&app, &opened.session_id, false),
            )],
            Redirect::to("/console/connectors"),
        )
            .into_response()),
        None => Ok(html(
            StatusCode::UNAUTHORIZED,
            SignInPage {
                error: Some("That API key is not valid (unknown or revoked)."),
            },
        )),
    }
}

pub async fn sign_out(
    State(app): State<AppState>,
    form: SignedForm,
) -> Result<Response, ConsoleError> {
    sessions::sign_out(&app, &form.session.id).await?;
    Ok((
        [(header::SET_COOKIE, set_cookie(&app, "", true))],
        Redirect::to("/console/sign-in"),
    )
        .into_response())
}
