//! Row shapes shared by the SQL backends, and their conversion to domain types.

use crate::domain::connector::Sealed;
use crate::domain::{
    Connector, ConnectorConfig, ConnectorKind, ConnectorState, Description, Document, DocumentId,
    DocumentStatus, Label, LastSync, RequestOrigin, SyncJob, SyncStatus, Tag, Timestamp,
    TriggerMethod,
};
use crate::store::{Job, JobState, StoreError, StoreResult};
use uuid::Uuid;

/// Columns of `connectors`, in the order of [`CONNECTOR_COLUMNS`].
#[derive(Debug, sqlx::FromRow)]
pub(in crate::store) struct ConnectorRow {
    pub connector_id: String,
    pub user_id: String,
    pub org_id: String,
    pub kind: String,
    pub label: String,
    pub description: String,
    pub share_with_org: bool,
    pub state: String,
    pub email_hash: Option<String>,
    pub allowed_emails: Option<String>,
    pub research_user_id: Option<String>,
    pub portal: Option<String>,
    pub password_sealed: Option<Vec<u8>>,
    pub files_count: i64,
    pub last_sync_at: Option<i64>,
    pub last_sync_status: Option<String>,
    pub last_sync_error_msg: Option<String>,
    pub last_sync_count: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub paused_at: Option<i64>,
}

/// The columns of [`ConnectorRow`], as a literal for `concat!`.
macro_rules! connector_columns {
    () => {
        "connector_id, user_id, org_id, kind, label, description, share_with_org, state, \
         email_hash, allowed_emails, research_user_id, portal, password_sealed, files_count, \
         last_sync_at, last_sync_status, last_sync_error_msg, last_sync_count, created_at, \
         updated_at, paused_at"
    };
}

pub(in crate::store) const CONNECTOR_COLUMNS: &str = connector_columns!();

/// The columns of [`TagRow`] (of `tags t`), as a literal for `concat!`.
macro_rules! tag_columns {
    () => {
        "t.tag_id, t.user_id, t.name, t.created_at, t.updated_at"
    };
}

/// The point reads behind every request; SQLite runs them on connections of
/// its own (`sqlite::reads`), PostgreSQL on its pool.
pub(in crate::store) const CONNECTOR_BY_ID: &str = concat!(
    "SELECT ",
    connector_columns!(),
    " FROM connectors WHERE connector_id = $1"
);
pub(in crate::store) const CONNECTOR_BY_INBOX: &str = concat!(
    "SELECT ",
    connector_columns!(),
    " FROM connectors WHERE email_hash = $1"
);
/// The caller behind an unrevoked key: key id, user id, org id.
pub(in crate::store) const PRINCIPAL_BY_KEY_HASH: &str =
    "SELECT k.key_id, u.user_id, u.org_id FROM api_keys k \
     JOIN users u ON u.user_id = k.user_id \
     WHERE k.key_hash = $1 AND k.revoked_at IS NULL";

fn corrupt(id: &str, what: &str) -> StoreError {
    StoreError::Corrupt(format!("connector {id}: {what}"))
}

impl TryFrom<ConnectorRow> for Connector {
    type Error = StoreError;

    fn try_from(r: ConnectorRow) -> Result<Self, StoreError> {
        let id = Uuid::try_parse(&r.connector_id).map_err(|_| corrupt(&r.connector_id, "id"))?;
        let kind = ConnectorKind::parse(&r.kind).ok_or_else(|| corrupt(&r.connector_id, "kind"))?;
        let state = match ConnectorState::parse(&r.state) {
            // Pausing keeps the row `active` and sets `paused_at`.
            Some(ConnectorState::Active) if r.paused_at.is_some() => ConnectorState::Paused,
            Some(
                s @ (ConnectorState::Active | ConnectorState::Archived | ConnectorState::Deleting),
            ) => s,
            _ => return Err(corrupt(&r.connector_id, "state")),
        };
        let config = match kind {
            ConnectorKind::Email => ConnectorConfig::Email {
                allowed_emails: r
                    .allowed_emails
                    .as_deref()
                    .and_then(|j| serde_json::from_str(j).ok())
                    .ok_or_else(|| corrupt(&r.connector_id, "allowed_emails"))?,
                email_hash: r
                    .email_hash
                    .ok_or_else(|| corrupt(&r.connector_id, "email_hash"))?,
            },
            ConnectorKind::InvestmentResearch => ConnectorConfig::InvestmentResearch {
                user_id: r
                    .research_user_id
                    .ok_or_else(|| corrupt(&r.connector_id, "research user id"))?,
                portal: r.portal.unwrap_or_default(),
                password: Sealed(
                    r.password_sealed
                        .ok_or_else(|| corrupt(&r.connector_id, "password"))?,
                ),
            },
        };
        let last_sync = match (r.last_sync_at, r.last_sync_status) {
            (Some(at), Some(status)) => Some(LastSync {
                at: Timestamp::from_micros(at),
                status,
                error_msg: r.last_sync_error_msg,
                count: r.last_sync_count,
            }),
            _ => None,
        };
        Ok(Connector {
            id,
            user_id: r.user_id,
            org_id: r.org_id,
            share_with_org: r.share_with_org,
            label: Label::parse(&r.label).map_err(|_| corrupt(&r.connector_id, "label"))?,
            description: Description::parse(Some(&r.description))
                .map_err(|_| corrupt(&r.connector_id, "description"))?,
            config,
            state,
            files_count: r.files_count,
            last_sync,
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
        })
    }
}

