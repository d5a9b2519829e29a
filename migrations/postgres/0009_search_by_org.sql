-- Contract §11: a search looks only among the caller's org, so what other
-- orgs hold costs it nothing, in time either. Each entry carries its org's
-- term (`domain::search::org_term`: `§` and the org id in hex), stored in
-- its own column and as a lexeme of the vector without a position; a query
-- needs it beside its words, and the rank is of the words alone.
-- (Same column as migrations/sqlite/0014_search_by_org.sql.)
ALTER TABLE search_documents ADD COLUMN search_org TEXT NOT NULL DEFAULT '';
UPDATE search_documents s SET search_org = '§' || encode(convert_to(d.org_id, 'UTF8'), 'hex')
    FROM documents d WHERE d.document_id = s.search_document_id;
UPDATE search_documents SET search_vector =
    search_vector || CAST(quote_literal(search_org) AS tsvector);
