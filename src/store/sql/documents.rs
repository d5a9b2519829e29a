// Documents (compiled per backend by `statements!`).

use super::connectors::lock_connector;
use super::jobs::{bind_new_job, insert_job};
use super::search::{index_document_in, write_index_entry};
use super::tags::ensure_tags_in;
use super::visibility::{visible_matches, visible_tagged, visible_union, Walk};
use crate::domain::connector::allows_sender;
use crate::domain::search::{compile, org_term, SearchQuery, TextTokens};
use crate::domain::{Document, DocumentId, DocumentStatus, Principal, Tag, Timestamp};
use crate::store::sql::rows::{
    tagged_document, DocumentRow, TagRow, DOCUMENT_BY_ID, DOCUMENT_COLUMNS, TAGS_OF_DOCUMENT,
    TAG_COLUMNS,
};
use crate::store::sql::SearchRank;
use crate::store::{
    DocumentQuery, DocumentSort, DocumentStore, Ingest, Ingested, NewJob, Ownership, Processed,
    ProcessedContent, ReprocessQuery, SortKey, StoreError, StoreResult,
};
use async_trait::async_trait;
use sqlx::QueryBuilder;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Most values one `IN (…)` list binds.
const IN_LIST: usize = 500;

#[async_trait]
impl DocumentStore for Backend {
    async fn insert_document(
        &self,
        doc: &Document,
        user_tags: &[String],
        auto_tags: &[String],
    ) -> StoreResult<Document> {
        let (doc, user_tags, auto_tags) = (doc.clone(), user_tags.to_vec(), auto_tags.to_vec());
        self.write(move |conn| {
            Box::pin(
                async move { insert_document_in(conn, &doc, &user_tags, &auto_tags, None).await },
            )
        })
        .await
    }

    async fn insert_ingested(&self, ingest: &Ingest<'_>) -> StoreResult<Ingested> {
        let doc = ingest.doc.clone();
        let auto_tags = ingest.auto_tags.to_vec();
        let dedupe_key = ingest.dedupe_key.to_string();
        let follow_ups = ingest.follow_ups.to_vec();
        let event = ingest.event.cloned();
        let also_archived = ingest.also_archived;
        let senders: Option<Vec<String>> = ingest
            .senders
            .map(|s| s.iter().map(|s| s.to_string()).collect());
        self.write(move |conn| {
            Box::pin(async move {
                let senders: Option<Vec<&str>> = senders
                    .as_ref()
                    .map(|s| s.iter().map(String::as_str).collect());
                let ingest = Ingest {
                    doc: &doc,
                    auto_tags: &auto_tags,
                    dedupe_key: &dedupe_key,
                    follow_ups: &follow_ups,
                    also_archived,
                    senders: senders.as_deref(),
                    event: event.as_ref(),
                };
                ingest_in(conn, &ingest).await
            })
        })
        .await
    }

