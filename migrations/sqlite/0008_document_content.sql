-- What processing extracted from a document (contract §10): the content
-- blocks, profiling and analytics as JSON, and when. One row per processed
-- document; gone with the document.
CREATE TABLE document_content (
    document_id  TEXT PRIMARY KEY REFERENCES documents (document_id) ON DELETE CASCADE,
    content      TEXT NOT NULL,
    profiling    TEXT NOT NULL,
    analytics    TEXT NOT NULL,
    processed_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
