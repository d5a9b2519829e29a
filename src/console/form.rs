//! Form bodies (`application/x-www-form-urlencoded`), read with a bound,
//! and the CSRF check every state-changing form passes.

use super::session::Session;
use super::ConsoleError;
use crate::service::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use subtle::ConstantTimeEq;

/// Console forms are small: a label, a description, a list of addresses.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// The fields of a submitted form, in order.
#[derive(Debug, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(raw: &[u8]) -> Self {
        Self(form_urlencoded::parse(raw).into_owned().collect())
    }

    /// The first value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name`, or "" when absent.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or_default()
    }

    /// A checkbox: sent only when ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Refuses what a browser marks as sent from another site, and a POST
/// whose `Origin` is not this host: the first line of defence before the
/// token, and the only one for the sign-in form (which has no session yet).
pub fn same_origin(parts: &Parts) -> Result<(), ConsoleError> {
    let fetch_site = parts
        .headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    if matches!(fetch_site, Some("cross-site" | "same-site")) {
        return Err(ConsoleError::Forged);
    }
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    match (origin, host) {
        (None, _) => Ok(()),
        (Some(origin), Some(host)) => {
            let origin_host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            if origin_host == Some(host) {
                Ok(())
            } else {
                Err(ConsoleError::Forged)
            }
        }
        (Some(_), None) => Err(ConsoleError::Forged),
    }
}

async fn read_fields(request: Request) -> Result<Fields, ConsoleError> {
    let bytes = axum::body::to_bytes(request.into_body(), MAX_FORM_BYTES)
        .await
        .map_err(|_| ConsoleError::Invalid("The form is too large".into()))?;
    Ok(Fields::parse(&bytes))
}

/// A form sent without a session (sign-in): same-origin checked only.
pub struct PublicForm(pub Fields);

impl FromRequest<AppState> for PublicForm {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, _: &AppState) -> Result<Self, ConsoleError> {
        let (parts, body) = request.into_parts();
        same_origin(&parts)?;
        Ok(Self(read_fields(Request::from_parts(parts, body)).await?))
    }
}

/// A state-changing form of a signed-in user: the session, and fields that
/// carried the session's CSRF token (compared in constant time).
pub struct SignedForm {
    pub session: Session,
    pub fields: Fields,
}

impl FromRequest<AppState> for SignedForm {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, app: &AppState) -> Result<Self, ConsoleError> {
        let (mut parts, body) = request.into_parts();
        let session =
            <Session as FromRequestParts<AppState>>::from_request_parts(&mut parts, app).await?;
        same_origin(&parts)?;
        let fields = read_fields(Request::from_parts(parts, body)).await?;
        let sent = fields.text("csrf").as_bytes();
        let expected = session.csrf.as_bytes();
        if sent.len() != expected.len() || !bool::from(sent.ct_eq(expected)) {
            return Err(ConsoleError::Forged);
        }
        Ok(Self { session, fields })
    }
}
