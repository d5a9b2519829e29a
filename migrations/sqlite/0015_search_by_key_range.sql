-- Contract §11, at the cost of the matches only.
-- 1. An org's entries take keys in a range of their own (2^40 wide, in
--    search_fts_orgs; part of this database's full-text index, so SQLite
--    only), and a search is its match within the range: FTS5 seeks there.
--    The org's term is gone from the index; as a phrase of every query it
--    made bm25 count every document of the org, whatever the words.
-- 2. search_documents is small and carries what the visibility rules read
--    (named as in documents), so a search checks them without reading each
--    match's document; the texts are in search_texts, which FTS5 indexes.
--    A trigger keeps the share flag in step with the document's.
-- (Same tables as migrations/postgres/0010_search_entries.sql.)
DROP TRIGGER search_documents_insert;
DROP TRIGGER search_documents_delete;
DROP TRIGGER search_documents_update;
DROP TABLE search_fts;
ALTER TABLE search_documents RENAME TO search_documents_before;

CREATE TABLE search_fts_orgs (
    org_id           TEXT PRIMARY KEY NOT NULL,
    search_org_first INTEGER NOT NULL UNIQUE,
    search_org_last  INTEGER NOT NULL
) STRICT;
INSERT INTO search_fts_orgs (org_id, search_org_first, search_org_last)
    SELECT org_id, n * 1099511627776, n * 1099511627776 + 1099511627775
    FROM (SELECT org_id, ROW_NUMBER() OVER (ORDER BY org_id) AS n
          FROM (SELECT DISTINCT d.org_id FROM search_documents_before s
                JOIN documents d ON d.document_id = s.search_document_id));

CREATE TABLE search_documents (
    search_key     INTEGER PRIMARY KEY NOT NULL,
    document_id    TEXT NOT NULL UNIQUE REFERENCES documents (document_id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL,
    org_id         TEXT NOT NULL,
    share_with_org INTEGER NOT NULL CHECK (share_with_org IN (0, 1)),
    connector_id   TEXT
) STRICT;
CREATE TABLE search_texts (
    search_key   INTEGER PRIMARY KEY NOT NULL
                 REFERENCES search_documents (search_key) ON DELETE CASCADE,
    -- The extracted text, cut after its last indexed word (for highlights).
    search_text  TEXT NOT NULL,
    -- The indexed terms, space-separated, in order.
    search_terms TEXT NOT NULL
) STRICT;

-- Keys in the org's range, in the order the entries were made.
INSERT INTO search_documents (search_key, document_id, user_id, org_id, share_with_org, connector_id)
    SELECT o.search_org_first - 1
               + ROW_NUMBER() OVER (PARTITION BY d.org_id ORDER BY s.search_key),
           d.document_id, d.user_id, d.org_id, d.share_with_org, d.connector_id
    FROM search_documents_before s
    JOIN documents d ON d.document_id = s.search_document_id
    JOIN search_fts_orgs o ON o.org_id = d.org_id;
INSERT INTO search_texts (search_key, search_text, search_terms)
    SELECT n.search_key, s.search_text, s.search_terms
    FROM search_documents_before s JOIN search_documents n ON n.document_id = s.search_document_id;
DROP TABLE search_documents_before;

CREATE VIRTUAL TABLE search_fts USING fts5 (
    search_terms,
    content = 'search_texts',
    content_rowid = 'search_key',
    tokenize = 'ascii',
    prefix = '2 3',
    detail = full
);
INSERT INTO search_fts (search_fts) VALUES ('rebuild');

CREATE TRIGGER search_texts_insert AFTER INSERT ON search_texts BEGIN
    INSERT INTO search_fts (rowid, search_terms) VALUES (new.search_key, new.search_terms);
END;
CREATE TRIGGER search_texts_delete AFTER DELETE ON search_texts BEGIN
    INSERT INTO search_fts (search_fts, rowid, search_terms)
        VALUES ('delete', old.search_key, old.search_terms);
END;
CREATE TRIGGER search_texts_update AFTER UPDATE ON search_texts BEGIN
    INSERT INTO search_fts (search_fts, rowid, search_terms)
        VALUES ('delete', old.search_key, old.search_terms);
    INSERT INTO search_fts (rowid, search_terms) VALUES (new.search_key, new.search_terms);
END;

CREATE TRIGGER search_documents_share AFTER UPDATE OF share_with_org ON documents BEGIN
    UPDATE search_documents SET share_with_org = new.share_with_org
        WHERE document_id = new.document_id;
END;
