//! `/contents/v1/documents`: upload tickets, list, read, tag, share, delete,
//! and signed download URLs.

use super::error::{ApiError, ErrorBody};
use super::json::JsonBody;
use super::params::{parse_hyphenated_uuid, Query};
use super::reuse::Reusable;
use crate::domain::search::{Highlight, SearchQuery};
use crate::domain::{Document, DocumentId, DocumentStatus, Principal, RequestOrigin, Timestamp};
use crate::service::documents::{self as service, NewUpload, UrlPurpose};
use crate::service::AppState;
use crate::store::{DocumentQuery, DocumentSort, Ownership};
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// `{id}` in a document path: 32 uppercase hex characters.
pub struct DocumentIdPath(pub DocumentId);

impl<S: Send + Sync> FromRequestParts<S> for DocumentIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let invalid = || {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_DOCUMENT_ID",
                "id must be 32 uppercase hexadecimal characters",
            )
        };
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| invalid())?;
        DocumentId::parse(&raw)
            .map(DocumentIdPath)
            .ok_or_else(invalid)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagRef {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OriginView {
    Email,
    InvestmentResearch,
    FileUpload,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusView {
    Pending,
    Processing,
    Completed,
    Failed,
}

/// A document in the private store.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    #[schema(example = "019A9612BFAD758C884E37DD8C6AD2CB")]
    pub id: String,
    pub file_name: String,
    pub user_id: String,
    pub org_id: String,
    pub connector_id: Option<Uuid>,
    /// Groups an email with its attachments.
    pub rp_collection_id: Option<String>,
    pub raw_size: Option<i64>,
    pub content_type: Option<String>,
    pub request_origin: OriginView,
    pub status: StatusView,
    pub error_code: Option<String>,
    /// `[org_id]` when shared with the owner's org, else empty.
    pub shared_with_orgs: Vec<String>,
    #[schema(format = DateTime)]
    pub published_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub tags: Vec<TagRef>,
    #[schema(value_type = Object, additional_properties)]
    pub file_metadata: serde_json::Map<String, serde_json::Value>,
    /// Hex SHA-256 of the stored bytes, once processed.
    pub sha256: Option<String>,
    /// Only in search results (`q`): where the document matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 3)]
    pub highlights: Option<Vec<HighlightView>>,
}

/// A plain-text snippet of a search result (never markup from content).
#[derive(Debug, Serialize, ToSchema)]
pub struct HighlightView {
    /// At most 300 characters.
    #[schema(max_length = 300)]
    pub text: String,
    /// `[start, end]` character offsets into `text` of each match (end exclusive).
    #[schema(value_type = Vec<Vec<u32>>)]
    pub matches: Vec<[usize; 2]>,
}

impl From<&Highlight> for HighlightView {
    fn from(h: &Highlight) -> Self {
        Self {
            text: h.text.clone(),
            matches: h.matches.iter().map(|&(s, e)| [s, e]).collect(),
        }
    }
}

impl From<&Document> for DocumentView {
    fn from(d: &Document) -> Self {
        Self {
            id: d.id.to_string(),
            file_name: d.file_name.clone(),
            user_id: d.user_id.clone(),
            org_id: d.org_id.clone(),
            connector_id: d.connector_id,
            rp_collection_id: d.rp_collection_id.clone(),
            raw_size: d.raw_size,
            content_type: d.content_type.clone(),
            request_origin: match d.request_origin {
                RequestOrigin::Email => OriginView::Email,
                RequestOrigin::InvestmentResearch => OriginView::InvestmentResearch,
                RequestOrigin::FileUpload => OriginView::FileUpload,
            },
            status: match d.status {
                DocumentStatus::Pending => StatusView::Pending,
                DocumentStatus::Processing => StatusView::Processing,
                DocumentStatus::Completed => StatusView::Completed,
                DocumentStatus::Failed => StatusView::Failed,
            },
            error_code: d.error_code.clone(),
            shared_with_orgs: if d.share_with_org {
                vec![d.org_id.clone()]
            } else {
                vec![]
            },
            published_at: d.published_at.map(Timestamp::to_rfc3339),
            created_at: d.created_at.to_rfc3339(),
            updated_at: d.updated_at.to_rfc3339(),
            tags: d
                .tags
                .iter()
                .map(|t| TagRef {
                    id: t.id,
                    name: t.name.clone(),
                })
                .collect(),
            file_metadata: d.file_metadata.clone(),
            sha256: d.sha256.clone(),
            highlights: None,
        }
    }
}

/// The base of signed URLs: `public_url`, else this request's host (which
/// `limits::host` has already checked is `host[:port]`; HTTP/1.0 may omit it).
pub(super) fn base_url(app: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &app.config.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or(&app.config.http_addr);
    format!("http://{host}")
}

// ---------------------------------------------------------------- create

/// Payload for registering an upload.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentCreate {
    pub file_name: String,
    /// RFC 3339 date-time, `YYYY-MM-DD`, or ISO 8601 without an offset
    /// (read as UTC).
    #[serde(default)]
    pub published_ts: Option<String>,
    /// Tag names (created when new).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub share_with_org: Option<bool>,
}

