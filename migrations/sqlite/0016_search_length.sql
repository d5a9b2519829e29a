-- Each entry's length in indexed terms, beside what the visibility rules
-- read: the ranking function takes it from the row the search reads
-- anyway instead of looking it up in FTS5's docsize table, a B-tree seek
-- per match. The terms are space-separated, one FTS5 token each.
-- (Same column as migrations/postgres/0011_search_length.sql.)
ALTER TABLE search_documents ADD COLUMN search_length INTEGER NOT NULL DEFAULT 0;
UPDATE search_documents SET search_length = (
    SELECT CASE WHEN t.search_terms = '' THEN 0
                ELSE length(t.search_terms) - length(replace(t.search_terms, ' ', '')) + 1 END
    FROM search_texts t WHERE t.search_key = search_documents.search_key);