/// The config columns of a connector: (email_hash, allowed_emails JSON,
/// research user id, portal, sealed password).
pub(in crate::store) type ConfigColumns<'a> = (
    Option<&'a str>,
    Option<String>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a [u8]>,
);

pub(in crate::store) fn config_columns(config: &ConnectorConfig) -> ConfigColumns<'_> {
    match config {
        ConnectorConfig::Email {
            allowed_emails,
            email_hash,
        } => (
            Some(email_hash),
            Some(serde_json::to_string(allowed_emails).expect("strings serialize")),
            None,
            None,
            None,
        ),
        ConnectorConfig::InvestmentResearch {
            user_id,
            portal,
            password,
        } => (None, None, Some(user_id), Some(portal), Some(&password.0)),
    }
}

/// Columns of `documents`, in the order of [`DOCUMENT_COLUMNS`].
#[derive(Debug, sqlx::FromRow)]
pub(in crate::store) struct DocumentRow {
    pub document_id: String,
    pub user_id: String,
    pub org_id: String,
    pub connector_id: Option<String>,
    pub rp_collection_id: Option<String>,
    pub file_name: String,
    pub raw_size: Option<i64>,
    pub content_type: Option<String>,
    pub request_origin: String,
    pub status: String,
    pub error_code: Option<String>,
    pub share_with_org: bool,
    pub published_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub file_metadata: String,
    pub sha256: Option<String>,
    pub blob_key: Option<String>,
}

/// The columns of [`DocumentRow`] (of `documents d`), as a literal for `concat!`.
macro_rules! document_columns {
    () => {
        "d.document_id, d.user_id, d.org_id, d.connector_id, \
         d.rp_collection_id, d.file_name, d.raw_size, d.content_type, d.request_origin, d.status, \
         d.error_code, d.share_with_org, d.published_at, d.created_at, d.updated_at, \
         d.file_metadata, d.sha256, d.blob_key"
    };
}

pub(in crate::store) const DOCUMENT_COLUMNS: &str = document_columns!();

/// A document by id, and its tags by name: the point read behind every
/// request about one document; SQLite runs it on its readers' connections.
pub(in crate::store) const DOCUMENT_BY_ID: &str = concat!(
    "SELECT ",
    document_columns!(),
    " FROM documents d WHERE d.document_id = $1"
);
pub(in crate::store) const TAGS_OF_DOCUMENT: &str = concat!(
    "SELECT ",
    tag_columns!(),
    " FROM document_tags dt JOIN tags t ON t.tag_id = dt.tag_id \
     WHERE dt.document_id = $1 ORDER BY t.name"
);

/// The document of `row`, tagged with `tags` (in their order).
pub(in crate::store) fn tagged_document(
    row: DocumentRow,
    tags: Vec<TagRow>,
) -> StoreResult<Document> {
    let mut doc = Document::try_from(row)?;
    doc.tags = tags
        .into_iter()
        .map(Tag::try_from)
        .collect::<StoreResult<_>>()?;
    Ok(doc)
}

impl TryFrom<DocumentRow> for Document {
    type Error = StoreError;

