-- Lists filtered by a tag walk the tag's documents newest first (issue:
-- lists that do not care about size): a link carries its document's
-- `created_at` (set once, never changed), so a tag few visible documents
-- carry is not looked for among all of them. The org's users are found by
-- org, to know whose tags a viewer's filter can mean. The shared range also
-- holds each document's owner, so a page of keys is read from the index
-- alone. (Same as migrations/postgres/0008_tag_walk.sql.)
ALTER TABLE document_tags ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
UPDATE document_tags SET created_at =
    (SELECT d.created_at FROM documents d WHERE d.document_id = document_tags.document_id);
DROP INDEX document_tags_by_tag;
CREATE INDEX document_tags_by_tag ON document_tags (tag_id, created_at DESC, document_id DESC);
CREATE INDEX users_by_org ON users (org_id);
DROP INDEX documents_shared_by_org;
CREATE INDEX documents_shared_by_org ON documents (org_id, created_at DESC, document_id DESC, user_id)
    WHERE share_with_org = 1;
