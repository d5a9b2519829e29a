//! Upkeep of the full-text index. SQLite's FTS5 writes each transaction's
//! entries as a segment of their own and merges segments by levels, so an
//! index fed a document at a time is in a dozen or more segments (16 at
//! 100,000 documents), and every query seeks each of them: a rare word's
//! statement took 2.5 times as long on 16 as on one (bench/RESULTS.md).
//! When [`needs_compaction`] says so, the periodic sweep queues one job that
//! merges every segment into one, [`PAGES_PER_STEP`] pages a step, each step
//! a write of its own: other writes wait for a step, never for the whole
//! merge. PostgreSQL keeps its index itself; nothing is queued there.

use super::jobs::{JobError, JobSpec, Step};
use super::AppState;

/// Segments tolerated before a compaction is considered.
const COMPACT_FROM: usize = 8;

/// How small the rest may be beside the largest segment: a compaction
/// rewrites the whole index, so it waits until the segments beside the
/// largest hold a tenth of its size. Each compaction then writes at most
/// about 11 times what was indexed since the one before.
const REST_PER_LARGEST: u64 = 10;

/// Pages merged per step: about 7 ms of writing at 100,000 documents.
const PAGES_PER_STEP: u32 = 64;

/// Whether an index whose segments have these sizes is worth compacting:
/// more than [`COMPACT_FROM`] of them, and the ones beside the largest
/// holding at least a tenth of its size.
fn needs_compaction(sizes: &[u64]) -> bool {
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let rest = sizes.iter().sum::<u64>() - largest;
    sizes.len() > COMPACT_FROM && rest * REST_PER_LARGEST >= largest
}

/// Queues the compaction when the index needs it (one job at most: it is
/// deduplicated). `true` when queued.
pub async fn schedule_compaction(app: &AppState) -> anyhow::Result<bool> {
    let Some(sizes) = app.store.search_index_segments().await? else {
        return Ok(false);
    };
    if !needs_compaction(&sizes) {
        return Ok(false);
    }
    let job = JobSpec::CompactSearchIndex {}.new_job(&app.config.jobs);
    let queued = app.store.enqueue_job(&job).await?;
    if queued {
        tracing::info!(segments = sizes.len(), "search index compaction queued");
        app.wake_jobs.notify_one();
    }
    Ok(queued)
}

/// Compacts the index now, whatever its shape (`inlet admin
/// compact-search-index`, after a bulk import): the number of segments
/// before and after; `None` where the database keeps its index itself.
pub async fn compact_now(app: &AppState) -> anyhow::Result<Option<(usize, usize)>> {
    let Some(before) = app.store.search_index_segments().await? else {
        return Ok(None);
    };
    while app.store.merge_search_index(PAGES_PER_STEP).await? {}
    let after = app.store.search_index_segments().await?.unwrap_or_default();
    Ok(Some((before.len(), after.len())))
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
    use crate::service::documents::search;
    use crate::service::processing::process_document;
    use crate::service::testing::TestApp;
    use crate::store::DocumentQuery;

    /// A text document processed on its own, as uploads are: one
    /// transaction, so one new segment of the index.
    async fn indexed(t: &TestApp, text: &str) {
        let id = t.uploaded(Some(text.as_bytes())).await;
        process_document(&t.app, &id).await.unwrap();
        let stored = t.app.store.document(&id).await.unwrap().unwrap();
        assert_eq!(stored.status, DocumentStatus::Completed);
    }

    async fn segments(t: &TestApp) -> Vec<u64> {
        let sizes = t.app.store.search_index_segments().await.unwrap();
        sizes.expect("SQLite's index is in segments")
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
        // FTS5's own merges make the count go up and down: documents are
        // added until the policy asks for a compaction.
        let mut documents: usize = 0;
        while !needs_compaction(&segments(&t).await) {
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
        assert_eq!(segments(&t).await.len(), 1);
        assert_eq!(
            (matches(&t, "lithium").await, matches(&t, "pric*").await),
            before
        );
        // Nothing left to merge: no job.
        assert!(!schedule_compaction(&t.app).await.unwrap());
    }

    #[test]
    fn compaction_waits_for_enough_segments_beside_the_largest() {
        assert!(!needs_compaction(&[]));
        assert!(!needs_compaction(&[5; COMPACT_FROM]));
        assert!(needs_compaction(&[5; COMPACT_FROM + 1]));
        // The 100,000-document benchmark's index, fed a document at a time.
        let bench = [
            1983, 1985, 2, 33, 101, 5495, 2, 101, 33, 2, 2, 2, 100, 2, 2, 10,
        ];
        assert!(needs_compaction(&bench));
        // One large segment, compacted before, and a few small ones since.
        let after = [50_000, 100, 100, 100, 30, 30, 30, 2, 2, 2];
        assert!(!needs_compaction(&after));
        assert!(needs_compaction(&[
            50_000, 4_000, 1_000, 30, 30, 30, 2, 2, 2
        ]));
    }
}
