//! Creating, reading, listing, updating and deleting connectors.

use super::jobs::JobSpec;
use super::AppState;
use crate::domain::connector::{new_email_hash, Sealed};
use crate::domain::{
    Connector, ConnectorConfig, ConnectorState, Description, Label, Principal, Timestamp,
    ValidationError,
};
use crate::error::{Error, Result};
use crate::store::{ConnectorPage, StoreError};
use uuid::Uuid;

/// A validated create request.
#[derive(Debug)]
pub struct NewConnector {
    pub label: Label,
    pub description: Description,
    pub share_with_org: bool,
    pub config: NewConfig,
}

#[derive(Debug)]
pub enum NewConfig {
    Email {
        allowed_emails: Vec<String>,
    },
    InvestmentResearch {
        user_id: String,
        password: String,
        portal: Option<String>,
    },
}

/// A validated update (PUT): every editable field, `allowed_emails` only
/// when the client sent a config.
#[derive(Debug)]
pub struct ConnectorEdit {
    pub label: Label,
    pub description: Description,
    pub share_with_org: bool,
    pub allowed_emails: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct DeleteOptions {
    /// Hard delete: purge documents, then the connector itself.
    pub force: bool,
    /// Also remove the connector's sync-job history.
    pub delete_sync_jobs: bool,
}

/// How many fresh `email_hash` values to try before giving up; with 48 random
/// bits a single collision is already unlikely.
const EMAIL_HASH_ATTEMPTS: usize = 5;

pub async fn create(app: &AppState, owner: &Principal, new: NewConnector) -> Result<Connector> {
    let id = Uuid::now_v7();
    let now = Timestamp::now();
    let mut connector = Connector {
        id,
        user_id: owner.user_id.clone(),
        org_id: owner.org_id.clone(),
        share_with_org: new.share_with_org,
        label: new.label,
        description: new.description,
        config: ConnectorConfig::Email {
            allowed_emails: Vec::new(),
            email_hash: String::new(),
        },
        state: ConnectorState::Active,
        files_count: 0,
        last_sync: None,
        created_at: now,
        updated_at: now,
    };
    match new.config {
        NewConfig::InvestmentResearch {
            user_id,
            password,
            portal,
        } => {
            let portal = app.config.portal(portal.as_deref()).ok_or_else(|| {
                ValidationError::new(
                    "config.portal",
                    match portal {
                        Some(name) => format!("no research portal named {name:?} is configured"),
                        None => "no research portal is configured on this server".into(),
                    },
                )
            })?;
            connector.config = ConnectorConfig::InvestmentResearch {
                user_id,
                portal: portal.name.clone(),
                password: Sealed(app.secret.seal(password.as_bytes(), id.as_bytes())),
            };
            app.store.insert_connector(&connector).await?;
            let first = super::sync::first_sync_at(id, portal.sync_interval(), now);
            app.store.set_next_sync(id, first).await?;
        }
        NewConfig::Email { allowed_emails } => {
            for attempt in 1..=EMAIL_HASH_ATTEMPTS {
                connector.config = ConnectorConfig::Email {
                    allowed_emails: allowed_emails.clone(),
                    email_hash: new_email_hash(),
                };
                match app.store.insert_connector(&connector).await {
                    Err(StoreError::Conflict(_)) if attempt < EMAIL_HASH_ATTEMPTS => continue,
                    other => {
                        other?;
                        break;
                    }
                }
            }
        }
    }
    tracing::info!(connector_id = %id, kind = connector.kind().as_str(), "connector created");
    Ok(connector)
}

/// A connector the caller can see.
pub async fn get(app: &AppState, caller: &Principal, id: Uuid) -> Result<Connector> {
    match app.store.connector(id).await? {
        Some(c) if caller.can_see(&c) => Ok(c),
        _ => Err(Error::ConnectorNotFound),
    }
}

/// A connector the caller owns: anything else is indistinguishable from absent.
async fn get_owned(app: &AppState, caller: &Principal, id: Uuid) -> Result<Connector> {
    match app.store.connector(id).await? {
        Some(c) if caller.owns(&c) => Ok(c),
        _ => Err(Error::ConnectorNotFound),
    }
}

pub async fn list(
    app: &AppState,
    caller: &Principal,
    page: &ConnectorPage,
) -> Result<Vec<Connector>> {
    Ok(app.store.list_connectors(caller, page).await?)
}

/// Applies a PUT. `edit` sees the current connector, so read-only fields
/// sent back can be compared with it; its error type is the caller's.
pub async fn update<E: From<Error>>(
    app: &AppState,
    caller: &Principal,
    id: Uuid,
    edit: impl FnOnce(&Connector) -> Result<ConnectorEdit, E>,
) -> Result<Connector, E> {
    let mut connector = get_owned(app, caller, id).await?;
    if connector.state == ConnectorState::Deleting {
        return Err(Error::ConnectorDeleting.into());
    }
    let change = edit(&connector)?;
    connector.label = change.label;
    connector.description = change.description;
    connector.share_with_org = change.share_with_org;
    if let (Some(new_list), ConnectorConfig::Email { allowed_emails, .. }) =
        (change.allowed_emails, &mut connector.config)
    {
        *allowed_emails = new_list;
    }
    // Strictly later than before, even within one clock tick.
    let now = Timestamp::now().as_micros();
    connector.updated_at = Timestamp::from_micros(now.max(connector.updated_at.as_micros() + 1));
    let written = app
        .store
        .update_connector(&connector)
        .await
        .map_err(Error::from)?;
    if !written {
        // A hard delete won the race since we read it.
        return Err(Error::ConnectorDeleting.into());
    }
    Ok(connector)
}

/// Soft delete (archive) by default; with `force`, the hard delete: the
/// connector turns `deleting` and a durable purge job is recorded in the
/// same transaction. Both are idempotent, and a soft delete of a `deleting`
/// connector changes nothing.
pub async fn delete(
    app: &AppState,
    caller: &Principal,
    id: Uuid,
    options: DeleteOptions,
) -> Result<Connector> {
    let mut connector = get_owned(app, caller, id).await?;
    let now = Timestamp::now();
    if options.force {
        let purge = JobSpec::PurgeConnector { connector_id: id }.new_job(&app.config.jobs);
        if connector.state == ConnectorState::Deleting {
            // Make sure a purge is on its way (one that failed for good is
            // started again; a pending one is left alone).
            app.store.enqueue_job(&purge).await?;
        } else if app.store.begin_hard_delete(id, now, &purge).await? {
            connector.state = ConnectorState::Deleting;
            connector.updated_at = now;
            tracing::info!(connector_id = %id, "hard delete accepted; purge queued");
        } else {
            connector.state = ConnectorState::Deleting; // a concurrent hard delete won
        }
        app.wake_jobs.notify_one();
    } else if connector.state == ConnectorState::Active {
        app.store.archive_connector(id, now).await?;
        connector.state = ConnectorState::Archived;
        connector.updated_at = now;
        tracing::info!(connector_id = %id, "connector archived");
    }
    if options.delete_sync_jobs {
        // A sync still running was just told to stop; it ends `canceled`
        // and stays as the last record.
        let removed = app.store.delete_sync_jobs(id).await?;
        tracing::info!(connector_id = %id, removed, "sync job history deleted");
    }
    // Answered from memory: the purge may already have removed the row.
    Ok(connector)
}
