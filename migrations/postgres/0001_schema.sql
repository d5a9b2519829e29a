-- The whole schema for PostgreSQL (the same shape as the SQLite migrations).

CREATE TABLE orgs (
    org_id     TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    user_id    TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs (org_id),
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    key_id     TEXT PRIMARY KEY,
    key_hash   TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL REFERENCES users (user_id),
    name       TEXT,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE connectors (
    connector_id        TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users (user_id),
    org_id              TEXT NOT NULL REFERENCES orgs (org_id),
    kind                TEXT NOT NULL CHECK (kind IN ('email', 'investment_research')),
    label               TEXT NOT NULL,
    description         TEXT NOT NULL,
    share_with_org      BOOLEAN NOT NULL,
    state               TEXT NOT NULL CHECK (state IN ('active', 'archived', 'deleting')),
    email_hash          TEXT UNIQUE,
    allowed_emails      TEXT,
    research_user_id    TEXT,
    portal              TEXT,
    password_sealed     BYTEA,
    files_count         BIGINT NOT NULL DEFAULT 0,
    last_sync_at        BIGINT,
    last_sync_status    TEXT,
    last_sync_error_msg TEXT,
    last_sync_count     BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    next_sync_at        BIGINT,
    CHECK ((kind = 'email') = (email_hash IS NOT NULL AND allowed_emails IS NOT NULL)),
    CHECK ((kind = 'investment_research') = (research_user_id IS NOT NULL AND password_sealed IS NOT NULL))
);
CREATE INDEX connectors_by_owner ON connectors (user_id, created_at DESC, connector_id DESC);
CREATE INDEX connectors_shared_by_org ON connectors (org_id, created_at DESC, connector_id DESC)
    WHERE share_with_org;
CREATE INDEX connectors_sync_due ON connectors (next_sync_at)
    WHERE kind = 'investment_research' AND state = 'active';

CREATE TABLE documents (
    document_id      TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (user_id),
    org_id           TEXT NOT NULL REFERENCES orgs (org_id),
    connector_id     TEXT REFERENCES connectors (connector_id),
    rp_collection_id TEXT,
    file_name        TEXT NOT NULL,
    raw_size         BIGINT,
    content_type     TEXT,
    request_origin   TEXT NOT NULL CHECK (request_origin IN ('email', 'investment_research', 'file_upload')),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    error_code       TEXT,
    share_with_org   BOOLEAN NOT NULL,
    published_at     BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    file_metadata    TEXT NOT NULL DEFAULT '{}',
    sha256           TEXT,
    blob_key         TEXT UNIQUE,
    dedupe_key       TEXT
);
CREATE INDEX documents_by_owner ON documents (user_id, created_at DESC, document_id DESC);
CREATE INDEX documents_shared_by_org ON documents (org_id, created_at DESC, document_id DESC)
    WHERE share_with_org;
CREATE INDEX documents_by_connector ON documents (connector_id, created_at DESC) WHERE connector_id IS NOT NULL;
CREATE INDEX documents_by_collection ON documents (rp_collection_id) WHERE rp_collection_id IS NOT NULL;
CREATE UNIQUE INDEX documents_dedupe ON documents (connector_id, dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX documents_by_content ON documents (connector_id, sha256) WHERE connector_id IS NOT NULL;

CREATE TABLE tags (
    tag_id     TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (user_id),
    name       TEXT NOT NULL,
    automatic  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (user_id, name)
);

CREATE TABLE document_tags (
    document_id TEXT NOT NULL REFERENCES documents (document_id) ON DELETE CASCADE,
    tag_id      TEXT NOT NULL REFERENCES tags (tag_id) ON DELETE CASCADE,
    PRIMARY KEY (document_id, tag_id)
);
CREATE INDEX document_tags_by_tag ON document_tags (tag_id, document_id);

CREATE TABLE jobs (
    job_id           TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('queued', 'running', 'dead')),
    run_at           BIGINT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    max_attempts     BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    last_error       TEXT,
    dedupe_key       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX jobs_queued ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE state = 'running';
CREATE UNIQUE INDEX jobs_dedupe ON jobs (dedupe_key) WHERE dedupe_key IS NOT NULL AND state <> 'dead';

CREATE TABLE sync_jobs (
    sync_job_id            TEXT PRIMARY KEY,
    connector_id           TEXT NOT NULL REFERENCES connectors (connector_id),
    status                 TEXT NOT NULL CHECK (status IN ('pending', 'in_progress', 'canceling', 'canceled', 'completed', 'error')),
    trigger_method         TEXT NOT NULL CHECK (trigger_method IN ('on_demand', 'scheduled')),
    date_limit             TEXT,
    created_at             BIGINT NOT NULL,
    started_at             BIGINT,
    completed_at           BIGINT,
    indexed_document_count BIGINT NOT NULL DEFAULT 0,
    skipped_document_count BIGINT NOT NULL DEFAULT 0,
    error                  TEXT
);
CREATE INDEX sync_jobs_by_connector ON sync_jobs (connector_id, created_at DESC);
CREATE UNIQUE INDEX sync_jobs_one_active ON sync_jobs (connector_id)
    WHERE status IN ('pending', 'in_progress', 'canceling');
