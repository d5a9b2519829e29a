//! Form bodies (`application/x-www-form-urlencoded`), read with a bound,
//! and the CSRF check every state-changing form passes.

use super::session::{Session, SIGN_IN_COOKIE};
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

/// The sign-in form: sent from this site, carrying the nonce its page put
/// in the browser's sign-in cookie too. There is no session to bind a
/// token to yet; without this, another site could sign a visitor in under
/// the attacker's key. That site's page can neither read the cookie nor
/// make the browser send it (`SameSite=Strict`).
pub struct SignInForm(pub Fields);

impl FromRequest<AppState> for SignInForm {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, _: &AppState) -> Result<Self, ConsoleError> {
        let (parts, body) = request.into_parts();
        same_origin(&parts)?;
        let nonce = cookie_value(&parts, SIGN_IN_COOKIE).ok_or(ConsoleError::Forged)?;
        let fields = read_fields(Request::from_parts(parts, body)).await?;
        if !same_token(fields.text("csrf"), &nonce) {
            return Err(ConsoleError::Forged);
        }
        Ok(Self(fields))
    }
}

/// Whether a form sent back `expected`, compared in constant time.
fn same_token(sent: &str, expected: &str) -> bool {
    let (sent, expected) = (sent.as_bytes(), expected.as_bytes());
    sent.len() == expected.len() && bool::from(sent.ct_eq(expected))
}

/// The value of cookie `name` when it has the shape of our 256-bit hex
/// values; anything else is as good as no cookie.
pub fn cookie_value(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
        .find(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
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
        if !same_token(fields.text("csrf"), &session.csrf) {
            return Err(ConsoleError::Forged);
        }
        Ok(Self { session, fields })
    }
}
