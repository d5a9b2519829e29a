//! Research-portal syncs: triggering, reading and canceling sync jobs, and
//! the schedule that starts them every `sync_interval`.

use super::jobs::JobSpec;
use super::AppState;
use crate::domain::{
    Connector, ConnectorConfig, ConnectorKind, ConnectorState, Principal, SyncJob, SyncStatus,
    Timestamp, TriggerMethod, ValidationError,
};
use crate::error::{Error, Result};
use crate::store::SyncStart;
use std::time::Duration;
use uuid::Uuid;

/// Scheduled syncs look back this far before the last successful one, so a
/// file written during a sync is not missed.
const SCHEDULE_OVERLAP: Duration = Duration::from_secs(24 * 3600);
/// Sync jobs listed per connector.
const HISTORY: u32 = 100;

async fn owned_connector(app: &AppState, caller: &Principal, id: Uuid) -> Result<Connector> {
    match app.store.connector(id).await? {
        Some(c) if caller.owns(&c) => Ok(c),
        _ => Err(Error::ConnectorNotFound),
    }
}

/// `POST /connectors/{id}/sync`.
pub async fn trigger(
    app: &AppState,
    caller: &Principal,
    id: Uuid,
    date_limit: String,
) -> Result<SyncJob> {
    let connector = owned_connector(app, caller, id).await?;
    if connector.kind() != ConnectorKind::InvestmentResearch {
        return Err(ValidationError::new(
            "type",
            "only investment_research connectors sync; email connectors receive mail",
        )
        .into());
    }
    start(app, &connector, TriggerMethod::OnDemand, Some(date_limit)).await
}

async fn start(
    app: &AppState,
    connector: &Connector,
    trigger: TriggerMethod,
    date_limit: Option<String>,
) -> Result<SyncJob> {
    match connector.state {
        ConnectorState::Archived => return Err(Error::ConnectorArchived),
        ConnectorState::Deleting => return Err(Error::ConnectorDeleting),
        ConnectorState::Paused => return Err(Error::ConnectorPaused),
        ConnectorState::Active => {}
    }
    let job = SyncJob {
        id: Uuid::now_v7(),
        connector_id: connector.id,
        status: SyncStatus::Pending,
        trigger_method: trigger,
        date_limit,
        created_at: Timestamp::now(),
        started_at: None,
        completed_at: None,
        indexed_document_count: 0,
        skipped_document_count: 0,
        error: None,
        errors: Vec::new(),
    };
    let run = JobSpec::RunSync {
        sync_job_id: job.id,
    }
    .new_job(&app.config.jobs);
    match app.store.create_sync_job(&job, &run).await? {
        SyncStart::Created => {
            app.wake_jobs.notify_one();
            tracing::info!(connector_id = %connector.id, sync_job_id = %job.id, trigger = trigger.as_str(), "sync queued");
            Ok(job)
        }
        SyncStart::InProgress => Err(Error::SyncInProgress),
        SyncStart::Inactive => match app.store.connector(connector.id).await? {
            Some(c) if c.state == ConnectorState::Deleting => Err(Error::ConnectorDeleting),
            Some(c) if c.state == ConnectorState::Paused => Err(Error::ConnectorPaused),
            Some(_) => Err(Error::ConnectorArchived),
            None => Err(Error::ConnectorNotFound),
        },
    }
}

/// A connector's sync jobs, for anyone who can see the connector.
pub async fn list(app: &AppState, caller: &Principal, id: Uuid) -> Result<Vec<SyncJob>> {
    match app.store.connector(id).await? {
        Some(c) if caller.can_see(&c) => Ok(app.store.sync_jobs(id, HISTORY).await?),
        _ => Err(Error::ConnectorNotFound),
    }
}

/// One sync job, visible when its connector is.
pub async fn get(app: &AppState, caller: &Principal, id: Uuid) -> Result<SyncJob> {
    let job = app
        .store
        .sync_job(id)
        .await?
        .ok_or(Error::SyncJobNotFound)?;
    match app.store.connector(job.connector_id).await? {
        Some(c) if caller.can_see(&c) => Ok(job),
        _ => Err(Error::SyncJobNotFound),
    }
}

/// Cancel: a pending job ends at once, a running one is asked to stop.
/// Only the connector's owner may cancel.
pub async fn cancel(app: &AppState, caller: &Principal, id: Uuid) -> Result<SyncJob> {
    let job = app
        .store
        .sync_job(id)
        .await?
        .ok_or(Error::SyncJobNotFound)?;
    match app.store.connector(job.connector_id).await? {
        Some(c) if caller.owns(&c) => {}
        _ => return Err(Error::SyncJobNotFound),
    }
    if job.status.on_cancel().is_none() {
        return Err(Error::SyncJobFinished);
    }
    let job = app
        .store
        .cancel_sync_job(id, Timestamp::now())
        .await?
        .ok_or(Error::SyncJobNotFound)?;
    if job.status.is_finished() && job.status != SyncStatus::Canceled {
        return Err(Error::SyncJobFinished); // it finished while we looked
    }
    Ok(job)
}

/// Spreads first syncs over the interval, so connectors created together
/// do not all sync together.
pub fn first_sync_at(connector: Uuid, interval: Duration, now: Timestamp) -> Timestamp {
    let span = interval.as_micros().max(1) as u64;
    let offset =
        u64::from_le_bytes(connector.as_bytes()[8..16].try_into().expect("8 bytes")) % span;
    Timestamp::from_micros(now.as_micros() + offset as i64)
}

/// Starts the scheduled syncs that are due; returns how many were started.
pub async fn schedule_due(app: &AppState, now: Timestamp) -> anyhow::Result<usize> {
    let mut started = 0;
    for (connector, due) in app.store.due_syncs(now, 100).await? {
        let ConnectorConfig::InvestmentResearch { portal, .. } = &connector.config else {
            continue;
        };
        let interval = app
            .config
            .portals
            .iter()
            .find(|p| &p.name == portal)
            .map_or(Duration::from_secs(3600), |p| p.sync_interval());
        let mut next = due.plus(interval);
        if next <= now {
            next = now.plus(interval); // long downtime: do not replay missed runs
        }
        // Only the replica that moves the schedule starts the sync.
        if !app.store.advance_next_sync(connector.id, due, next).await? {
            continue;
        }
        let since = connector
            .last_sync
            .as_ref()
            .filter(|s| s.status == SyncStatus::Completed.connector_status())
            .map(|s| {
                let from =
                    Timestamp::from_micros(s.at.as_micros() - SCHEDULE_OVERLAP.as_micros() as i64);
                from.to_rfc3339()[..10].to_string()
            });
        match start(app, &connector, TriggerMethod::Scheduled, since).await {
            Ok(_) => started += 1,
            Err(
                Error::SyncInProgress
                | Error::ConnectorArchived
                | Error::ConnectorDeleting
                | Error::ConnectorPaused,
            ) => {}
            Err(e) => return Err(anyhow::anyhow!(e)),
        }
    }
    Ok(started)
}
