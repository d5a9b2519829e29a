-- Contract §11: a search looks only among the caller's org, so what other
-- orgs hold costs it nothing, in time either. Each entry carries its org's
-- term (`domain::search::org_term`: `§` and the org id in hex) in a column
-- of its own, which ranking weighs 0; a query needs it beside its words.
-- An FTS5 table takes no new column: it is made again, with the same
-- triggers, and rebuilt from the entries.
-- (Same column as migrations/postgres/0009_search_by_org.sql.)
DROP TRIGGER search_documents_insert;
DROP TRIGGER search_documents_delete;
DROP TRIGGER search_documents_update;
DROP TABLE search_fts;

ALTER TABLE search_documents ADD COLUMN search_org TEXT NOT NULL DEFAULT '';
UPDATE search_documents SET search_org = '§' || lower(hex(
    (SELECT d.org_id FROM documents d WHERE d.document_id = search_documents.search_document_id)));

CREATE VIRTUAL TABLE search_fts USING fts5 (
    search_terms,
    search_org,
    content = 'search_documents',
    content_rowid = 'search_key',
    tokenize = 'ascii',
    prefix = '2 3',
    detail = full
);
INSERT INTO search_fts (search_fts) VALUES ('rebuild');

CREATE TRIGGER search_documents_insert AFTER INSERT ON search_documents BEGIN
    INSERT INTO search_fts (rowid, search_terms, search_org)
        VALUES (new.search_key, new.search_terms, new.search_org);
END;
CREATE TRIGGER search_documents_delete AFTER DELETE ON search_documents BEGIN
    INSERT INTO search_fts (search_fts, rowid, search_terms, search_org)
        VALUES ('delete', old.search_key, old.search_terms, old.search_org);
END;
CREATE TRIGGER search_documents_update AFTER UPDATE ON search_documents BEGIN
    INSERT INTO search_fts (search_fts, rowid, search_terms, search_org)
        VALUES ('delete', old.search_key, old.search_terms, old.search_org);
    INSERT INTO search_fts (rowid, search_terms, search_org)
        VALUES (new.search_key, new.search_terms, new.search_org);
END;
