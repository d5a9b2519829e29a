-- Research-portal syncs (Elasticsearch's sync-job model) and their schedule.

CREATE TABLE sync_jobs (
    sync_job_id            TEXT PRIMARY KEY,
    connector_id           TEXT NOT NULL REFERENCES connectors (connector_id),
    status                 TEXT NOT NULL CHECK (status IN ('pending', 'in_progress', 'canceling', 'canceled', 'completed', 'error')),
    trigger_method         TEXT NOT NULL CHECK (trigger_method IN ('on_demand', 'scheduled')),
    date_limit             TEXT,
    created_at             INTEGER NOT NULL,
    started_at             INTEGER,
    completed_at           INTEGER,
    indexed_document_count INTEGER NOT NULL DEFAULT 0,
    skipped_document_count INTEGER NOT NULL DEFAULT 0,
    error                  TEXT
) STRICT;
CREATE INDEX sync_jobs_by_connector ON sync_jobs (connector_id, created_at DESC);
-- One sync per connector at a time, enforced by the database.
CREATE UNIQUE INDEX sync_jobs_one_active ON sync_jobs (connector_id)
    WHERE status IN ('pending', 'in_progress', 'canceling');

-- When each research connector's next scheduled sync is due.
ALTER TABLE connectors ADD COLUMN next_sync_at INTEGER;
CREATE INDEX connectors_sync_due ON connectors (next_sync_at)
    WHERE kind = 'investment_research' AND state = 'active';

-- Content dedupe within a connector.
CREATE INDEX documents_by_content ON documents (connector_id, sha256) WHERE connector_id IS NOT NULL;
