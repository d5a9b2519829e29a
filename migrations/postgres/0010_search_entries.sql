-- Contract §11, at the cost of the matches only: search_documents is small
-- and carries what the visibility rules read (named as in documents), so a
-- search checks them without reading each match's document; the texts move
-- to search_texts. A trigger keeps the share flag in step with the
-- document's. The org stays a lexeme of the vector (SQLite narrows by key
-- range instead: its search_fts_orgs is part of its full-text index).
-- (Same tables as migrations/sqlite/0015_search_by_key_range.sql.)
CREATE TABLE search_texts (
    search_key   BIGINT PRIMARY KEY REFERENCES search_documents (search_key) ON DELETE CASCADE,
    search_text  TEXT NOT NULL,
    search_terms TEXT NOT NULL
);
INSERT INTO search_texts (search_key, search_text, search_terms)
    SELECT search_key, search_text, search_terms FROM search_documents;

ALTER TABLE search_documents DROP COLUMN search_text;
ALTER TABLE search_documents DROP COLUMN search_terms;
ALTER TABLE search_documents DROP COLUMN search_org;
ALTER TABLE search_documents RENAME COLUMN search_document_id TO document_id;
ALTER TABLE search_documents ADD COLUMN user_id TEXT;
ALTER TABLE search_documents ADD COLUMN org_id TEXT;
ALTER TABLE search_documents ADD COLUMN share_with_org BOOLEAN;
ALTER TABLE search_documents ADD COLUMN connector_id TEXT;
UPDATE search_documents s
    SET user_id = d.user_id, org_id = d.org_id, share_with_org = d.share_with_org,
        connector_id = d.connector_id
    FROM documents d WHERE d.document_id = s.document_id;
ALTER TABLE search_documents ALTER COLUMN user_id SET NOT NULL;
ALTER TABLE search_documents ALTER COLUMN org_id SET NOT NULL;
ALTER TABLE search_documents ALTER COLUMN share_with_org SET NOT NULL;

CREATE FUNCTION search_documents_share() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE search_documents SET share_with_org = NEW.share_with_org
        WHERE document_id = NEW.document_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER search_documents_share AFTER UPDATE OF share_with_org ON documents
    FOR EACH ROW EXECUTE FUNCTION search_documents_share();