    async fn ingested(
        &self,
        connector: Uuid,
        dedupe_key: Option<&str>,
        sha256: Option<&str>,
    ) -> StoreResult<bool> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT document_id FROM documents WHERE connector_id = $1 AND dedupe_key = $2 \
             UNION ALL SELECT document_id FROM documents WHERE connector_id = $1 AND sha256 = $3 \
             LIMIT 1",
        )
        .bind(connector.to_string())
        .bind(dedupe_key)
        .bind(sha256)
        .fetch_optional(self.pool())
        .await?;
        Ok(found.is_some())
    }

    async fn document(&self, id: &DocumentId) -> StoreResult<Option<Document>> {
        self.document_by_id(id.as_str()).await
    }

    async fn list_documents(
        &self,
        viewer: &Principal,
        query: &DocumentQuery,
    ) -> StoreResult<Vec<Document>> {
        let tagged = self.tag_walk(viewer, query, None).await?;
        if tagged.as_ref().is_some_and(Vec::is_empty) {
            return Ok(vec![]);
        }
        self.documents_with_tags(list_query("", viewer, query, None, tagged.as_deref()))
            .await
    }

    async fn explain_document_list(
        &self,
        viewer: &Principal,
        query: &DocumentQuery,
        search: Option<&SearchQuery>,
    ) -> StoreResult<Vec<String>> {
        use sqlx::Row;
        let (prefix, column) = DIALECT.explain;
        let tagged = self.tag_walk(viewer, query, search).await?;
        if tagged.as_ref().is_some_and(Vec::is_empty) {
            return Ok(vec![]);
        }
        let rows = list_query(prefix, viewer, query, search, tagged.as_deref())
            .build()
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get::<String, _>(column))
            .collect::<Result<_, _>>()?)
    }

    async fn attach_upload(
        &self,
        id: &DocumentId,
        blob_key: &str,
        at: Timestamp,
        process: &NewJob,
    ) -> StoreResult<bool> {
        // The bytes are stored: the document moves to `processing` and its
        // job is queued together, or neither (it was not pending). In the
        // next group commit (SQLite), with the other uploads' writes.
        let (id, blob_key, process) = (id.clone(), blob_key.to_string(), process.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE documents SET status = 'processing', blob_key = $1, updated_at = $2 \
                     WHERE document_id = $3 AND status = 'pending'",
                )
                .bind(&blob_key)
                .bind(at.as_micros())
                .bind(id.as_str())
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                insert_job(conn, &process, at).await?;
                Ok(true)
            })
        })
        .await
    }

    async fn record_processing(
        &self,
        id: &DocumentId,
        p: Processed,
        at: Timestamp,
    ) -> StoreResult<()> {
        // In the next group commit (SQLite): a transaction of its own would
        // wait for the write lock, and keep ingestion waiting for it, once
        // per processed document. What the write needs computed is computed
        // first, off the async workers and off that one writer.
        let id = id.clone();
        let prepared = tokio::task::spawn_blocking(move || PreparedProcessing::new(p))
            .await
            .map_err(|e| StoreError::Unavailable(format!("preparing the write failed: {e}")))?;
        self.write(move |conn| {
            Box::pin(async move { record_processing_in(conn, &id, prepared, at).await })
        })
        .await
    }

    async fn processed_content(&self, id: &DocumentId) -> StoreResult<Option<ProcessedContent>> {
        let row: Option<(String, String, String, i64)> = sqlx::query_as(
            "SELECT content, profiling, analytics, processed_at FROM document_content \
             WHERE document_id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(self.pool())
        .await?;
        let Some((content, profiling, analytics, at)) = row else {
            return Ok(None);
        };
        let json = |s: &str| {
            serde_json::from_str(s)
                .map_err(|e| StoreError::Corrupt(format!("content of document {id}: {e}")))
        };
        Ok(Some(ProcessedContent {
            content: json(&content)?,
            profiling: json(&profiling)?,
            analytics: json(&analytics)?,
            processed_at: Timestamp::from_micros(at),
        }))
    }

    async fn reprocess_candidates(&self, q: &ReprocessQuery) -> StoreResult<Vec<DocumentId>> {
        let mut b: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT d.document_id FROM documents d LEFT JOIN document_content c \
             ON c.document_id = d.document_id WHERE d.status = 'completed' \
             AND d.blob_key IS NOT NULL AND (c.document_id IS NULL",
        );
        if let Some(before) = q.processed_before {
            b.push(" OR c.processed_at < ")
                .push_bind(before.as_micros());
        }
        b.push(")");
        if let Some(connector) = q.connector {
            b.push(" AND d.connector_id = ")
                .push_bind(connector.to_string());
        }
        if let Some(after) = &q.after {
            b.push(" AND d.document_id > ")
                .push_bind(after.as_str().to_string());
        }
        b.push(" ORDER BY d.document_id LIMIT ")
            .push_bind(i64::from(q.limit));
        let ids: Vec<String> = b.build_query_scalar().fetch_all(self.pool()).await?;
        ids.into_iter()
            .map(|id| {
                DocumentId::parse(&id)
                    .ok_or_else(|| StoreError::Corrupt(format!("document id {id}")))
            })
            .collect()
    }

    async fn queue_reprocessing(
        &self,
        id: &DocumentId,
        job: &NewJob,
        at: Timestamp,
    ) -> StoreResult<bool> {
        // One statement: a job only for a document that is still completed,
        // and none while one for it is pending (its dedupe key is unique
        // among jobs that are not dead).
        let done = bind_new_job(
            sqlx::query(
                "INSERT INTO jobs (job_id, kind, payload, state, run_at, attempts, \
                 max_attempts, dedupe_key, created_at, updated_at) \
                 SELECT $1, $2, $3, 'queued', $4, 0, $5, $6, $7, $7 WHERE EXISTS \
                 (SELECT 1 FROM documents WHERE document_id = $8 AND status = 'completed') \
                 ON CONFLICT DO NOTHING",
            ),
            job,
            at,
        )
        .bind(id.as_str())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn expire_uploads(
        &self,
        registered_before: Timestamp,
        error_code: &str,
        at: Timestamp,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE documents SET status = 'failed', error_code = $1, updated_at = $2 \
             WHERE status = 'pending' AND created_at < $3",
        )
        .bind(error_code)
        .bind(at.as_micros())
        .bind(registered_before.as_micros())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    async fn update_document(
        &self,
        id: &DocumentId,
        tag_ids: Option<&[Uuid]>,
        share_with_org: Option<bool>,
        at: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        if let Some(ids) = tag_ids {
            sqlx::query("DELETE FROM document_tags WHERE document_id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            link_tags(&mut tx, id, ids).await?;
            index_document_in(&mut tx, id, None).await?;
        }
        sqlx::query(
            "UPDATE documents SET share_with_org = COALESCE($1, share_with_org), updated_at = $2 \
             WHERE document_id = $3",
        )
        .bind(share_with_org)
        .bind(at.as_micros())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_document(&self, id: &DocumentId) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let deleted = delete_rows(&mut tx, std::slice::from_ref(id)).await?;
        tx.commit().await?;
        Ok(deleted == 1)
    }

    async fn connector_documents(
        &self,
        connector: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<(DocumentId, Option<String>)>> {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT document_id, blob_key FROM documents WHERE connector_id = $1 \
             ORDER BY created_at DESC LIMIT $2",
        )
        .bind(connector.to_string())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(id, key)| {
                DocumentId::parse(&id)
                    .map(|id| (id, key))
                    .ok_or_else(|| StoreError::Corrupt(format!("document id {id}")))
            })
            .collect()
    }

    async fn delete_documents(&self, ids: &[DocumentId]) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let deleted = delete_rows(&mut tx, ids).await?;
        tx.commit().await?;
        Ok(deleted)
    }

    async fn referenced_blob_keys(&self, keys: &[String]) -> StoreResult<HashSet<String>> {
        let mut found = HashSet::new();
        for chunk in keys.chunks(IN_LIST) {
            let mut q: QueryBuilder<Db> =
                QueryBuilder::new("SELECT blob_key FROM documents WHERE blob_key IN (");
            let mut list = q.separated(", ");
            for key in chunk {
                list.push_bind(key.clone());
            }
            q.push(")");
            let rows: Vec<String> = q.build_query_scalar().fetch_all(self.pool()).await?;
            found.extend(rows);
        }
        Ok(found)
    }
}

