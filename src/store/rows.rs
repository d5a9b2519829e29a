//! Row shapes shared by the SQL backends, and their conversion to domain types.

use super::StoreError;
use crate::domain::connector::Sealed;
use crate::domain::{
    Connector, ConnectorConfig, ConnectorKind, ConnectorState, Description, Label, LastSync,
    Timestamp,
};
use uuid::Uuid;

/// Columns of `connectors`, in the order of [`CONNECTOR_COLUMNS`].
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ConnectorRow {
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
}

pub(super) const CONNECTOR_COLUMNS: &str = "connector_id, user_id, org_id, kind, label, \
    description, share_with_org, state, email_hash, allowed_emails, research_user_id, portal, \
    password_sealed, files_count, last_sync_at, last_sync_status, last_sync_error_msg, \
    last_sync_count, created_at, updated_at";

fn corrupt(id: &str, what: &str) -> StoreError {
    StoreError::Corrupt(format!("connector {id}: {what}"))
}

impl TryFrom<ConnectorRow> for Connector {
    type Error = StoreError;

    fn try_from(r: ConnectorRow) -> Result<Self, StoreError> {
        let id = Uuid::try_parse(&r.connector_id).map_err(|_| corrupt(&r.connector_id, "id"))?;
        let kind = ConnectorKind::parse(&r.kind).ok_or_else(|| corrupt(&r.connector_id, "kind"))?;
        let state =
            ConnectorState::parse(&r.state).ok_or_else(|| corrupt(&r.connector_id, "state"))?;
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
pub(super) type ConfigColumns<'a> = (
    Option<&'a str>,
    Option<String>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a [u8]>,
);

pub(super) fn config_columns(config: &ConnectorConfig) -> ConfigColumns<'_> {
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
