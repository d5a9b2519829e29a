//! Signed upload and download URLs. The signature is the credential: no API
//! key, any request headers tolerated.

use super::documents::DocumentIdPath;
use super::error::{ApiError, ErrorBody};
use super::params::{Query, SignedUrlParams};
use crate::domain::document::content_disposition;
use crate::error::Error;
use crate::service::documents::{self as service, Signature};
use crate::service::AppState;
use axum::body::Body;
use axum::extract::{RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
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
        SignedUrlParams,
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Stored; processing follows", body = UploadReceipt),
        (status = 400, description = "Malformed id or interrupted upload", body = ErrorBody),
        (status = 403, description = "Tampered, expired or already used URL", body = ErrorBody),
        (status = 413, description = "Larger than the upload limit", body = ErrorBody),
        (status = 503, description = "STORAGE_UNAVAILABLE: the blob store is down; nothing was stored, the URL stays valid", body = ErrorBody),
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
    let mut body = request.into_body().into_data_stream();
    let received = service::receive_upload(&app, &id, &sig, declared_len, &mut body).await;
    // A body too large is cut off by closing (docs/decisions.md); after
    // any other refusal the client reads the answer, not a reset.
    if matches!(&received, Err(e) if !matches!(e, Error::PayloadTooLarge(_))) {
        drain(&mut body).await;
    }
    let doc = received?;
    Ok(Json(UploadReceipt {
        id: doc.id.to_string(),
        status: doc.status.as_str().to_string(),
    }))
}

/// Most bytes of an upload read and dropped after it was refused (a blob
/// store down, a used URL). A client still sending its body then reads the
/// error (and a `503`'s `Retry-After`), where closing at once would have
/// met its writes with a reset connection; a larger remainder is cut off
/// by closing.
const DRAINED_AFTER_FAILURE: usize = 16 * 1024 * 1024;

/// Reads what is left of a body, up to [`DRAINED_AFTER_FAILURE`].
async fn drain<S, E>(body: &mut S)
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let mut read = 0;
    while read < DRAINED_AFTER_FAILURE {
        match body.next().await {
            Some(Ok(chunk)) => read += chunk.len(),
            _ => return,
        }
    }
}

/// Download a document's bytes from its signed URL
#[utoipa::path(
    get,
    path = "/downloads/{id}",
    tag = "Documents",
    params(
        ("id" = String, Path, description = "Document id"),
        SignedUrlParams,
    ),
    responses(
        (status = 200, description = "The original bytes, with the stored Content-Type", content_type = "application/octet-stream"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 403, description = "Tampered or expired URL", body = ErrorBody),
        (status = 404, description = "The document is gone", body = ErrorBody),
        (status = 503, description = "STORAGE_UNAVAILABLE: the blob store is down", body = ErrorBody),
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
        HeaderValue::from_str(&content_disposition(&doc.file_name))
            .unwrap_or(HeaderValue::from_static("attachment")),
    );
    Ok(response)
}