/// A processing outcome with its JSON serialised and the words of its text
/// found: the work of `record_processing` that needs no database.
struct PreparedProcessing {
    processed: Processed,
    file_metadata: Option<String>,
    /// `content`, `profiling` and `analytics`, and `processed_at`.
    content: Option<([String; 3], Timestamp)>,
    tokens: TextTokens,
}

impl PreparedProcessing {
    fn new(mut processed: Processed) -> Self {
        let file_metadata = processed
            .file_metadata
            .take()
            .map(|m| serde_json::Value::Object(m).to_string());
        let content = processed.content.take().map(|c| {
            let json = [
                c.content.to_string(),
                c.profiling.to_string(),
                c.analytics.to_string(),
            ];
            (json, c.processed_at)
        });
        let tokens = TextTokens::new(&processed.text);
        Self {
            processed,
            file_metadata,
            content,
            tokens,
        }
    }
}

/// What `record_processing` writes, on this connection.
async fn record_processing_in(
    conn: &mut Conn,
    id: &DocumentId,
    prepared: PreparedProcessing,
    at: Timestamp,
) -> StoreResult<()> {
    let p = prepared.processed;
    sqlx::query(
        "UPDATE documents SET status = $1, raw_size = $2, sha256 = $3, content_type = $4, \
         error_code = $5, updated_at = $6, file_metadata = COALESCE($7, file_metadata) \
         WHERE document_id = $8",
    )
    .bind(p.status.as_str())
    .bind(p.raw_size)
    .bind(&p.sha256)
    .bind(&p.content_type)
    .bind(&p.error_code)
    .bind(at.as_micros())
    .bind(prepared.file_metadata)
    .bind(id.as_str())
    .execute(&mut *conn)
    .await?;
    if let Some(([content, profiling, analytics], processed_at)) = prepared.content {
        sqlx::query(
            "INSERT INTO document_content (document_id, content, profiling, analytics, \
             processed_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (document_id) DO UPDATE \
             SET content = excluded.content, profiling = excluded.profiling, \
             analytics = excluded.analytics, processed_at = excluded.processed_at",
        )
        .bind(id.as_str())
        .bind(content)
        .bind(profiling)
        .bind(analytics)
        .bind(processed_at.as_micros())
        .execute(&mut *conn)
        .await?;
    }
    index_document_in(conn, id, Some((p.text, prepared.tokens))).await
}

