-- Contract §13: pausing connectors, their activity log, and what a sync
-- skipped.

-- Set while an active connector is paused (its `state` stays 'active':
-- the effective state is `paused`). Archive and hard delete clear it.
ALTER TABLE connectors ADD COLUMN paused_at INTEGER;

-- What happened to a connector's input. Repeats of the same refusal within
-- a minute share one row (`coalesce_key`, `count`); other events have their
-- own id as key. No message bodies and no secrets are kept.
CREATE TABLE connector_events (
    event_id       TEXT PRIMARY KEY,
    connector_id   TEXT NOT NULL REFERENCES connectors (connector_id),
    type           TEXT NOT NULL,
    reason         TEXT,
    occurred_at    INTEGER NOT NULL,
    last_at        INTEGER NOT NULL,
    count          INTEGER NOT NULL DEFAULT 1,
    coalesce_key   TEXT NOT NULL UNIQUE,
    envelope_from  TEXT,
    header_from    TEXT,
    subject        TEXT,
    recipient      TEXT,
    smtp_code      INTEGER,
    document_ids   TEXT NOT NULL,
    sync_job_id    TEXT,
    remote_path    TEXT,
    message        TEXT
) STRICT;
-- Newest first per connector (event ids are UUIDv7, ordered by time).
CREATE INDEX connector_events_by_connector ON connector_events (connector_id, event_id DESC);
-- Retention deletes the oldest.
CREATE INDEX connector_events_by_age ON connector_events (last_at);

-- Files a sync gave up on: `[{"remote_path", "message"}]`, the first 100.
ALTER TABLE sync_jobs ADD COLUMN errors TEXT NOT NULL DEFAULT '[]';