/// Where to `PUT` the file's bytes: a single-use URL that expires.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadTicket {
    pub id: String,
    pub url: String,
}

/// Register a document upload
#[utoipa::path(
    post,
    path = "/contents/v1/documents",
    tag = "Documents",
    request_body = DocumentCreate,
    responses(
        (status = 200, description = "The document id and its signed upload URL", body = UploadTicket),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn create_document(
    State(app): State<AppState>,
    caller: Principal,
    headers: HeaderMap,
    JsonBody(body): JsonBody<DocumentCreate>,
) -> Result<Json<UploadTicket>, ApiError> {
    let published_at = body
        .published_ts
        .as_deref()
        .map(|s| {
            Timestamp::parse(s).ok_or_else(|| {
                ApiError::invalid(
                    "published_ts: must be an RFC 3339 date-time, YYYY-MM-DD, \
                     or YYYY-MM-DDThh:mm:ss (UTC)",
                )
            })
        })
        .transpose()?;
    let new = NewUpload {
        file_name: crate::domain::document::parse_file_name(&body.file_name)
            .map_err(|e| ApiError::from(crate::error::Error::from(e)))?,
        published_at,
        tags: body.tags.unwrap_or_default(),
        share_with_org: body.share_with_org.unwrap_or(false),
    };
    let doc = service::create_upload(&app, &caller, new).await?;
    let expires = Timestamp::now().plus(app.config.documents.upload_url_ttl());
    let path = service::signed_path(&app, UrlPurpose::Upload, &doc.id, expires);
    Ok(Json(UploadTicket {
        id: doc.id.to_string(),
        url: format!("{}{path}", base_url(&app, &headers)),
    }))
}

// ---------------------------------------------------------------- list

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 100;
const MAX_PAGE: u32 = 1_000_000;

/// Query parameters of the document list (Bigdata's). Documents the query
/// for OpenAPI; `parse_list_query` reads it into a store query.
#[derive(Debug, IntoParams)]
#[allow(dead_code)]
#[into_params(parameter_in = Query)]
pub struct ListDocumentsParams {
    /// Full-text search (at most 1,000 characters): words (all must match;
    /// stemmed, case- and accent-insensitive), `"a phrase"`, `OR` between
    /// two terms, `-word` to exclude, `prefix*`. Searches file names,
    /// extracted text, e-mail subject and sender, and tag names; sorts by
    /// `relevance` unless `sort_by` says otherwise.
    pub q: Option<String>,
    /// `email`, `investment_research` or `file_upload`.
    #[param(value_type = Option<String>)]
    pub origin: Option<RequestOrigin>,
    /// Documents created on or after this date (`YYYY-MM-DD` or RFC 3339).
    #[param(value_type = Option<String>)]
    pub from_date: Option<Timestamp>,
    /// `all` (default), `owned` or `shared`.
    #[param(value_type = Option<String>)]
    pub ownership: Option<Ownership>,
    /// Only documents of this user.
    pub owner: Option<String>,
    /// 1-based page number, at most 1,000,000.
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<u32>,
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
    /// `created_at` (default without `q`), `updated_at`, `file_name`, `raw_size`,
    /// `content_type`, `status`, `relevance` (default with `q`; without `q`
    /// there is no relevance and it orders as `created_at`).
    #[param(value_type = Option<String>)]
    pub sort_by: Option<DocumentSort>,
    /// `asc` or `desc` (default).
    #[param(value_type = Option<String>)]
    pub sort_order: Option<bool>,
    /// Case-insensitive substring of the file name.
    pub file_name: Option<String>,
    pub rp_collection_id: Option<String>,
    /// Alias: `connector`.
    pub connector_id: Option<Uuid>,
    /// Tag names or ids; repeatable; any of them matches.
    pub tags: Option<Vec<String>>,
}

/// The values of `sort_by`.
pub const SORT_BY: &[&str] = &[
    "created_at",
    "updated_at",
    "file_name",
    "raw_size",
    "content_type",
    "status",
    "relevance",
];

const LIST_PARAMS: &[&str] = &[
    "q",
    "origin",
    "from_date",
    "ownership",
    "owner",
    "page",
    "page_size",
    "sort_by",
    "sort_order",
    "file_name",
    "rp_collection_id",
    "connector_id",
    "connector",
    "tags",
];

/// A list request: the store query, the search when `q` is given, the page
/// and its size.
pub type ListRequest = (DocumentQuery, Option<SearchQuery>, u32, u32);

pub fn parse_list_query(raw: Option<&str>) -> Result<ListRequest, ApiError> {
    let q = Query::parse(raw, LIST_PARAMS)?;
    let search = q
        .one("q")?
        .map(SearchQuery::parse)
        .transpose()
        .map_err(|e| ApiError::from(crate::error::Error::from(e)))?;
    let page = q.int("page", 1..=MAX_PAGE)?.unwrap_or(1);
    let page_size = q
        .int("page_size", 1..=MAX_PAGE_SIZE)?
        .unwrap_or(DEFAULT_PAGE_SIZE);
    let connector = match (q.one("connector_id")?, q.one("connector")?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "connector: give connector_id or connector, not both",
            ))
        }
        (Some(v), None) => Some(("connector_id", v)),
        (None, Some(v)) => Some(("connector", v)),
        (None, None) => None,
    };
    let connector_id = connector
        .map(|(name, v)| {
            parse_hyphenated_uuid(v)
                .ok_or_else(|| ApiError::invalid(format!("{name}: must be a connector UUID")))
        })
        .transpose()?;
    let non_empty = |name: &'static str| -> Result<Option<String>, ApiError> {
        match q.one(name)? {
            Some("") => Err(ApiError::invalid(format!("{name}: must not be empty"))),
            other => Ok(other.map(str::to_string)),
        }
    };
    let query = DocumentQuery {
        origin: q
            .choice("origin", RequestOrigin::ALL)?
            .and_then(RequestOrigin::parse),
        from_date: q
            .one("from_date")?
            .map(|v| {
                Timestamp::parse(v).ok_or_else(|| {
                    ApiError::invalid("from_date: must be YYYY-MM-DD or an RFC 3339 date-time")
                })
            })
            .transpose()?,
        ownership: match q.choice("ownership", &["all", "owned", "shared"])? {
            Some("owned") => Ownership::Owned,
            Some("shared") => Ownership::Shared,
            _ => Ownership::All,
        },
        owner: non_empty("owner")?,
        file_name: non_empty("file_name")?,
        rp_collection_id: non_empty("rp_collection_id")?,
        connector_id,
        tags: q.all("tags").map(str::to_string).collect(),
        sort_by: match q.choice("sort_by", SORT_BY)? {
            Some("updated_at") => DocumentSort::UpdatedAt,
            Some("file_name") => DocumentSort::FileName,
            Some("raw_size") => DocumentSort::RawSize,
            Some("content_type") => DocumentSort::ContentType,
            Some("status") => DocumentSort::Status,
            Some("relevance") => DocumentSort::Relevance,
            Some(_) => DocumentSort::CreatedAt,
            None if search.is_some() => DocumentSort::Relevance,
            None => DocumentSort::CreatedAt,
        },
        descending: q.choice("sort_order", &["asc", "desc"])? != Some("asc"),
        after: None,
        offset: u64::from(page - 1) * u64::from(page_size),
        // One extra row tells whether another page follows.
        limit: page_size + 1,
    };
    if query.tags.iter().any(String::is_empty) {
        return Err(ApiError::invalid("tags: must not be empty"));
    }
    Ok((query, search, page, page_size))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentList {
    pub results: Vec<DocumentView>,
    pub page: u32,
    pub page_size: u32,
    pub has_more: bool,
}

