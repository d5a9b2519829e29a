-- Contract §13: pausing connectors, their activity log, and what a sync
-- skipped. (Same schema as migrations/sqlite/0007_connector_control.sql.)

ALTER TABLE connectors ADD COLUMN paused_at BIGINT;

CREATE TABLE connector_events (
    event_id       TEXT PRIMARY KEY,
    connector_id   TEXT NOT NULL REFERENCES connectors (connector_id),
    type           TEXT NOT NULL,
    reason         TEXT,
    occurred_at    BIGINT NOT NULL,
    last_at        BIGINT NOT NULL,
    count          BIGINT NOT NULL DEFAULT 1,
    coalesce_key   TEXT NOT NULL UNIQUE,
    envelope_from  TEXT,
    header_from    TEXT,
    subject        TEXT,
    recipient      TEXT,
    smtp_code      BIGINT,
    document_ids   TEXT NOT NULL,
    sync_job_id    TEXT,
    remote_path    TEXT,
    message        TEXT
);
CREATE INDEX connector_events_by_connector ON connector_events (connector_id, event_id DESC);
CREATE INDEX connector_events_by_age ON connector_events (last_at);

ALTER TABLE sync_jobs ADD COLUMN errors TEXT NOT NULL DEFAULT '[]';