impl Backend {
    /// The tags a list walks for its tag filter (see [`walks_tags`]): those
    /// of the filter's names or ids that the viewer's own documents or their
    /// org's shared ones can carry, each with the rule its documents are
    /// seen by. `None`: the list walks no tags. Empty: nothing can match.
    async fn tag_walk(
        &self,
        viewer: &Principal,
        q: &DocumentQuery,
        search: Option<&SearchQuery>,
    ) -> StoreResult<Option<Vec<(String, Ownership)>>> {
        if !walks_tags(q, search) {
            return Ok(None);
        }
        let mut b: QueryBuilder<Db> = QueryBuilder::new(format!(
            "SELECT t.tag_id, t.user_id FROM users u {} tags t ON t.user_id = u.user_id \
             WHERE u.org_id = ",
            DIALECT.join_in_order
        ));
        b.push_bind(viewer.org_id.clone());
        let viewers_own = match q.ownership {
            Ownership::All => None,
            Ownership::Owned => Some(" AND u.user_id = "),
            Ownership::Shared => Some(" AND u.user_id <> "),
        };
        if let Some(condition) = viewers_own {
            b.push(condition).push_bind(viewer.user_id.clone());
        }
        b.push(" AND ");
        push_tag_match(&mut b, &q.tags);
        b.push(" LIMIT ").push_bind(MOST_TAG_WALKS as i64 + 1);
        let rows: Vec<(String, String)> = b.build_query_as().fetch_all(self.pool()).await?;
        if rows.len() > MOST_TAG_WALKS {
            return Ok(None);
        }
        Ok(Some(
            rows.into_iter()
                .map(|(tag, owner)| {
                    let rule = if owner == viewer.user_id {
                        Ownership::Owned
                    } else {
                        Ownership::Shared
                    };
                    (tag, rule)
                })
                .collect(),
        ))
    }

    /// The documents a list query selects, with their tags.
    pub(super) async fn documents_with_tags(
        &self,
        mut query: QueryBuilder<Db>,
    ) -> StoreResult<Vec<Document>> {
        let rows: Vec<DocumentRow> = query.build_query_as().fetch_all(self.pool()).await?;
        let mut docs = rows
            .into_iter()
            .map(Document::try_from)
            .collect::<StoreResult<Vec<_>>>()?;
        self.attach_tags(&mut docs).await?;
        Ok(docs)
    }

    /// Fills in the tags of a page of documents with one query.
    async fn attach_tags(&self, docs: &mut [Document]) -> StoreResult<()> {
        if docs.is_empty() {
            return Ok(());
        }
        let mut q: QueryBuilder<Db> = QueryBuilder::new(format!(
            "SELECT dt.document_id, {TAG_COLUMNS} FROM document_tags dt \
             JOIN tags t ON t.tag_id = dt.tag_id WHERE dt.document_id IN ("
        ));
        let mut list = q.separated(", ");
        for d in docs.iter() {
            list.push_bind(d.id.as_str().to_string());
        }
        q.push(") ORDER BY t.name");
        let rows: Vec<(String, String, String, String, i64, i64)> =
            q.build_query_as().fetch_all(self.pool()).await?;
        let mut by_doc: HashMap<String, Vec<Tag>> = HashMap::new();
        for (doc_id, tag_id, user_id, name, created_at, updated_at) in rows {
            by_doc
                .entry(doc_id)
                .or_default()
                .push(Tag::try_from(TagRow {
                    tag_id,
                    user_id,
                    name,
                    created_at,
                    updated_at,
                })?);
        }
        for d in docs.iter_mut() {
            d.tags = by_doc.remove(d.id.as_str()).unwrap_or_default();
        }
        Ok(())
    }
}