    fn try_from(r: DocumentRow) -> Result<Self, StoreError> {
        let bad = |what: &str| StoreError::Corrupt(format!("document {}: {what}", r.document_id));
        Ok(Document {
            id: DocumentId::parse(&r.document_id).ok_or_else(|| bad("id"))?,
            connector_id: r
                .connector_id
                .as_deref()
                .map(Uuid::try_parse)
                .transpose()
                .map_err(|_| bad("connector_id"))?,
            request_origin: RequestOrigin::parse(&r.request_origin).ok_or_else(|| bad("origin"))?,
            status: DocumentStatus::parse(&r.status).ok_or_else(|| bad("status"))?,
            file_metadata: serde_json::from_str(&r.file_metadata).map_err(|_| bad("metadata"))?,
            user_id: r.user_id,
            org_id: r.org_id,
            rp_collection_id: r.rp_collection_id,
            file_name: r.file_name,
            raw_size: r.raw_size,
            content_type: r.content_type,
            error_code: r.error_code,
            share_with_org: r.share_with_org,
            published_at: r.published_at.map(Timestamp::from_micros),
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
            sha256: r.sha256,
            blob_key: r.blob_key,
            tags: Vec::new(),
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(in crate::store) struct TagRow {
    pub tag_id: String,
    pub user_id: String,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(in crate::store) const TAG_COLUMNS: &str = tag_columns!();

impl TryFrom<TagRow> for Tag {
    type Error = StoreError;

    fn try_from(r: TagRow) -> Result<Self, StoreError> {
        Ok(Tag {
            id: Uuid::try_parse(&r.tag_id)
                .map_err(|_| StoreError::Corrupt(format!("tag id {}", r.tag_id)))?,
            user_id: r.user_id,
            name: r.name,
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(in crate::store) struct JobRow {
    pub job_id: String,
    pub kind: String,
    pub payload: String,
    pub state: String,
    pub run_at: i64,
    pub attempts: i64,
    pub max_attempts: i64,
    pub last_error: Option<String>,
}

pub(in crate::store) const JOB_COLUMNS: &str =
    "job_id, kind, payload, state, run_at, attempts, max_attempts, last_error";

impl TryFrom<JobRow> for Job {
    type Error = StoreError;

    fn try_from(r: JobRow) -> Result<Self, StoreError> {
        let bad = |what: &str| StoreError::Corrupt(format!("job {}: {what}", r.job_id));
        Ok(Job {
            id: Uuid::try_parse(&r.job_id).map_err(|_| bad("id"))?,
            payload: serde_json::from_str(&r.payload).map_err(|_| bad("payload"))?,
            state: match r.state.as_str() {
                "queued" => JobState::Queued,
                "running" => JobState::Running,
                "dead" => JobState::Dead,
                _ => return Err(bad("state")),
            },
            kind: r.kind,
            run_at: Timestamp::from_micros(r.run_at),
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            last_error: r.last_error,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(in crate::store) struct SyncJobRow {
    pub sync_job_id: String,
    pub connector_id: String,
    pub status: String,
    pub trigger_method: String,
    pub date_limit: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub indexed_document_count: i64,
    pub skipped_document_count: i64,
    pub error: Option<String>,
    pub errors: String,
}

pub(in crate::store) const SYNC_JOB_COLUMNS: &str =
    "sync_job_id, connector_id, status, trigger_method, \
    date_limit, created_at, started_at, completed_at, indexed_document_count, \
    skipped_document_count, error, errors";

impl TryFrom<SyncJobRow> for SyncJob {
    type Error = StoreError;

    fn try_from(r: SyncJobRow) -> Result<Self, StoreError> {
        let bad = |what: &str| StoreError::Corrupt(format!("sync job {}: {what}", r.sync_job_id));
        Ok(SyncJob {
            id: Uuid::try_parse(&r.sync_job_id).map_err(|_| bad("id"))?,
            connector_id: Uuid::try_parse(&r.connector_id).map_err(|_| bad("connector"))?,
            status: SyncStatus::parse(&r.status).ok_or_else(|| bad("status"))?,
            trigger_method: TriggerMethod::parse(&r.trigger_method)
                .ok_or_else(|| bad("trigger"))?,
            date_limit: r.date_limit,
            created_at: Timestamp::from_micros(r.created_at),
            started_at: r.started_at.map(Timestamp::from_micros),
            completed_at: r.completed_at.map(Timestamp::from_micros),
            indexed_document_count: r.indexed_document_count,
            skipped_document_count: r.skipped_document_count,
            error: r.error,
            errors: serde_json::from_str(&r.errors).map_err(|_| bad("errors"))?,
        })
    }
}
