//! The connectors' activity log: recording what happened to their input,
//! and reading it back. Events that record a change are written in the
//! change's own transaction (an accepted e-mail with its document, a pause
//! with the pause); a refusal, which stores nothing else, on its own.

use super::AppState;
use crate::domain::event::clip;
use crate::domain::{Connector, Event, EventReason, EventType, Principal, Timestamp};
use crate::error::Result;
use uuid::Uuid;

/// What the log keeps of an e-mail: envelope and header facts, never its body.
#[derive(Debug, Clone, Copy)]
pub struct MailFacts<'a> {
    pub envelope_from: &'a str,
    pub header_from: Option<&'a str>,
    pub subject: Option<&'a str>,
}

/// The event of an e-mail for one recipient connector.
pub fn email_event(
    app: &AppState,
    connector: &Connector,
    kind: EventType,
    reason: Option<EventReason>,
    smtp_code: u16,
    mail: &MailFacts<'_>,
) -> Event {
    let mut e = Event::new(connector.id, kind, Timestamp::now());
    e.reason = reason;
    e.smtp_code = Some(smtp_code);
    e.envelope_from = Some(clip(mail.envelope_from));
    e.header_from = mail.header_from.map(clip);
    e.subject = mail.subject.map(clip);
    e.recipient = connector
        .config
        .email_hash()
        .map(|h| format!("{h}@{}", app.config.inbox_domain));
    e
}

/// Records that an e-mail was refused for each of `recipients` (or, with
/// [`EventReason::Duplicate`], acknowledged without being stored). The one
/// call the SMTP refusal paths make: nothing else is written, so the event
/// has a transaction of its own. A failure to write it is logged and does
/// not change the reply.
pub async fn email_refused(
    app: &AppState,
    recipients: &[Connector],
    mail: &MailFacts<'_>,
    reason: EventReason,
    smtp_code: u16,
) {
    let kind = if reason == EventReason::Duplicate {
        EventType::EmailAccepted
    } else {
        EventType::EmailRejected
    };
    for connector in recipients {
        let event = email_event(app, connector, kind, Some(reason), smtp_code, mail);
        record(app, &event).await;
    }
}

/// Writes an event on its own; failures are logged, never raised.
pub async fn record(app: &AppState, event: &Event) {
    match app.store.record_event(event).await {
        Ok(coalesced) => counted(event.kind, coalesced),
        Err(e) => {
            tracing::warn!(connector_id = %event.connector_id, kind = event.kind.as_str(), error = %e, "could not record a connector event")
        }
    }
}

/// Counts an event written (here or in another use case's transaction).
pub fn counted(kind: EventType, coalesced: bool) {
    metrics::counter!(
        crate::metrics::EVENTS,
        "type" => kind.as_str(),
        "coalesced" => if coalesced { "true" } else { "false" }
    )
    .increment(1);
}

/// A page of a connector's events, newest first, for anyone who can see
/// the connector.
pub async fn list(
    app: &AppState,
    caller: &Principal,
    connector: Uuid,
    before: Option<Uuid>,
    limit: u32,
) -> Result<Vec<Event>> {
    super::connectors::get(app, caller, connector).await?;
    Ok(app.store.events(connector, before, limit).await?)
}

/// Retention: removes events older than `[events] retention`.
pub async fn expire(app: &AppState, now: Timestamp) -> anyhow::Result<u64> {
    let keep = app.config.events.retention();
    let cutoff = Timestamp::from_micros(now.as_micros() - keep.as_micros() as i64);
    let removed = app.store.delete_events_before(cutoff).await?;
    if removed > 0 {
        tracing::info!(removed, "expired connector events removed");
    }
    Ok(removed)
}
