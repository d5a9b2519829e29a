-- Lists whose filter the visibility ranges alone cannot narrow (issue:
-- lists that do not care about size). A connector's documents in the
-- default order, ties included, so a connector filter walks that connector
-- alone; and the visibility ranges per origin, so an origin that few of
-- the visible documents have is not looked for among all of them.
-- (Same indexes as migrations/postgres/0007_list_indexes.sql.)
DROP INDEX documents_by_connector;
CREATE INDEX documents_by_connector ON documents (connector_id, created_at DESC, document_id DESC)
    WHERE connector_id IS NOT NULL;
CREATE INDEX documents_by_owner_origin
    ON documents (user_id, request_origin, created_at DESC, document_id DESC);
CREATE INDEX documents_shared_by_org_origin
    ON documents (org_id, request_origin, created_at DESC, document_id DESC)
    WHERE share_with_org = 1;
