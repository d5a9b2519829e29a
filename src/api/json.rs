//! JSON request bodies: media type, size limit and field-naming errors.

use super::error::ApiError;
use crate::service::AppState;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

/// A JSON body parsed into `T`. Errors name the offending field.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, app: &AppState) -> Result<Self, ApiError> {
        let limit = app.config.http.max_body_bytes;
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("Request body is larger than {limit} bytes"),
            )
        };
        let headers = request.headers();
        let declared_len = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared_len.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let is_json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(is_json_media_type);
        let bytes = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|e| {
                if is_length_limit(&e) {
                    too_large()
                } else {
                    ApiError::invalid("Request body could not be read")
                }
            })?;
        match is_json {
            Some(true) => {}
            None if bytes.is_empty() => {
                return Err(ApiError::invalid("A JSON request body is required"))
            }
            _ => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UNSUPPORTED_MEDIA_TYPE",
                    "Request body must be JSON (Content-Type: application/json)",
                ))
            }
        }
        parse(&bytes).map(JsonBody)
    }
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// `application/json` or any `+json` type, with or without parameters.
fn is_json_media_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Deserializes a JSON object, naming the field at fault
/// (`config.allowed_emails[2]: ...`). Every body of this API is an object;
/// serde would otherwise read a struct from an array.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::invalid("Request body must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(describe)?;
    de.end()
        .map_err(|e| ApiError::invalid(format!("Request body is not valid JSON: {e}")))?;
    Ok(value)
}

/// Deserializes an already parsed JSON value, naming fields under `prefix`.
pub fn from_value<T: DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." {
            prefix.to_string()
        } else {
            format!("{prefix}.{path}")
        };
        ApiError::invalid(format!("{field}: {inner}"))
    })
}

fn describe(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if !inner.is_data() {
        return ApiError::invalid(format!("Request body is not valid JSON: {inner}"));
    }
    if path == "." {
        ApiError::invalid(inner.to_string())
    } else {
        ApiError::invalid(format!("{path}: {inner}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types() {
        assert!(is_json_media_type("application/json"));
        assert!(is_json_media_type("Application/JSON; charset=utf-8"));
        assert!(is_json_media_type("application/merge-patch+json"));
        assert!(!is_json_media_type("text/plain"));
        assert!(!is_json_media_type("application/x-www-form-urlencoded"));
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        label: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    #[test]
    fn errors_name_the_field() {
        let msg = |b: &str| parse::<Body>(b.as_bytes()).unwrap_err().message;
        assert!(msg(r#"{"label": 1}"#).starts_with("label: invalid type"));
        assert!(msg(r#"{"label": "x", "inner": {"n": "a"}}"#).starts_with("inner.n: "));
        assert!(msg(r#"{"label": "x", "lable": 1}"#).contains("unknown field `lable`"));
        assert!(msg(r#"{}"#).contains("missing field `label`"));
        assert!(msg(r#"{"label": "#).starts_with("Request body is not valid JSON"));
        assert!(msg(r#"{"label": "x"} trailing"#).starts_with("Request body is not valid JSON"));
        assert_eq!(msg(r#" ["x"]"#), "Request body must be a JSON object");
    }
}
