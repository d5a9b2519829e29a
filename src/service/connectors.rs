//! Creating, reading, listing, updating and deleting connectors.

use super::jobs::JobSpec;
use super::AppState;
use crate::config::Config;
use crate::domain::connector::{check_allowed_entries, check_research_login};
use crate::domain::connector::{new_email_hash, Sealed};
use crate::domain::{
    Connector, ConnectorConfig, ConnectorState, Description, Event, EventType, Label, Principal,
    Timestamp, ValidationError,
};
use crate::error::{Error, Result};
use crate::store::{ConnectorPage, StoreError};
use serde_json::{Map, Value};
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
        /// A configured portal's name.
        portal: String,
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

fn unknown_portal(name: Option<&str>) -> ValidationError {
    ValidationError::new(
        "config.portal",
        match name {
            Some(name) => format!("no research portal named {name:?} is configured"),
            None => "no research portal is configured on this server".into(),
        },
    )
}

/// The create rules, once: every problem of a create body (field paths
/// such as `config.allowed_emails[2]`, in the body's order), or the
/// connector it describes. Create answers the first problem;
/// `POST /connectors/validate` lists them all.
pub fn check_new(
    config: &Config,
    body: &Map<String, Value>,
) -> std::result::Result<NewConnector, Vec<ValidationError>> {
    let mut problems = Vec::new();
    const TOP: [&str; 5] = ["type", "label", "description", "share_with_org", "config"];
    let kind = match body.get("type") {
        None => {
            problems.push(ValidationError::new("type", "missing field"));
            None
        }
        Some(v) => {
            let kind = v.as_str().and_then(crate::domain::ConnectorKind::parse);
            if kind.is_none() {
                problems.push(ValidationError::new(
                    "type",
                    "must be one of: email, investment_research",
                ));
            }
            kind
        }
    };
    let label = match body.get("label") {
        None => {
            problems.push(ValidationError::new("label", "missing field"));
            None
        }
        Some(Value::String(raw)) => Label::parse(raw).map_err(|e| problems.push(e)).ok(),
        Some(_) => {
            problems.push(ValidationError::new("label", "must be a string"));
            None
        }
    };
    let description = match body.get("description") {
        None | Some(Value::Null) => Some(Description::default()),
        Some(Value::String(raw)) => Description::parse(Some(raw))
            .map_err(|e| problems.push(e))
            .ok(),
        Some(_) => {
            problems.push(ValidationError::new("description", "must be a string"));
            None
        }
    };
    let share_with_org = match body.get("share_with_org") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            problems.push(ValidationError::new(
                "share_with_org",
                "must be true or false",
            ));
            false
        }
    };
    let new_config = match (body.get("config"), kind) {
        (None, _) => {
            problems.push(ValidationError::new("config", "missing field"));
            None
        }
        (Some(Value::Object(c)), Some(kind)) => match check_config(config, kind, c) {
            Ok(c) => Some(c),
            Err(more) => {
                problems.extend(more);
                None
            }
        },
        (Some(Value::Object(_)), None) => None, // its type is unknown
        (Some(_), _) => {
            problems.push(ValidationError::new("config", "must be an object"));
            None
        }
    };
    for key in body.keys().filter(|k| !TOP.contains(&k.as_str())) {
        problems.push(ValidationError::new(key.as_str(), "unknown field"));
    }
    match (label, description, new_config) {
        (Some(label), Some(description), Some(config)) if problems.is_empty() => Ok(NewConnector {
            label,
            description,
            share_with_org,
            config,
        }),
        _ => Err(problems),
    }
}

