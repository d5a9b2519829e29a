//! `/contents/v1/tags`: the caller's tags.

use super::error::{ApiError, ErrorBody};
use super::json::JsonBody;
use super::params::Query;
use crate::domain::{Principal, Tag};
use crate::service::{tags as service, AppState};
use axum::extract::{RawQuery, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct TagView {
    pub id: Uuid,
    pub name: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Documents carrying this tag.
    pub file_count: i64,
}

impl TagView {
    fn new(tag: &Tag, file_count: i64) -> Self {
        Self {
            id: tag.id,
            name: tag.name.clone(),
            created_at: tag.created_at.to_rfc3339(),
            updated_at: tag.updated_at.to_rfc3339(),
            file_count,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagList {
    pub results: Vec<TagView>,
}

/// List your tags
#[utoipa::path(
    get,
    path = "/contents/v1/tags",
    tag = "Tags",
    params(("prefix" = Option<String>, Query, description = "Only tags whose name starts with this")),
    responses(
        (status = 200, description = "The caller's tags, by name", body = TagList),
        (status = 400, description = "Unknown query parameter", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn list_tags(
    State(app): State<AppState>,
    caller: Principal,
    RawQuery(raw): RawQuery,
) -> Result<Json<TagList>, ApiError> {
    let q = Query::parse(raw.as_deref(), &["prefix"])?;
    let tags = service::list(&app, &caller, q.one("prefix")?.unwrap_or_default(), None).await?;
    Ok(Json(TagList {
        results: tags.iter().map(|(t, n)| TagView::new(t, *n)).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagCreate {
    pub tag_name: String,
}

/// Create a tag (idempotent by name)
#[utoipa::path(
    post,
    path = "/contents/v1/tags",
    tag = "Tags",
    request_body = TagCreate,
    responses(
        (status = 200, description = "The tag, new or existing", body = TagView),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn create_tag(
    State(app): State<AppState>,
    caller: Principal,
    JsonBody(body): JsonBody<TagCreate>,
) -> Result<Json<TagView>, ApiError> {
    let (tag, count) = service::create(&app, &caller, &body.tag_name).await?;
    Ok(Json(TagView::new(&tag, count)))
}
