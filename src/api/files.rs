//! Signed upload and download URLs. The signature is the credential: no API
//! key, any request headers tolerated.

use super::documents::DocumentIdPath;
use super::error::{ApiError, ErrorBody};
use super::params::Query;
use crate::service::documents::{self as service, Signature};
use crate::service::AppState;
use axum::body::Body;
use axum::extract::{RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

pub(super) fn signature(raw: Option<&str>) -> Result<Signature, ApiError> {
    let invalid = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "INVALID_SIGNATURE",
            "The URL is not a valid signed URL",
        )
    };
    let q = Query::parse(raw, &["expires", "signature"]).map_err(|_| invalid())?;
    let expires = q
        .one("expires")
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok())
        .ok_or_else(invalid)?;
    let signature = q
        .one("signature")
        .ok()
        .flatten()
        .ok_or_else(invalid)?
        .to_string();
    Ok(Signature { expires, signature })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadReceipt {
    pub id: String,
    /// `processing` once the bytes are stored.
    pub status: String,
}

/// Upload a document's bytes to its signed URL
#[utoipa::path(
    put,
    path = "/uploads/{id}",
    tag = "Documents",
    params(
        ("id" = String, Path, description = "Document id"),
        ("expires" = i64, Query, description = "Unix seconds"),
        ("signature" = String, Query, description = "HMAC signature"),
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Stored; processing follows", body = UploadReceipt),
        (status = 400, description = "Malformed id or interrupted upload", body = ErrorBody),
        (status = 403, description = "Tampered, expired or already used URL", body = ErrorBody),
        (status = 413, description = "Larger than the upload limit", body = ErrorBody),
    )
)]
pub async fn upload(
    State(app): State<AppState>,
    DocumentIdPath(id): DocumentIdPath,
    RawQuery(raw): RawQuery,
    request: Request,
) -> Result<Json<UploadReceipt>, ApiError> {
    let sig = signature(raw.as_deref())?;
    let declared_len = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = request.into_body().into_data_stream();
    let doc = service::receive_upload(&app, &id, &sig, declared_len, body).await?;
    Ok(Json(UploadReceipt {
        id: doc.id.to_string(),
        status: doc.status.as_str().to_string(),
    }))
}

/// Download a document's bytes from its signed URL
#[utoipa::path(
    get,
    path = "/downloads/{id}",
    tag = "Documents",
    params(
        ("id" = String, Path, description = "Document id"),
        ("expires" = i64, Query, description = "Unix seconds"),
        ("signature" = String, Query, description = "HMAC signature"),
    ),
    responses(
        (status = 200, description = "The original bytes, with the stored Content-Type", content_type = "application/octet-stream"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 403, description = "Tampered or expired URL", body = ErrorBody),
        (status = 404, description = "The document is gone", body = ErrorBody),
    )
)]
pub async fn download(
    State(app): State<AppState>,
    DocumentIdPath(id): DocumentIdPath,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let sig = signature(raw.as_deref())?;
    let (doc, size, stream) = service::open_download(&app, &id, &sig).await?;
    let content_type = doc
        .content_type
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    headers.insert(
        header::CONTENT_DISPOSITION,
        content_disposition(&doc.file_name),
    );
    Ok(response)
}

/// `attachment` with an ASCII fallback and the exact UTF-8 name (RFC 6266).
fn content_disposition(file_name: &str) -> HeaderValue {
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '/') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in file_name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or(HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn content_disposition_carries_the_name_safely() {
        assert_eq!(
            content_disposition("Q3 report.pdf"),
            "attachment; filename=\"Q3 report.pdf\"; filename*=UTF-8''Q3%20report.pdf"
        );
        assert_eq!(
            content_disposition("résumé\"x\".pdf"),
            "attachment; filename=\"r_sum__x_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%22x%22.pdf"
        );
        // No path a client could write to, no header injection.
        assert_eq!(
            content_disposition("../etc/pass\\wd\r\n.pdf"),
            "attachment; filename=\".._etc_pass_wd__.pdf\"; \
             filename*=UTF-8''..%2Fetc%2Fpass%5Cwd%0D%0A.pdf"
        );
    }
}
