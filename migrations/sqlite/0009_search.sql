-- Contract §11: full-text search. One row per searchable (completed)
-- document, written in the transaction that completes it. The terms are
-- made by the application (folded, stemmed), so this database and
-- PostgreSQL index exactly the same terms; FTS5 only splits them on spaces
-- (the `ascii` tokenizer: every non-ASCII character is part of a term).
-- (Same table as migrations/postgres/0005_search.sql, whose index is a
-- `tsvector` column instead of the FTS5 table.)
CREATE TABLE search_documents (
    search_key         INTEGER PRIMARY KEY NOT NULL,
    search_document_id TEXT NOT NULL UNIQUE REFERENCES documents (document_id) ON DELETE CASCADE,
    -- The extracted text, cut after its last indexed word (for highlights).
    search_text        TEXT NOT NULL,
    -- The indexed terms, space-separated, in order.
    search_terms       TEXT NOT NULL
) STRICT;

-- External content: the terms are stored once, in search_documents; the
-- triggers keep the index in step with it, cascaded deletes included.
CREATE VIRTUAL TABLE search_fts USING fts5 (
    search_terms,
    content = 'search_documents',
    content_rowid = 'search_key',
    tokenize = 'ascii',
    prefix = '2 3',
    detail = full
);

CREATE TRIGGER search_documents_insert AFTER INSERT ON search_documents BEGIN
    INSERT INTO search_fts (rowid, search_terms) VALUES (new.search_key, new.search_terms);
END;
CREATE TRIGGER search_documents_delete AFTER DELETE ON search_documents BEGIN
    INSERT INTO search_fts (search_fts, rowid, search_terms)
        VALUES ('delete', old.search_key, old.search_terms);
END;
CREATE TRIGGER search_documents_update AFTER UPDATE ON search_documents BEGIN
    INSERT INTO search_fts (search_fts, rowid, search_terms)
        VALUES ('delete', old.search_key, old.search_terms);
    INSERT INTO search_fts (rowid, search_terms) VALUES (new.search_key, new.search_terms);
END;
