-- Each entry's length in indexed terms (SQLite's ranking reads it; same
-- column as migrations/sqlite/0016_search_length.sql).
ALTER TABLE search_documents ADD COLUMN search_length INTEGER NOT NULL DEFAULT 0;
UPDATE search_documents SET search_length = (
    SELECT CASE WHEN t.search_terms = '' THEN 0
                ELSE length(t.search_terms) - length(replace(t.search_terms, ' ', '')) + 1 END
    FROM search_texts t WHERE t.search_key = search_documents.search_key);
