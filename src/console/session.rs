//! Sign-in, sign-out and the session cookie.

use super::form::{cookie_value, SignInForm, SignedForm};
use super::page::{html, Nav};
use super::ConsoleError;
use crate::domain::Principal;
use crate::service::{sessions, AppState};
use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, OptionalFromRequestParts, State};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::Extension;
use std::net::SocketAddr;

const COOKIE: &str = "inlet_session";
/// The sign-in form's nonce, sent back only to the sign-in form's path.
pub const SIGN_IN_COOKIE: &str = "inlet_sign_in";
const SIGN_IN_PATH: &str = "/console/sign-in";

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

impl FromRequestParts<AppState> for Session {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ConsoleError> {
        let id = cookie_value(parts, COOKIE).ok_or(ConsoleError::SignIn)?;
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
/// page sends it), only for its `path`, `Secure` behind an https
/// `public_url`. No `Max-Age`: the server ends idle sessions itself, and a
/// sign-in nonce is good until the browser closes.
fn set_cookie(app: &AppState, name: &str, value: &str, path: &str, clear: bool) -> HeaderValue {
    let secure = app.config.public_url.as_deref().is_some_and(|u| {
        u.get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    });
    let mut cookie = format!("{name}={value}; HttpOnly; SameSite=Strict; Path={path}");
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
    csrf: String,
    error: Option<&'static str>,
}

/// `/console`: the connectors when signed in, else the sign-in form.
pub async fn home(session: Option<Session>) -> Response {
    match session {
        Some(_) => Redirect::to("/console/connectors").into_response(),
        None => Redirect::to("/console/sign-in").into_response(),
    }
}

/// The form, with a fresh nonce both in it and in the browser's sign-in
/// cookie. Always a new one: a nonce the browser brings could have been
/// planted.
pub async fn sign_in_page(State(app): State<AppState>) -> Response {
    sign_in_form(&app, StatusCode::OK, None)
}

fn sign_in_form(app: &AppState, status: StatusCode, error: Option<&'static str>) -> Response {
    let nonce = crate::crypto::os_random_hex();
    let cookie = set_cookie(app, SIGN_IN_COOKIE, &nonce, SIGN_IN_PATH, false);
    let mut response = html(status, SignInPage { csrf: nonce, error });
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// Every attempt counts against the client address's allowance for
/// unauthenticated requests, the one API key guessing draws on too.
pub async fn sign_in(
    State(app): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    SignInForm(fields): SignInForm,
) -> Result<Response, ConsoleError> {
    let ip = peer.map_or_else(|| "unknown".to_string(), |c| c.0 .0.ip().to_string());
    let decision = app.ip_limiter.check(&ip).await;
    if !decision.allowed {
        metrics::counter!(crate::metrics::RATE_LIMITED, "scope" => "console_sign_in").increment(1);
        return Err(ConsoleError::RateLimited(decision.retry_after_secs));
    }
    match sessions::sign_in(&app, fields.text("api_key")).await? {
        Some(opened) => Ok((
            AppendHeaders([
                (
                    header::SET_COOKIE,
                    set_cookie(&app, COOKIE, &opened.session_id, "/console", false),
                ),
                (
                    header::SET_COOKIE,
                    set_cookie(&app, SIGN_IN_COOKIE, "", SIGN_IN_PATH, true),
                ),
            ]),
            Redirect::to("/console/connectors"),
        )
            .into_response()),
        None => Ok(sign_in_form(
            &app,
            StatusCode::UNAUTHORIZED,
            Some("That API key is not valid (unknown or revoked)."),
        )),
    }
}

pub async fn sign_out(
    State(app): State<AppState>,
    form: SignedForm,
) -> Result<Response, ConsoleError> {
    sessions::sign_out(&app, &form.session.id).await?;
    Ok((
        [(
            header::SET_COOKIE,
            set_cookie(&app, COOKIE, "", "/console", true),
        )],
        Redirect::to("/console/sign-in"),
    )
        .into_response())
}