/// List documents
///
/// Documents the caller can see: their own and those shared with their org.
#[utoipa::path(
    get,
    path = "/contents/v1/documents",
    tag = "Documents",
    params(ListDocumentsParams),
    responses(
        (status = 200, description = "A page of documents", body = DocumentList),
        (status = 400, description = "Unknown or invalid query parameter", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn list_documents(
    State(app): State<AppState>,
    caller: Principal,
    reuse: Reusable,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (query, search, page, page_size) = parse_list_query(raw.as_deref())?;
    let reuse = reuse.only_if(service::depends_on_store_only(&query, search.is_some()));
    if let Some(kept) = reuse.kept(&caller) {
        service::revisit(&app, &caller, &query, search.is_some());
        return Ok(kept);
    }
    let mut results: Vec<DocumentView> = match &search {
        None => service::list(&app, &caller, &query)
            .await?
            .iter()
            .map(DocumentView::from)
            .collect(),
        Some(search) => service::search(&app, &caller, &query, search)
            .await?
            .iter()
            .map(|found| DocumentView {
                highlights: Some(found.highlights.iter().map(HighlightView::from).collect()),
                ..DocumentView::from(&found.document)
            })
            .collect(),
    };
    let has_more = results.len() > page_size as usize;
    results.truncate(page_size as usize);
    let list = DocumentList {
        results,
        page,
        page_size,
        has_more,
    };
    Ok(reuse.answer(&caller, &list))
}

// ---------------------------------------------------------------- one document

/// Get a document
#[utoipa::path(
    get,
    path = "/contents/v1/documents/{id}",
    tag = "Documents",
    params(("id" = String, Path, description = "32 uppercase hex characters")),
    responses(
        (status = 200, description = "The document", body = DocumentView),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
        (status = 404, description = "No such document, or not visible to the caller", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn get_document(
    State(app): State<AppState>,
    caller: Principal,
    reuse: Reusable,
    DocumentIdPath(id): DocumentIdPath,
) -> Result<Response, ApiError> {
    if let Some(kept) = reuse.kept(&caller) {
        return Ok(kept);
    }
    let doc = service::get(&app, &caller, &id).await?;
    Ok(reuse.answer(&caller, &DocumentView::from(&doc)))
}

/// Payload for changing a document's tags or sharing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentPatch {
    /// Tag ids (the caller's own); replaces the document's set.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub share_with_org: Option<bool>,
}

/// Update a document's tags or sharing
#[utoipa::path(
    patch,
    path = "/contents/v1/documents/{id}",
    tag = "Documents",
    params(("id" = String, Path, description = "32 uppercase hex characters")),
    request_body = DocumentPatch,
    responses(
        (status = 200, description = "The updated document", body = DocumentView),
        (status = 400, description = "Malformed id or body, or a tag id that is not one of the caller's tags (INVALID_TAGS_ERROR)", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
        (status = 403, description = "Visible to the caller but not theirs", body = ErrorBody),
        (status = 404, description = "No such document, or not visible to the caller", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn patch_document(
    State(app): State<AppState>,
    caller: Principal,
    DocumentIdPath(id): DocumentIdPath,
    JsonBody(body): JsonBody<DocumentPatch>,
) -> Result<Json<DocumentView>, ApiError> {
    let doc = service::update(&app, &caller, &id, body.tags, body.share_with_org).await?;
    Ok(Json(DocumentView::from(&doc)))
}

/// Delete a document
#[utoipa::path(
    delete,
    path = "/contents/v1/documents/{id}",
    tag = "Documents",
    params(("id" = String, Path, description = "32 uppercase hex characters")),
    responses(
        (status = 200, description = "The deleted document, as it was", body = DocumentView),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
        (status = 403, description = "Visible to the caller but not theirs", body = ErrorBody),
        (status = 404, description = "No such document, or not visible to the caller", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn delete_document(
    State(app): State<AppState>,
    caller: Principal,
    DocumentIdPath(id): DocumentIdPath,
) -> Result<Json<DocumentView>, ApiError> {
    let doc = service::delete(&app, &caller, &id).await?;
    Ok(Json(DocumentView::from(&doc)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DownloadUrl {
    /// Signed, valid 24 hours by default.
    pub url: String,
}

/// Get a download URL for a document's original file
#[utoipa::path(
    get,
    path = "/contents/v1/documents/{id}/original",
    tag = "Documents",
    params(("id" = String, Path, description = "32 uppercase hex characters")),
    responses(
        (status = 200, description = "A signed download URL", body = DownloadUrl),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "Missing or bad X-API-KEY", body = ErrorBody),
        (status = 404, description = "No such document, not visible, or not completed yet", body = ErrorBody),
        (status = 503, description = "STORAGE_UNAVAILABLE: the blob store could not sign a direct download URL", body = ErrorBody),
    ),
    security(("ApiKeyAuth" = []))
)]
pub async fn original_url(
    State(app): State<AppState>,
    caller: Principal,
    headers: HeaderMap,
    DocumentIdPath(id): DocumentIdPath,
) -> Result<Json<DownloadUrl>, ApiError> {
    let url = match service::download_url(&app, &caller, &id).await? {
        service::Download::Signed(path) => format!("{}{path}", base_url(&app, &headers)),
        service::Download::Direct(url) => url,
    };
    Ok(Json(DownloadUrl { url }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_query_defaults_and_rules() {
        let (q, search, page, size) = parse_list_query(None).unwrap();
        assert!(search.is_none());
        assert_eq!((page, size, q.offset, q.limit), (1, 50, 0, 51));
        assert!(q.descending);
        assert_eq!(q.sort_by, DocumentSort::CreatedAt);
        let (q, _, page, _) =
            parse_list_query(Some("page=3&page_size=10&sort_order=asc&tags=a&tags=b")).unwrap();
        assert_eq!((page, q.offset, q.descending), (3, 20, false));
        assert_eq!(q.tags, vec!["a", "b"]);
        for bad in [
            "page=0",
            "page_size=101",
            "sort_by=size",
            "sort_order=up",
            "origin=fax",
            "from_date=yesterday",
            "connector_id=x",
            "connector=x",
            "ownership=mine",
            "nope=1",
            "tags=",
            "owner=",
            "q=",
            "q=%22unclosed",
            "q=a&q=b",
            "q=col%3Ax",
            "q=NEAR(a",
            "q=a%00b",
        ] {
            assert!(parse_list_query(Some(bad)).is_err(), "{bad}");
        }
        let id = Uuid::now_v7();
        let (q, ..) = parse_list_query(Some(&format!("connector={id}"))).unwrap();
        assert_eq!(q.connector_id, Some(id));
        // With q the default order is relevance; another sort_by still works.
        let (q, search, ..) = parse_list_query(Some("q=lithium+prices")).unwrap();
        assert_eq!(
            (q.sort_by, search.is_some()),
            (DocumentSort::Relevance, true)
        );
        let (q, ..) = parse_list_query(Some("q=lithium&sort_by=file_name")).unwrap();
        assert_eq!(q.sort_by, DocumentSort::FileName);
        for bad in ["q=%22unclosed", "q=*", "q=OR+OR"] {
            let e = parse_list_query(Some(bad)).err().unwrap();
            assert!(e.message.starts_with("q: "), "{bad}: {}", e.message);
        }
    }
}