/// Inside a write transaction, so the reads and the insert are one
/// serialized step: an archive or an update either precedes it or follows it.
/// What admitting a document reads of its connector: state, sharing,
/// allowed senders, whether the dedupe key is taken, and `paused_at`.
type AdmissionRow = (String, bool, Option<String>, bool, Option<i64>);

async fn ingest_in(conn: &mut Conn, ingest: &Ingest<'_>) -> StoreResult<Ingested> {
    let doc = ingest.doc;
    let connector = doc
        .connector_id
        .ok_or_else(|| StoreError::Corrupt("an ingested document needs a connector".into()))?;
    lock_connector(conn, connector).await?;
    let current: Option<AdmissionRow> = sqlx::query_as(
        "SELECT state, share_with_org, allowed_emails, EXISTS (SELECT 1 FROM documents \
         WHERE connector_id = $1 AND dedupe_key = $2), paused_at FROM connectors \
         WHERE connector_id = $1",
    )
    .bind(connector.to_string())
    .bind(ingest.dedupe_key)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((state, share_with_org, allowed, duplicate, paused_at)) = current else {
        return Ok(Ingested::ConnectorInactive);
    };
    if !(state == "active" || (ingest.also_archived && state == "archived")) {
        return Ok(Ingested::ConnectorInactive);
    }
    // Parts of a message accepted before the pause are still kept.
    if paused_at.is_some() && !ingest.also_archived {
        return Ok(Ingested::Paused);
    }
    if let Some(senders) = ingest.senders {
        let allowed: Vec<String> = allowed
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        if !allows_sender(&allowed, senders) {
            return Ok(Ingested::SenderNotAllowed);
        }
    }
    if duplicate {
        return Ok(Ingested::Duplicate);
    }
    let doc = Document {
        share_with_org,
        ..doc.clone()
    };
    insert_document_in(conn, &doc, &[], ingest.auto_tags, Some(ingest.dedupe_key)).await?;
    for job in ingest.follow_ups {
        insert_job(conn, job, doc.created_at).await?;
    }
    if let Some(event) = ingest.event {
        super::events::insert_event(conn, event).await?;
    }
    Ok(Ingested::Stored)
}

/// The document `id` with its tags, read on `conn` (inside the caller's
/// transaction, or not): `DOCUMENT_BY_ID`, then `TAGS_OF_DOCUMENT`.
pub(super) async fn document_in(conn: &mut Conn, id: &str) -> StoreResult<Option<Document>> {
    let row: Option<DocumentRow> = sqlx::query_as(DOCUMENT_BY_ID)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let tags: Vec<TagRow> = sqlx::query_as(TAGS_OF_DOCUMENT)
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    tagged_document(row, tags).map(Some)
}

/// Inserts a document with its tags and counts it in its connector.
async fn insert_document_in(
    conn: &mut Conn,
    doc: &Document,
    user_tags: &[String],
    auto_tags: &[String],
    dedupe_key: Option<&str>,
) -> StoreResult<Document> {
    sqlx::query(
        "INSERT INTO documents (document_id, user_id, org_id, connector_id, rp_collection_id, \
         file_name, raw_size, content_type, request_origin, status, error_code, share_with_org, \
         published_at, created_at, updated_at, file_metadata, sha256, blob_key, dedupe_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19)",
    )
    .bind(doc.id.as_str())
    .bind(&doc.user_id)
    .bind(&doc.org_id)
    .bind(doc.connector_id.map(|c| c.to_string()))
    .bind(&doc.rp_collection_id)
    .bind(&doc.file_name)
    .bind(doc.raw_size)
    .bind(&doc.content_type)
    .bind(doc.request_origin.as_str())
    .bind(doc.status.as_str())
    .bind(&doc.error_code)
    .bind(doc.share_with_org)
    .bind(doc.published_at.map(Timestamp::as_micros))
    .bind(doc.created_at.as_micros())
    .bind(doc.updated_at.as_micros())
    .bind(serde_json::Value::Object(doc.file_metadata.clone()).to_string())
    .bind(&doc.sha256)
    .bind(&doc.blob_key)
    .bind(dedupe_key)
    .execute(&mut *conn)
    .await?;
    let named: Vec<(&str, bool)> = user_tags
        .iter()
        .map(|n| (n.as_str(), false))
        .chain(auto_tags.iter().map(|n| (n.as_str(), true)))
        .collect();
    let tags = ensure_tags_in(&mut *conn, &doc.user_id, &named, doc.created_at).await?;
    let ids: Vec<Uuid> = tags.iter().map(|t| t.id).collect();
    link_tags(&mut *conn, &doc.id, &ids).await?;
    if let Some(connector) = doc.connector_id {
        sqlx::query("UPDATE connectors SET files_count = files_count + 1 WHERE connector_id = $1")
            .bind(connector.to_string())
            .execute(&mut *conn)
            .await?;
    }
    let mut stored = doc.clone();
    stored.tags = tags;
    // Stored already completed (nothing to process): searchable at once.
    if stored.status == DocumentStatus::Completed {
        write_index_entry(&mut *conn, &stored, String::new(), TextTokens::default()).await?;
    }
    Ok(stored)
}

