-- Ingestion dedupe: a message redelivered to the same connector (same
-- Message-ID, or the same bytes) and each of its attachments are stored once.
ALTER TABLE documents ADD COLUMN dedupe_key TEXT;
CREATE UNIQUE INDEX documents_dedupe ON documents (connector_id, dedupe_key)
    WHERE dedupe_key IS NOT NULL;
