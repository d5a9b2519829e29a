-- Contract §14: web console sessions (see
-- migrations/sqlite/0010_console_sessions.sql for why each column exists).
CREATE TABLE console_sessions (
    session_hash TEXT PRIMARY KEY NOT NULL,
    session_key_id TEXT NOT NULL REFERENCES api_keys (key_id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);

CREATE INDEX console_sessions_last_seen ON console_sessions (last_seen_at);