/// Tags a document with these tags, in one statement; each link carries
/// the document's `created_at`, the order a tag filter walks them in.
async fn link_tags(conn: &mut Conn, doc: &DocumentId, tags: &[Uuid]) -> StoreResult<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let mut link = QueryBuilder::<Db>::new(
        "INSERT INTO document_tags (document_id, tag_id, created_at) \
         SELECT d.document_id, t.tag_id, d.created_at FROM documents d, tags t \
         WHERE d.document_id = ",
    );
    link.push_bind(doc.as_str().to_string())
        .push(" AND t.tag_id IN (");
    let mut list = link.separated(", ");
    for tag in tags {
        list.push_bind(tag.to_string());
    }
    link.push(") ON CONFLICT DO NOTHING");
    link.build().execute(&mut *conn).await?;
    Ok(())
}

/// Deletes document rows and uncounts them from their connectors; returns
/// how many there were.
async fn delete_rows(conn: &mut Conn, ids: &[DocumentId]) -> StoreResult<u64> {
    let mut deleted = 0;
    for chunk in ids.chunks(IN_LIST) {
        let mut q: QueryBuilder<Db> =
            QueryBuilder::new("DELETE FROM documents WHERE document_id IN (");
        let mut list = q.separated(", ");
        for id in chunk {
            list.push_bind(id.as_str().to_string());
        }
        q.push(") RETURNING connector_id");
        let connectors: Vec<Option<String>> = q.build_query_scalar().fetch_all(&mut *conn).await?;
        deleted += connectors.len() as u64;
        let mut per_connector: HashMap<String, i64> = HashMap::new();
        for c in connectors.into_iter().flatten() {
            *per_connector.entry(c).or_default() += 1;
        }
        for (connector, n) in per_connector {
            sqlx::query(
                "UPDATE connectors SET files_count = files_count - $1 WHERE connector_id = $2",
            )
            .bind(n)
            .bind(connector)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(deleted)
}

/// The document list: visibility, Bigdata's filters, a search when given,
/// a sort and a page; `prefix` goes before it (`EXPLAIN QUERY PLAN ` in
/// tests). A search is a condition beside the visibility rules, so what a
/// viewer may not see is never ranked, counted or cut from a page. With
/// `tagged` (see [`tag_walk`]), the tag filter's own ranges drive.
///
/// The walks select keys only (the id and the sort column), so what is
/// sorted and skipped before a deep page is small; the page's rows are read
/// last, by id.
pub(in crate::store) fn list_query(
    prefix: &str,
    viewer: &Principal,
    q: &DocumentQuery,
    search: Option<&SearchQuery>,
    tagged: Option<&[(String, Ownership)]>,
) -> QueryBuilder<Db> {
    let column = match q.sort_by {
        DocumentSort::CreatedAt => "created_at",
        DocumentSort::UpdatedAt => "updated_at",
        DocumentSort::FileName => "file_name",
        DocumentSort::RawSize => "raw_size",
        DocumentSort::ContentType => "content_type",
        DocumentSort::Status => "status",
        DocumentSort::Relevance if search.is_some() => "relevance",
        DocumentSort::Relevance => "created_at",
    };
    let direction = if q.descending { "DESC" } else { "ASC" };
    // How the sort column is compared: file names regardless of case.
    let (before, after) = match q.sort_by {
        DocumentSort::FileName => DIALECT.file_name_order,
        _ => ("", ""),
    };
    // The id breaks ties, so pages never overlap or skip.
    let order =
        |of: &str| format!("{before}{of}{column}{after} {direction}, {of}document_id {direction}");
    let prefix = format!("{prefix}SELECT {DOCUMENT_COLUMNS} FROM (");
    let compiled = search.map(DIALECT.search_syntax);
    let matched = compiled.as_deref().map(|c| match DIALECT.search_in_org {
        Some(in_org) => in_org(c, &org_term(&viewer.org_id)),
        None => c.to_string(),
    });
    // A ranked search whose filters its index entries carry reads no
    // document before the page: the entries hold what the visibility rules
    // and those filters read.
    let entries_only = compiled.is_some() && column == "relevance" && entries_carry_filters(q);
    let of = if entries_only { "s" } else { "d" };
    // The phrases that weigh a ranked search, where the database weighs
    // them itself (SQLite).
    let weighed = match (search, &DIALECT.search_rank) {
        (Some(s), SearchRank::Weighed { .. }) if column == "relevance" => compile::fts5_phrases(s),
        _ => vec![],
    };
    let select = |b: &mut QueryBuilder<Db>| {
        b.push(format_args!("SELECT {of}.document_id, "));
        match (&compiled, &DIALECT.search_rank) {
            (Some(c), SearchRank::OfQuery(before, after)) if column == "relevance" => {
                b.push(before).push_bind(c.clone()).push(after);
                b.push(" AS relevance");
            }
            (Some(_), SearchRank::Weighed { .. }) if column == "relevance" => {
                b.push("inlet_rank(search_fts, s.search_length, w.entries");
                for i in 0..weighed.len() {
                    b.push(format_args!(", w.holding_{i}"));
                }
                b.push(") AS relevance");
            }
            _ => {
                b.push(format_args!("d.{column}"));
            }
        }
        match compiled {
            Some(_) if entries_only => b.push(format_args!(" FROM {}", DIALECT.search_entries)),
            Some(_) => b.push(format_args!(
                " FROM {} {}",
                DIALECT.search_entries, DIALECT.search_document
            )),
            None => b.push(" FROM documents d"),
        };
        // Last, so that the matches still lead in their order.
        if let SearchRank::Weighed {
            entries,
            holding,
            window,
        } = &DIALECT.search_rank
        {
            if !weighed.is_empty() {
                b.push(" CROSS JOIN ").push(entries);
                for (i, phrase) in weighed.iter().enumerate() {
                    b.push(holding.0)
                        .push_bind(phrase.clone())
                        .push(format_args!("{} AS holding_{i}", holding.1));
                }
                b.push(window.0)
                    .push_bind(viewer.org_id.clone())
                    .push(window.1);
            }
        }
    };
    let filters = |b: &mut QueryBuilder<Db>| {
        push_filters(b, q, of, tagged.is_none());
        if let Some(c) = &matched {
            let (before, between, after) = DIALECT.search_match;
            b.push(" AND ")
                .push(before)
                .push_bind(viewer.org_id.clone())
                .push(between)
                .push_bind(c.clone())
                .push(after);
        }
        if let Some(position) = &q.after {
            // A tag walk seeks along its links, so each range starts there.
            let of = if tagged.is_some() { "dt." } else { "d." };
            let beyond = if q.descending { "<" } else { ">" };
            b.push(format_args!(
                " AND ({before}{of}{column}{after}, {of}document_id) {beyond} ({before}"
            ));
            match &position.key {
                SortKey::Time(t) => b.push_bind(*t),
                SortKey::Text(t) => b.push_bind(t.clone()),
            };
            b.push(format_args!("{after}, "))
                .push_bind(position.id.as_str().to_string())
                .push(")");
        }
    };
    let order_of_keys = order("");
    let walk = Walk {
        prefix: &prefix,
        alias: of,
        viewer,
        ownership: q.ownership,
        order: &order_of_keys,
        limit: i64::from(q.limit),
        offset: q.offset as i64,
    };
    let mut b = match tagged {
        Some(tags) => visible_tagged(&walk, tags, filters, direction),
        // A search or a connector filter narrows the list by an index of
        // its own (the full-text match; the connector's documents in
        // order), so the visibility rules are checked along it, in one pass.
        // Ranked, a search takes the most recently indexed matches the
        // viewer may see, so a common word ranks a bounded set.
        None if compiled.is_some() || q.connector_id.is_some() => {
            let window = (column == "relevance").then_some((DIALECT.search_newest, RANKED_MATCHES));
            visible_matches(&walk, select, filters, window)
        }
        None => visible_union(&walk, select, filters),
    };
    b.push(format_args!(
        ") AS page {} documents d ON d.document_id = page.document_id ORDER BY {}",
        DIALECT.join_in_order,
        order("page.")
    ));
    b
}

/// How many matches a search ranks by relevance at most: the most recently
/// indexed that the viewer may see (docs/decisions.md). Pages end there.
pub(in crate::store) const RANKED_MATCHES: i64 = 2_000;

/// Most tags a filter walks one range each; a filter that can mean more
/// (many users of an org with a tag of that name) checks each document
/// of the visibility ranges for its tags instead.
const MOST_TAG_WALKS: usize = 32;

/// Whether a list walks its tag filter's ranges: the tags' links hold the
/// default order (`created_at`) only, and a search or a connector filter
/// has an index of its own to walk.
fn walks_tags(q: &DocumentQuery, search: Option<&SearchQuery>) -> bool {
    !q.tags.is_empty()
        && search.is_none()
        && q.connector_id.is_none()
        && matches!(q.sort_by, DocumentSort::CreatedAt | DocumentSort::Relevance)
}

/// Whether a list's filters are all on columns a search entry carries
/// (`search_documents`: the owner and the connector, beside what the
/// visibility rules read).
fn entries_carry_filters(q: &DocumentQuery) -> bool {
    q.origin.is_none()
        && q.from_date.is_none()
        && q.file_name.is_none()
        && q.rp_collection_id.is_none()
        && q.tags.is_empty()
        && q.after.is_none()
}

/// Bigdata's filters, on the rows aliased `of`: the documents `d`, or their
/// search entries `s` where [`entries_carry_filters`].
/// `with_tags`: the tag filter too (a tag walk applies it by its ranges).
fn push_filters(b: &mut QueryBuilder<Db>, q: &DocumentQuery, of: &str, with_tags: bool) {
    if let Some(origin) = q.origin {
        b.push(format_args!(" AND {of}.request_origin = "))
            .push_bind(origin.as_str().to_string());
    }
    if let Some(from) = q.from_date {
        b.push(format_args!(" AND {of}.created_at >= "))
            .push_bind(from.as_micros());
    }
    if let Some(owner) = &q.owner {
        b.push(format_args!(" AND {of}.user_id = "))
            .push_bind(owner.clone());
    }
    if let Some(name) = &q.file_name {
        let escaped = name
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        b.push(format_args!(" AND {of}.file_name {} ", DIALECT.like))
            .push_bind(format!("%{escaped}%"))
            .push(" ESCAPE '\\'");
    }
    if let Some(collection) = &q.rp_collection_id {
        b.push(format_args!(" AND {of}.rp_collection_id = "))
            .push_bind(collection.clone());
    }
    if let Some(connector) = q.connector_id {
        b.push(format_args!(" AND {of}.connector_id = "))
            .push_bind(connector.to_string());
    }
    if with_tags && !q.tags.is_empty() {
        b.push(format_args!(
            " AND EXISTS (SELECT 1 FROM document_tags dt JOIN tags t ON t.tag_id = dt.tag_id \
             WHERE dt.document_id = {of}.document_id AND "
        ));
        push_tag_match(b, &q.tags);
        b.push(")");
    }
}

/// The tags `t` a filter names, by name or by id.
fn push_tag_match(b: &mut QueryBuilder<Db>, tags: &[String]) {
    b.push("(t.name IN (");
    let mut names = b.separated(", ");
    for t in tags {
        names.push_bind(t.clone());
    }
    b.push(") OR t.tag_id IN (");
    let mut ids = b.separated(", ");
    for t in tags {
        ids.push_bind(t.to_ascii_lowercase());
    }
    b.push("))");
}
