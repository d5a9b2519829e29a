-- Contract §11: full-text search. (Same table as
-- migrations/sqlite/0009_search.sql; the index is the `tsvector` column and
-- its GIN index here, an FTS5 table there.) The terms and the vector are
-- made by the application, so both databases index exactly the same terms:
-- the vector is cast from its literal, with no text search configuration.
CREATE TABLE search_documents (
    search_key         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    search_document_id TEXT NOT NULL UNIQUE REFERENCES documents (document_id) ON DELETE CASCADE,
    search_text        TEXT NOT NULL,
    search_terms       TEXT NOT NULL,
    search_vector      TSVECTOR NOT NULL
);
CREATE INDEX search_documents_vector ON search_documents USING GIN (search_vector);
