-- document_content becomes an ordinary (rowid) table. Its rows are large
-- (the extracted content, often tens of KB), and a WITHOUT ROWID table keeps
-- whole rows in its primary key's b-tree, where SQLite reads the whole of an
-- overflowing row to compare its key: every lookup and every insert read
-- the large rows it passed on the way down. Here the key is a small index
-- beside the rows. Same columns and keys as before.
CREATE TABLE document_content_rows (
    document_id  TEXT PRIMARY KEY REFERENCES documents (document_id) ON DELETE CASCADE,
    content      TEXT NOT NULL,
    profiling    TEXT NOT NULL,
    analytics    TEXT NOT NULL,
    processed_at INTEGER NOT NULL
) STRICT;
INSERT INTO document_content_rows (document_id, content, profiling, analytics, processed_at)
    SELECT document_id, content, profiling, analytics, processed_at FROM document_content;
DROP TABLE document_content;
ALTER TABLE document_content_rows RENAME TO document_content;
