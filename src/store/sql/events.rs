// The activity log (compiled per backend by `statements!`).

use crate::domain::event::{Event, EventReason, EventType};
use crate::domain::Timestamp;
use crate::store::{EventLog, StoreError, StoreResult};
use async_trait::async_trait;
use uuid::Uuid;

const EVENT_COLUMNS: &str = "event_id, connector_id, type, reason, occurred_at, last_at, count, \
    envelope_from, header_from, subject, recipient, smtp_code, document_ids, sync_job_id, \
    remote_path, message";

#[derive(Debug, sqlx::FromRow)]
struct EventRow {
    event_id: String,
    connector_id: String,
    #[sqlx(rename = "type")]
    kind: String,
    reason: Option<String>,
    occurred_at: i64,
    last_at: i64,
    count: i64,
    envelope_from: Option<String>,
    header_from: Option<String>,
    subject: Option<String>,
    recipient: Option<String>,
    smtp_code: Option<i64>,
    document_ids: String,
    sync_job_id: Option<String>,
    remote_path: Option<String>,
    message: Option<String>,
}

impl TryFrom<EventRow> for Event {
    type Error = StoreError;

    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        let bad = |what: &str| StoreError::Corrupt(format!("event {}: {what}", r.event_id));
        Ok(Event {
            id: Uuid::try_parse(&r.event_id).map_err(|_| bad("id"))?,
            connector_id: Uuid::try_parse(&r.connector_id).map_err(|_| bad("connector"))?,
            kind: EventType::parse(&r.kind).ok_or_else(|| bad("type"))?,
            reason: r
                .reason
                .as_deref()
                .map(|s| EventReason::parse(s).ok_or_else(|| bad("reason")))
                .transpose()?,
            occurred_at: Timestamp::from_micros(r.occurred_at),
            last_at: Timestamp::from_micros(r.last_at),
            count: r.count,
            smtp_code: r.smtp_code.and_then(|c| u16::try_from(c).ok()),
            document_ids: serde_json::from_str(&r.document_ids).map_err(|_| bad("documents"))?,
            sync_job_id: r
                .sync_job_id
                .as_deref()
                .map(Uuid::try_parse)
                .transpose()
                .map_err(|_| bad("sync job"))?,
            envelope_from: r.envelope_from,
            header_from: r.header_from,
            subject: r.subject,
            recipient: r.recipient,
            remote_path: r.remote_path,
            message: r.message,
        })
    }
}

#[async_trait]
impl EventLog for Backend {
    async fn record_event(&self, event: &Event) -> StoreResult<bool> {
        let event = event.clone();
        self.write(move |conn| Box::pin(async move { insert_event(conn, &event).await }))
            .await
    }

    async fn events(
        &self,
        connector: Uuid,
        before: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM connector_events WHERE connector_id = $1 \
             AND ($2 IS NULL OR event_id < $2) ORDER BY event_id DESC LIMIT $3"
        ));
        let rows: Vec<EventRow> = sqlx::query_as(sql)
            .bind(connector.to_string())
            .bind(before.map(|b| b.to_string()))
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(Event::try_from).collect()
    }

    async fn delete_events_before(&self, cutoff: Timestamp) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM connector_events WHERE last_at < $1")
            .bind(cutoff.as_micros())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

/// Writes an event inside the caller's transaction, folding it into an
/// earlier one with the same coalescing key. `true` when folded.
pub(in crate::store) async fn insert_event(conn: &mut Conn, e: &Event) -> StoreResult<bool> {
    let count: i64 = sqlx::query_scalar(
        "INSERT INTO connector_events (event_id, connector_id, type, reason, occurred_at, \
         last_at, count, coalesce_key, envelope_from, header_from, subject, recipient, \
         smtp_code, document_ids, sync_job_id, remote_path, message) \
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
         ON CONFLICT (coalesce_key) DO UPDATE SET count = connector_events.count + 1, \
         last_at = excluded.last_at RETURNING count",
    )
    .bind(e.id.to_string())
    .bind(e.connector_id.to_string())
    .bind(e.kind.as_str())
    .bind(e.reason.map(EventReason::as_str))
    .bind(e.occurred_at.as_micros())
    .bind(e.last_at.as_micros())
    .bind(e.coalesce_key())
    .bind(&e.envelope_from)
    .bind(&e.header_from)
    .bind(&e.subject)
    .bind(&e.recipient)
    .bind(e.smtp_code.map(i64::from))
    .bind(serde_json::to_string(&e.document_ids).expect("strings serialize"))
    .bind(e.sync_job_id.map(|s| s.to_string()))
    .bind(&e.remote_path)
    .bind(&e.message)
    .fetch_one(&mut *conn)
    .await?;
    Ok(count > 1)
}