/// A create body's `config` for a connector of `kind`.
fn check_config(
    config: &Config,
    kind: crate::domain::ConnectorKind,
    c: &Map<String, Value>,
) -> std::result::Result<NewConfig, Vec<ValidationError>> {
    use crate::domain::ConnectorKind;
    let mut problems = Vec::new();
    let known: &[&str] = match kind {
        ConnectorKind::Email => &["allowed_emails"],
        ConnectorKind::InvestmentResearch => &["user_id", "user_password", "portal"],
    };
    for key in c.keys() {
        if known.contains(&key.as_str()) {
            continue;
        }
        let message = if kind == ConnectorKind::Email && (key == "email_hash" || key == "email") {
            "is generated by the server and cannot be sent on create"
        } else {
            "unknown field"
        };
        problems.push(ValidationError::new(format!("config.{key}"), message));
    }
    let string = |key: &str, problems: &mut Vec<ValidationError>| -> Option<String> {
        match c.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            None => {
                problems.push(ValidationError::new(
                    format!("config.{key}"),
                    "missing field",
                ));
                None
            }
            // Never echo what was sent, a password least of all.
            Some(_) => {
                problems.push(ValidationError::new(
                    format!("config.{key}"),
                    "must be a non-empty string",
                ));
                None
            }
        }
    };
    let checked = match kind {
        ConnectorKind::Email => match c.get("allowed_emails") {
            None => {
                problems.push(ValidationError::new(
                    "config.allowed_emails",
                    "missing field",
                ));
                None
            }
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if !item.is_string() {
                        problems.push(ValidationError::new(
                            format!("config.allowed_emails[{i}]"),
                            "must be a string",
                        ));
                    }
                }
                let strings = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| item.as_str().map(|s| (i, s)));
                match check_allowed_entries(items.len(), strings) {
                    Ok(allowed_emails) => Some(NewConfig::Email { allowed_emails }),
                    Err(more) => {
                        problems.extend(more);
                        None
                    }
                }
            }
            Some(_) => {
                problems.push(ValidationError::new(
                    "config.allowed_emails",
                    "must be an array of addresses",
                ));
                None
            }
        },
        ConnectorKind::InvestmentResearch => {
            let user_id = string("user_id", &mut problems);
            let password = string("user_password", &mut problems);
            let portal = match c.get("portal") {
                None | Some(Value::Null) => config
                    .portal(None)
                    .map(|p| p.name.clone())
                    .ok_or_else(|| unknown_portal(None)),
                Some(Value::String(name)) => config
                    .portal(Some(name))
                    .map(|p| p.name.clone())
                    .ok_or_else(|| unknown_portal(Some(name))),
                Some(_) => Err(ValidationError::new("config.portal", "must be a string")),
            }
            .map_err(|e| problems.push(e))
            .ok();
            match (user_id, password) {
                (Some(u), Some(p)) => match check_research_login(&u, &p) {
                    Ok((user_id, password)) => portal.map(|portal| NewConfig::InvestmentResearch {
                        user_id,
                        password,
                        portal,
                    }),
                    Err(more) => {
                        // Login problems come before the portal's.
                        let at = problems
                            .iter()
                            .position(|p| p.field == "config.portal")
                            .unwrap_or(problems.len());
                        problems.splice(at..at, more);
                        None
                    }
                },
                _ => None,
            }
        }
    };
    match checked {
        Some(config) if problems.is_empty() => Ok(config),
        _ => Err(problems),
    }
}

/// `test_connection`: logs in to the connector's portal and lists its root
/// within the portal's `connect_timeout`. The problem, if any, is reported
/// on the field `connection`, never holding the password.
pub async fn test_connection(app: &AppState, new: &NewConnector) -> Option<ValidationError> {
    let NewConfig::InvestmentResearch {
        user_id,
        password,
        portal,
    } = &new.config
    else {
        return None;
    };
    let portal = app.config.portal(Some(portal))?;
    let attempt = async {
        let mut session = crate::portals::connect(portal, user_id, password).await?;
        let listed = session
            .list(crate::portals::WalkLimits {
                max_depth: 1,
                max_entries: 100_000,
            })
            .await;
        session.close().await;
        listed.map(|_| ())
    };
    let outcome = match tokio::time::timeout(portal.connect_timeout(), attempt).await {
        Ok(Ok(())) => return None,
        Ok(Err(e)) => e.to_string(),
        Err(_) => {
            crate::portals::PortalError::Timeout("connecting, logging in and listing").to_string()
        }
    };
    let message = if password.is_empty() {
        outcome
    } else {
        outcome.replace(password.as_str(), "(redacted)")
    };
    tracing::info!(portal = %portal.name, problem = %message, "portal connection test failed");
    Some(ValidationError::new("connection", message))
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
            let portal = app
                .config
                .portal(Some(&portal))
                .ok_or_else(|| unknown_portal(Some(&portal)))?;
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
    } else if matches!(
        connector.state,
        ConnectorState::Active | ConnectorState::Paused
    ) {
        let event = Event::new(id, EventType::Archived, now);
        app.store.archive_connector(id, now, &event).await?;
        super::events::counted(event.kind, false);
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

/// Pause (`paused: true`) or resume: owner only, idempotent. A paused
/// connector ingests nothing (its inbox answers 451 so senders retry; no
/// sync starts and a running one is canceled) until it is resumed.
pub async fn set_paused(
    app: &AppState,
    caller: &Principal,
    id: Uuid,
    paused: bool,
) -> Result<Connector> {
    let connector = get_owned(app, caller, id).await?;
    let (from, to, kind) = if paused {
        (
            ConnectorState::Active,
            ConnectorState::Paused,
            EventType::Paused,
        )
    } else {
        (
            ConnectorState::Paused,
            ConnectorState::Active,
            EventType::Resumed,
        )
    };
    match connector.state {
        ConnectorState::Archived => return Err(Error::ConnectorArchived),
        ConnectorState::Deleting => return Err(Error::ConnectorDeleting),
        s if s == to => return Ok(connector),
        _ => {}
    }
    debug_assert_eq!(connector.state, from);
    let now = Timestamp::now();
    let event = Event::new(id, kind, now);
    if app.store.set_paused(id, paused, now, &event).await? {
        super::events::counted(kind, false);
        tracing::info!(connector_id = %id, state = to.as_str(), "connector {}", if paused { "paused" } else { "resumed" });
    }
    // As it is now: a concurrent pause, resume, archive or delete may have won.
    let now = get_owned(app, caller, id).await?;
    match now.state {
        ConnectorState::Archived => Err(Error::ConnectorArchived),
        ConnectorState::Deleting => Err(Error::ConnectorDeleting),
        _ => Ok(now),
    }
}
