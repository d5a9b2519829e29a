//! Path ids and query strings: strict parsing with errors that name the part.

use super::error::ApiError;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::StatusCode;
use uuid::Uuid;

/// `{connector_id}` in a path: a hyphenated UUID, any case.
pub struct ConnectorId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for ConnectorId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let invalid = || {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_CONNECTOR_ID",
                "connector_id must be a UUID such as 019a9612-bfad-758c-884e-37dd8c6ad2cb",
            )
        };
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| invalid())?;
        parse_hyphenated_uuid(&raw)
            .map(ConnectorId)
            .ok_or_else(invalid)
    }
}

/// `{connector_id}` as the OpenAPI document states it.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documents the path; `ConnectorId` parses it
pub struct ConnectorPath {
    /// UUID of the connector.
    #[param(format = Uuid, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub connector_id: String,
}

/// The query of a signed URL (`/files/...`, `/annotated/...`) as the
/// OpenAPI document states it; `files::signature` parses it.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query
pub struct SignedUrlParams {
    /// Unix seconds after which the URL is refused.
    pub expires: i64,
    /// HMAC signature of the path and `expires`.
    pub signature: String,
}

pub fn parse_hyphenated_uuid(raw: &str) -> Option<Uuid> {
    if raw.len() != 36 {
        return None;
    }
    Uuid::try_parse(raw).ok()
}

/// One form-encoded name or value (`+` is a space). Bytes that are not
/// UTF-8 once decoded are refused, never replaced: a lossy decoding would
/// search for something the client did not send.
fn decode(name: &str, raw: &str) -> Result<String, ApiError> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
            ApiError::invalid(format!("{name}: is not valid UTF-8 once percent-decoded"))
        })
}

/// A query string checked against the parameters an endpoint knows.
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Rejects parameters the endpoint does not know.
    pub fn parse(raw: Option<&str>, known: &[&str]) -> Result<Self, ApiError> {
        let pairs = raw
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                Ok((decode(name, name)?, decode(name, value)?))
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        if let Some((name, _)) = pairs.iter().find(|(n, _)| !known.contains(&n.as_str())) {
            return Err(ApiError::invalid(format!(
                "Unknown query parameter {name:?}; expected one of: {}",
                known.join(", ")
            )));
        }
        Ok(Self { pairs })
    }

    /// The single value of `name`; given twice is an error.
    pub fn one<'a>(&'a self, name: &'a str) -> Result<Option<&'a str>, ApiError> {
        let mut values = self.all(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::invalid(format!("{name}: given more than once")));
        }
        Ok(first)
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `true` or `false`, nothing else.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.one(name)?
            .map(|v| match v {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(ApiError::invalid(format!(
                    "{name}: must be true or false, not {other:?}"
                ))),
            })
            .transpose()
    }

    /// One of `choices`.
    pub fn choice<'a>(&self, name: &str, choices: &[&'a str]) -> Result<Option<&'a str>, ApiError> {
        self.one(name)?
            .map(|v| {
                choices.iter().find(|c| **c == v).copied().ok_or_else(|| {
                    ApiError::invalid(format!(
                        "{name}: must be one of {}, not {v:?}",
                        choices.join(", ")
                    ))
                })
            })
            .transpose()
    }

    /// An integer within `range`.
    pub fn int(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<Option<u32>, ApiError> {
        self.one(name)?
            .map(|v| {
                v.parse::<u32>()
                    .ok()
                    .filter(|n| range.contains(n))
                    .ok_or_else(|| {
                        ApiError::invalid(format!(
                            "{name}: must be an integer from {} to {}, not {v:?}",
                            range.start(),
                            range.end()
                        ))
                    })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_must_be_hyphenated() {
        assert!(parse_hyphenated_uuid("019a9612-bfad-758c-884e-37dd8c6ad2cb").is_some());
        assert!(parse_hyphenated_uuid("019A9612-BFAD-758C-884E-37DD8C6AD2CB").is_some());
        assert!(parse_hyphenated_uuid("019a9612bfad758c884e37dd8c6ad2cb").is_none());
        assert!(parse_hyphenated_uuid("not-a-uuid").is_none());
        assert!(parse_hyphenated_uuid("019a9612-bfad-758c-884e-37dd8c6ad2cg").is_none());
    }

    #[test]
    fn query_rules() {
        let q = Query::parse(Some("a=true&b=2&c=x&c=y"), &["a", "b", "c"]).unwrap();
        assert_eq!(q.bool("a").unwrap(), Some(true));
        assert_eq!(q.int("b", 1..=5).unwrap(), Some(2));
        assert!(q.int("b", 3..=5).is_err());
        assert!(q.one("c").is_err());
        assert_eq!(q.all("c").collect::<Vec<_>>(), vec!["x", "y"]);
        assert!(Query::parse(Some("zzz=1"), &["a"]).is_err());
        let q = Query::parse(Some("a=yes"), &["a"]).unwrap();
        assert!(q.bool("a").is_err());
        assert_eq!(Query::parse(None, &[]).unwrap().one("a").unwrap(), None);
    }
}
