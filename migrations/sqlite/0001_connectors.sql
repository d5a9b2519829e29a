-- Tenancy, API keys and connectors.

CREATE TABLE orgs (
    org_id     TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
    user_id    TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs (org_id),
    created_at INTEGER NOT NULL
) STRICT;

-- Only the SHA-256 of a key is kept; the plain key is shown once.
CREATE TABLE api_keys (
    key_id     TEXT PRIMARY KEY,
    key_hash   TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL REFERENCES users (user_id),
    name       TEXT,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

CREATE TABLE connectors (
    connector_id        TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users (user_id),
    org_id              TEXT NOT NULL REFERENCES orgs (org_id),
    kind                TEXT NOT NULL CHECK (kind IN ('email', 'investment_research')),
    label               TEXT NOT NULL,
    description         TEXT NOT NULL,
    share_with_org      INTEGER NOT NULL CHECK (share_with_org IN (0, 1)),
    state               TEXT NOT NULL CHECK (state IN ('active', 'archived', 'deleting')),
    -- email: inbox id and allowed senders (a JSON array)
    email_hash          TEXT UNIQUE,
    allowed_emails      TEXT,
    -- investment_research: portal login; the password is sealed (AES-256-GCM)
    research_user_id    TEXT,
    portal              TEXT,
    password_sealed     BLOB,
    files_count         INTEGER NOT NULL DEFAULT 0,
    last_sync_at        INTEGER,
    last_sync_status    TEXT,
    last_sync_error_msg TEXT,
    last_sync_count     INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    CHECK ((kind = 'email') = (email_hash IS NOT NULL AND allowed_emails IS NOT NULL)),
    CHECK ((kind = 'investment_research') = (research_user_id IS NOT NULL AND password_sealed IS NOT NULL))
) STRICT;

-- Keyset pagination, newest first: a user's own connectors, and the ones
-- shared with an org.
CREATE INDEX connectors_by_owner ON connectors (user_id, created_at DESC, connector_id DESC);
CREATE INDEX connectors_shared_by_org ON connectors (org_id, created_at DESC, connector_id DESC)
    WHERE share_with_org = 1;
