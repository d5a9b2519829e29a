//! The search index (contract 11): in the database, written in the
//! transactions that complete, retag or delete a document, and read with
//! the visibility rule inside the query.

use super::{DocumentQuery, StoreResult};
use crate::domain::search::SearchQuery;
use crate::domain::{Document, Principal};
use async_trait::async_trait;

/// A result: the document, its indexed text (what highlights are cut
/// from) and the terms its entry holds, in order.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub document: Document,
    pub text: String,
    pub terms: String,
}

#[async_trait]
pub trait SearchIndex: Send + Sync {
    /// A page of the documents the viewer can see that match `search` and
    /// the list's filters, in `query`'s order (`Relevance`: best first).
    async fn search_documents(
        &self,
        viewer: &Principal,
        query: &DocumentQuery,
        search: &SearchQuery,
    ) -> StoreResult<Vec<SearchHit>>;

    /// The index's segments, by size (about a leaf page a unit); `None`
    /// where the database merges its index itself (PostgreSQL).
    async fn search_index_segments(&self) -> StoreResult<Option<Vec<u64>>>;

    /// Merges up to `pages` pages of the index's segments towards one, in a
    /// write of its own; `false` when there was nothing left to merge.
    async fn merge_search_index(&self, pages: u32) -> StoreResult<bool>;
}
