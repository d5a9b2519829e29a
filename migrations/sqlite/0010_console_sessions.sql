-- Contract §14: web console sessions. Only the SHA-256 of the session id
-- is stored, so a copy of the database signs nobody in. A session belongs
-- to the API key that opened it: revoking the key ends it (the lookup
-- joins the unrevoked key). (Same table as
-- migrations/postgres/0006_console_sessions.sql.)
CREATE TABLE console_sessions (
    session_hash TEXT PRIMARY KEY NOT NULL,
    session_key_id TEXT NOT NULL REFERENCES api_keys (key_id) ON DELETE CASCADE,
    -- The token every state-changing form carries (CSRF).
    csrf_token   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    -- Moved forward at most every few minutes; idle expiry counts from it.
    last_seen_at INTEGER NOT NULL
) STRICT;

CREATE INDEX console_sessions_last_seen ON console_sessions (last_seen_at);
