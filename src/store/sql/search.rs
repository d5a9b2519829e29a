// The search index (compiled per backend by `statements!`).

use crate::domain::search::{IndexEntry, SearchQuery, TextTokens};
use crate::domain::{Document, DocumentId, DocumentStatus, Principal};
use crate::store::{DocumentQuery, SearchHit, SearchIndex, StoreResult};
use async_trait::async_trait;
use sqlx::QueryBuilder;
use std::collections::HashMap;

#[async_trait]
impl SearchIndex for Backend {
    async fn search_documents(
        &self,
        viewer: &Principal,
        query: &DocumentQuery,
        search: &SearchQuery,
    ) -> StoreResult<Vec<SearchHit>> {
        let docs = self
            .documents_with_tags(super::documents::list_query(
                "",
                viewer,
                query,
                Some(search),
                None,
            ))
            .await?;
        let mut texts = self.indexed_texts(&docs).await?;
        Ok(docs
            .into_iter()
            .map(|document| {
                let (text, terms) = texts.remove(document.id.as_str()).unwrap_or_default();
                SearchHit {
                    text,
                    terms,
                    document,
                }
            })
            .collect())
    }

    async fn search_index_segments(&self) -> StoreResult<Option<Vec<u64>>> {
        let Some(segments) = &DIALECT.search_segments else {
            return Ok(None);
        };
        let sizes: Vec<i64> = sqlx::query_scalar(segments.sizes)
            .fetch_all(self.pool())
            .await?;
        Ok(Some(sizes.into_iter().map(|n| n.max(0) as u64).collect()))
    }

    async fn merge_search_index(&self, pages: u32) -> StoreResult<bool> {
        let Some(segments) = &DIALECT.search_segments else {
            return Ok(false);
        };
        // FTS5 tells whether a merge wrote anything only through the
        // connection's count of changes, so all three run on one.
        let mut conn = self.pool().acquire().await?;
        let before: i64 = sqlx::query_scalar(segments.changes)
            .fetch_one(&mut *conn)
            .await?;
        sqlx::query(segments.merge)
            .bind(-i64::from(pages))
            .execute(&mut *conn)
            .await?;
        let after: i64 = sqlx::query_scalar(segments.changes)
            .fetch_one(&mut *conn)
            .await?;
        Ok(after - before > 1)
    }
}

impl Backend {
    /// The indexed text and terms of a page of documents, by id, with one
    /// query.
    async fn indexed_texts(
        &self,
        docs: &[Document],
    ) -> StoreResult<HashMap<String, (String, String)>> {
        if docs.is_empty() {
            return Ok(HashMap::new());
        }
        let mut q: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT s.document_id, t.search_text, t.search_terms FROM search_documents s \
             JOIN search_texts t ON t.search_key = s.search_key WHERE s.document_id IN (",
        );
        let mut list = q.separated(", ");
        for d in docs {
            list.push_bind(d.id.as_str().to_string());
        }
        q.push(")");
        let rows: Vec<(String, String, String)> = q.build_query_as().fetch_all(self.pool()).await?;
        Ok(rows
            .into_iter()
            .map(|(id, text, terms)| (id, (text, terms)))
            .collect())
    }
}

/// Brings a document's search entry up to date inside the caller's
/// transaction, from its current row and tags: written when it is
/// `completed`, removed otherwise. `text` is its extracted text and the
/// words found in it; `None` keeps the text already indexed (a change of
/// tags).
pub(super) async fn index_document_in(
    conn: &mut Conn,
    id: &DocumentId,
    text: Option<(String, TextTokens)>,
) -> StoreResult<()> {
    let Some(doc) = super::documents::document_in(conn, id.as_str()).await? else {
        return Ok(());
    };
    let (text, tokens) = match text {
        Some(given) => given,
        None => {
            let indexed: String = sqlx::query_scalar(
                "SELECT t.search_text FROM search_documents s \
                 JOIN search_texts t ON t.search_key = s.search_key WHERE s.document_id = $1",
            )
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or_default();
            let tokens = TextTokens::new(&indexed);
            (indexed, tokens)
        }
    };
    write_index_entry(conn, &doc, text, tokens).await
}

/// Replaces the search entry of `doc` (with its tags) by one for `text`
/// (whose words are `tokens`) when it is `completed`; removes it otherwise.
/// The one place entries are written; deleting a document removes its
/// entry by cascade.
pub(super) async fn write_index_entry(
    conn: &mut Conn,
    doc: &Document,
    text: String,
    tokens: TextTokens,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM search_documents WHERE document_id = $1")
        .bind(doc.id.as_str())
        .execute(&mut *conn)
        .await?;
    if doc.status != DocumentStatus::Completed {
        return Ok(());
    }
    let entry = IndexEntry::of(doc, text, tokens);
    let insert = if DIALECT.search_vector {
        "INSERT INTO search_documents (document_id, user_id, org_id, share_with_org, \
         connector_id, search_length, search_vector) \
         VALUES ($1, $2, $3, $4, $5, $6, CAST($7 AS tsvector)) RETURNING search_key"
    } else {
        // The org's range of keys, taken the first time it has an entry
        // (SQLite has one writer, so the highest key is not raced for).
        sqlx::query(
            "INSERT INTO search_fts_orgs (org_id, search_org_first, search_org_last) \
             SELECT $1, first, first + 1099511627775 FROM (SELECT \
             COALESCE(MAX(search_org_first), 0) + 1099511627776 AS first FROM search_fts_orgs) \
             WHERE true ON CONFLICT (org_id) DO NOTHING",
        )
        .bind(&doc.org_id)
        .execute(&mut *conn)
        .await?;
        // The next key of the range, so the org's newest entry is its last.
        "INSERT INTO search_documents (search_key, document_id, user_id, org_id, \
         share_with_org, connector_id, search_length) SELECT COALESCE((SELECT \
         MAX(search_key) + 1 FROM search_documents WHERE search_key BETWEEN \
         o.search_org_first AND o.search_org_last), o.search_org_first), $1, $2, $3, $4, $5, $6 \
         FROM search_fts_orgs o WHERE o.org_id = $3 RETURNING search_key"
    };
    let mut insert = sqlx::query_scalar(insert)
        .bind(doc.id.as_str())
        .bind(&doc.user_id)
        .bind(&doc.org_id)
        .bind(doc.share_with_org)
        .bind(doc.connector_id.map(|c| c.to_string()))
        .bind(entry.length() as i64);
    if DIALECT.search_vector {
        insert = insert.bind(entry.vector());
    }
    let key: i64 = insert.fetch_one(&mut *conn).await?;
    sqlx::query(
        "INSERT INTO search_texts (search_key, search_text, search_terms) VALUES ($1, $2, $3)",
    )
    .bind(key)
    .bind(&entry.text)
    .bind(entry.terms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
