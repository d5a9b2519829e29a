//! `GET /contents/v1/documents/{id}/annotated` and its signed URL
//! `GET /annotated/{id}`: a processed document's content (contract §10).

use super::documents::{base_url, DocumentIdPath, DocumentView};
use super::error::{ApiError, ErrorBody};
use super::files::signature;
use super::params::SignedUrlParams;
use crate::domain::analytics::EntityType;
use crate::domain::Principal;
use crate::extract::BlockKind;
use crate::service::annotated::{self as service, Annotated};
use crate::service::AppState;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockView {
    #[serde(rename = "type")]
    pub kind: BlockKind,
    pub text: String,
    /// The page (PDF) or slide (PPTX) it is on.
    #[schema(minimum = 1)]
    pub page: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentView {
    pub title: Option<String>,
    pub language: Option<String>,
    pub body: Vec<BlockView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilingView {
    /// `pdf`, `html`, `text`, `email`, `docx`, `xlsx`, `pptx`, or `none`.
    pub extractor: String,
    pub version: String,
    #[schema(format = DateTime)]
    pub started_at: String,
    #[schema(format = DateTime)]
    pub finished_at: String,
    pub pages: Option<u32>,
    pub characters: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsView {
    pub words: u64,
    pub paragraphs: u64,
    pub pages: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntityView {
    #[serde(rename = "type")]
    pub kind: EntityType,
    /// As first written in the text.
    pub text: String,
    /// Normalised: `AAPL`, `USD 1.2e9`, `3.5%`, a lowercased address.
    pub value: String,
    #[schema(minimum = 1)]
    pub count: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsView {
    pub metrics: MetricsView,
    pub entities: Vec<EntityView>,
}

/// A processed document (Bigdata's annotated document).
#[derive(Debug, Serialize, ToSchema)]
pub struct AnnotatedView {
    /// Signed, reusable until it expires (24 hours by default), serving this JSON.
    pub url: String,
    pub document: DocumentView,
    pub content: ContentView,
    pub profiling: ProfilingView,
    pub analytics: AnalyticsView,
}

fn view(app: &AppState, headers: &HeaderMap, a: Annotated) -> Result<AnnotatedView, ApiError> {
    // Stored by this server's processing; unreadable means corrupt.
    fn read<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, ApiError> {
        serde_json::from_value(v).map_err(|e| {
            tracing::error!(error = %e, "stored processed content is unreadable");
            ApiError::internal()
        })
    }
    Ok(AnnotatedView {
        url: format!("{}{}", base_url(app, headers), a.path),
        document: DocumentView::from(&a.doc),
        content: read(a.content.content)?,
        profiling: read(a.content.profiling)?,
        analytics: read(a.content.analytics)?,
    })
}

/// Get a document's processed content
#[utoipa::path(
    get,
    path = "/contents/v1/documents/{id}/annotated",
    tag = "Documents",
    params(("id" = String, Path, description = "32 uppercase hex characters")),
    responses(
        (status = 200, description = "Title, body blocks, profiling and analytics", body = AnnotatedView),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
        (status = 404, description = "No such document, not visible, or not completed yet", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn annotated(
    State(app): State<AppState>,
    caller: Principal,
    headers: HeaderMap,
    DocumentIdPath(id): DocumentIdPath,
) -> Result<Json<AnnotatedView>, ApiError> {
    let a = service::annotated(&app, &caller, &id).await?;
    Ok(Json(view(&app, &headers, a)?))
}

/// Get a document's processed content from its signed URL
#[utoipa::path(
    get,
    path = "/annotated/{id}",
    tag = "Documents",
    params(
        ("id" = String, Path, description = "Document id"),
        SignedUrlParams,
    ),
    responses(
        (status = 200, description = "The same JSON as /documents/{id}/annotated", body = AnnotatedView),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 403, description = "Tampered or expired URL", body = ErrorBody),
        (status = 404, description = "The document is gone", body = ErrorBody),
    )
)]
pub async fn signed_annotated(
    State(app): State<AppState>,
    headers: HeaderMap,
    DocumentIdPath(id): DocumentIdPath,
    RawQuery(raw): RawQuery,
) -> Result<Json<AnnotatedView>, ApiError> {
    let sig = signature(raw.as_deref())?;
    let a = service::open_annotated(&app, &id, &sig).await?;
    Ok(Json(view(&app, &headers, a)?))
}
