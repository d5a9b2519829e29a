-- Documents, per-user tags, and the durable job queue.

CREATE TABLE documents (
    document_id      TEXT PRIMARY KEY,  -- 32 uppercase hex
    user_id          TEXT NOT NULL REFERENCES users (user_id),
    org_id           TEXT NOT NULL REFERENCES orgs (org_id),
    connector_id     TEXT REFERENCES connectors (connector_id),
    rp_collection_id TEXT,
    file_name        TEXT NOT NULL,
    raw_size         INTEGER,
    content_type     TEXT,
    request_origin   TEXT NOT NULL CHECK (request_origin IN ('email', 'investment_research', 'file_upload')),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    error_code       TEXT,
    share_with_org   INTEGER NOT NULL CHECK (share_with_org IN (0, 1)),
    published_at     INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    file_metadata    TEXT NOT NULL DEFAULT '{}',
    sha256           TEXT,
    blob_key         TEXT UNIQUE
) STRICT;

-- Visibility ranges (own, shared with the org) in the default sort order,
-- and one index per filter that narrows a list.
CREATE INDEX documents_by_owner ON documents (user_id, created_at DESC, document_id DESC);
CREATE INDEX documents_shared_by_org ON documents (org_id, created_at DESC, document_id DESC)
    WHERE share_with_org = 1;
CREATE INDEX documents_by_connector ON documents (connector_id, created_at DESC) WHERE connector_id IS NOT NULL;
CREATE INDEX documents_by_collection ON documents (rp_collection_id) WHERE rp_collection_id IS NOT NULL;

CREATE TABLE tags (
    tag_id     TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (user_id),
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (user_id, name)
) STRICT;

CREATE TABLE document_tags (
    document_id TEXT NOT NULL REFERENCES documents (document_id) ON DELETE CASCADE,
    tag_id      TEXT NOT NULL REFERENCES tags (tag_id) ON DELETE CASCADE,
    PRIMARY KEY (document_id, tag_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX document_tags_by_tag ON document_tags (tag_id, document_id);

-- Work that must survive restarts. A job is claimed with a lease; an expired
-- lease (crashed worker) makes it claimable again. Finished jobs are deleted;
-- dead ones stay for the operator.
CREATE TABLE jobs (
    job_id           TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('queued', 'running', 'dead')),
    run_at           INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    last_error       TEXT,
    dedupe_key       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX jobs_queued ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE state = 'running';
CREATE UNIQUE INDEX jobs_dedupe ON jobs (dedupe_key) WHERE dedupe_key IS NOT NULL AND state <> 'dead';
