//! Upkeep of the full-text index. SQLite's FTS5 writes each transaction's
//! entries as a segment of their own and merges segments by levels, so an
//! index fed a document at a time is in a dozen or more segments (16 at
//! 100,000 documents), and every query seeks each of them: a rare word took
//! 2.5 times as long on 16 as on one (bench/RESULTS.md). Past
//! [`COMPACT_FROM`] segments, the periodic sweep queues one job that merges
//! them all into one, [`PAGES_PER_STEP`] pages a step, each step a write of
//! its own: other writes wait for a step, never for the whole merge.
//! PostgreSQL keeps its index itself; nothing is queued there.

use super::jobs::{JobError, JobSpec, Step};
use super::AppState;

/// Segments tolerated before a compaction is queued. The segments that new
/// documents add are small and cheap to seek; the threshold keeps the index
/// from being rewritten for each of them.
pub const COMPACT_FROM: u64 = 8;

/// Pages merged per step: about 7 ms of writing at 100,000 documents.
const PAGES_PER_STEP: u32 = 64;

/// Queues the compaction when the index is in more than [`COMPACT_FROM`]
/// segments (one job at most: it is deduplicated). `true` when queued.
pub async fn schedule_compaction(app: &AppState) -> anyhow::Result<bool> {
    let Some(segments) = app.store.search_index_segments().await? else {
        return Ok(false);
    };
    if segments <= COMPACT_FROM {
        return Ok(false);
    }
    let job = JobSpec::CompactSearchIndex {}.new_job(&app.config.jobs);
    let queued = app.store.enqueue_job(&job).await?;
    if queued {
        tracing::info!(segments, "search index compaction queued");
        app.wake_jobs.notify_one();
    }
    Ok(queued)
}

/// One step of the compaction; `Again` while pages are left to merge.
pub async fn compact_step(app: &AppState) -> Result<Step, JobError> {
    let merged = app
        .store
        .merge_search_index(PAGES_PER_STEP)
        .await
        .map_err(JobError::transient)?;
    if merged {
        return Ok(Step::Again);
    }
    tracing::info!("search index compacted");
    Ok(Step::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::search::SearchQuery;
    use crate::domain::{DocumentStatus, Timestamp};
    use crate::jobs::Runner;
    use crate::service::documents::{create_upload, search, NewUpload};
    use crate::service::processing::process_document;
    use crate::service::testing::TestApp;
    use crate::store::DocumentQuery;

    /// A text document processed on its own, as uploads are: one
    /// transaction, so one new segment of the index.
    async fn indexed(t: &TestApp, text: &str) {
        let new = NewUpload {
            file_name: "note.txt".into(),
            published_at: None,
            tags: vec![],
            share_with_org: false,
        };
        let doc = create_upload(&t.app, &t.owner, new).await.unwrap();
        let (key, _) = t.put(text.as_bytes()).await;
        let job = JobSpec::ProcessDocument {
            document_id: doc.id.clone(),
        }
        .new_job(&t.app.config.jobs);
        let store = &t.app.store;
        assert!(store
            .attach_upload(&doc.id, &key, Timestamp::now(), &job)
            .await
            .unwrap());
        process_document(&t.app, &doc.id).await.unwrap();
        let stored = store.document(&doc.id).await.unwrap().unwrap();
        assert_eq!(stored.status, DocumentStatus::Completed);
    }

    async fn matches(t: &TestApp, q: &str) -> usize {
        let query = SearchQuery::parse(q).unwrap();
        search(&t.app, &t.owner, &DocumentQuery::newest(500), &query)
            .await
            .unwrap()
            .len()
    }

    #[tokio::test]
    async fn a_fragmented_index_is_compacted_into_one_segment_and_finds_the_same() {
        let t = TestApp::new().await;
        // FTS5 merges every 4 segments of a level into one of the next, so
        // the count goes up and down; 63 documents leave 3 on each of 3 levels.
        let mut documents: usize = 0;
        while t.app.store.search_index_segments().await.unwrap() <= Some(COMPACT_FROM) {
            assert!(documents < 300, "the index never fragmented");
            let word = if documents.is_multiple_of(3) {
                "lithium"
            } else {
                "copper"
            };
            indexed(&t, &format!("note {documents} on {word} prices")).await;
            documents += 1;
        }
        let before = (matches(&t, "lithium").await, matches(&t, "pric*").await);
        assert_eq!(before, (documents.div_ceil(3), documents));

        assert!(schedule_compaction(&t.app).await.unwrap());
        assert!(
            !schedule_compaction(&t.app).await.unwrap(),
            "one job at most"
        );
        let runner = Runner::new(t.app.clone());
        let mut runs = 0;
        // The uploads' own processing jobs run too, finding nothing to do.
        while let Some(job) = runner.run_one(Timestamp::now()).await.unwrap() {
            runs += usize::from(job.kind == "compact_search_index");
        }
        assert!(runs >= 1);
        let segments = t.app.store.search_index_segments().await.unwrap();
        assert_eq!(segments, Some(1));
        assert_eq!(
            (matches(&t, "lithium").await, matches(&t, "pric*").await),
            before
        );
        // Nothing left to merge: no job.
        assert!(!schedule_compaction(&t.app).await.unwrap());
    }
}
