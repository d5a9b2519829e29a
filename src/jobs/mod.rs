//! The durable job runner: jobs live in the store, workers lease them, a
//! lease that expires (crashed worker) makes the job claimable again, and
//! failures retry with exponential backoff until the job is marked dead.
//! A driver: what each kind of job does is a use case in `service/`.

pub mod sweep;

use crate::domain::Timestamp;
use crate::service::jobs::JobSpec;
pub use crate::service::jobs::{JobError, Step};
use crate::service::AppState;
use crate::service::{attachments, processing, purge, search_index, sync_run};
use crate::store::Job;
use futures_util::FutureExt;
use std::time::Duration;
use tracing::Instrument;
use uuid::Uuid;

/// Delay before attempt `attempts + 1`: 1 s, 2 s, 4 s, … capped at one hour.
pub fn backoff(attempts: i64) -> Duration {
    let exp = attempts.clamp(1, 13) as u32 - 1;
    Duration::from_secs((1u64 << exp).min(3600))
}

/// How often workers look for scheduled syncs that are due.
const SCHEDULE_EVERY: Duration = Duration::from_secs(1);

pub struct Runner {
    app: AppState,
    worker_id: String,
    lease: Duration,
}

impl Runner {
    pub fn new(app: AppState) -> Self {
        let lease = app.config.jobs.lease_duration();
        Self {
            app,
            worker_id: format!("{}-{}", hostname(), Uuid::now_v7().simple()),
            lease,
        }
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// Claims and runs one job due at `now`; `None` when nothing is due.
    pub async fn run_one(&self, now: Timestamp) -> anyhow::Result<Option<Job>> {
        self.run_one_with(now, |job| async move { self.dispatch(&job).await })
            .await
    }

    /// Claims one due job and runs `handler` on it, then records the
    /// outcome: finished, retried after a backoff, or dead.
    pub async fn run_one_with<F, Fut>(
        &self,
        now: Timestamp,
        handler: F,
    ) -> anyhow::Result<Option<Job>>
    where
        F: FnOnce(Job) -> Fut,
        Fut: std::future::Future<Output = Result<Step, JobError>>,
    {
        let store = &self.app.store;
        let Some(job) = store.claim_job(&self.worker_id, now, self.lease).await? else {
            return Ok(None);
        };
        let span =
            tracing::info_span!("job", job_id = %job.id, kind = %job.kind, attempt = job.attempts);
        let outcome = if job.attempts > job.max_attempts {
            Err(JobError::Permanent(format!(
                "gave up after {} attempts",
                job.max_attempts
            )))
        } else {
            // A panicking step is a failed attempt, not a dead worker.
            let work =
                std::panic::AssertUnwindSafe(handler(job.clone()).instrument(span)).catch_unwind();
            tokio::select! {
                outcome = work => outcome.unwrap_or_else(|_| Err(JobError::Transient("the job panicked".into()))),
                () = self.keep_lease(job.id) => Err(JobError::Transient("lost the job lease".into())),
            }
        };
        let label = match &outcome {
            Ok(Step::Done) => "done",
            Ok(Step::Again) => "again",
            Err(JobError::Transient(_)) if job.attempts < job.max_attempts => "retry",
            Err(_) => "dead",
        };
        metrics::counter!(crate::metrics::JOBS, "kind" => job.kind.clone(), "outcome" => label)
            .increment(1);
        match outcome {
            Ok(Step::Done) => {
                store.finish_job(job.id, &self.worker_id).await?;
                tracing::debug!(job_id = %job.id, kind = %job.kind, "job done");
            }
            Ok(Step::Again) => {
                store.requeue_job(job.id, &self.worker_id, now).await?;
            }
            Err(JobError::Transient(e)) if job.attempts < job.max_attempts => {
                let delay = backoff(job.attempts);
                let at = Timestamp::from_micros(now.as_micros() + delay.as_micros() as i64);
                tracing::warn!(job_id = %job.id, kind = %job.kind, attempt = job.attempts, error = %e, retry_in_s = delay.as_secs(), "job failed; will retry");
                store.retry_job(job.id, &self.worker_id, &e, at).await?;
            }
            Err(e) => {
                tracing::error!(job_id = %job.id, kind = %job.kind, attempts = job.attempts, error = %e, "job failed for good; marked dead");
                if let Ok(JobSpec::RunSync { sync_job_id }) = JobSpec::try_from(&job) {
                    // A sync never stays in progress after its job is dead.
                    if let Err(e) = sync_run::give_up(&self.app, sync_job_id, &e.to_string()).await
                    {
                        tracing::error!(%sync_job_id, error = %e, "could not end an abandoned sync");
                    }
                }
                store
                    .bury_job(job.id, &self.worker_id, &e.to_string())
                    .await?;
            }
        }
        Ok(Some(job))
    }

    /// Renews the lease while a job runs, so a long job keeps it and a
    /// crashed worker's job is free again within one lease period. Returns
    /// only when the lease is lost: the step must stop, another worker owns it.
    async fn keep_lease(&self, id: Uuid) {
        let mut tick = tokio::time::interval(self.lease / 3);
        tick.tick().await;
        loop {
            tick.tick().await;
            let until = Timestamp::now().plus(self.lease);
            match self
                .app
                .store
                .extend_lease(id, &self.worker_id, until)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(job_id = %id, "job lease lost; stopping this run");
                    return;
                }
                Err(e) => tracing::warn!(job_id = %id, error = %e, "could not renew job lease"),
            }
        }
    }

    /// Runs every job that is due, including those its own runs make due,
    /// until none is left. Returns how many ran. Deterministic: for tests
    /// and `inlet admin run-jobs`.
    pub async fn run_pending(&self) -> anyhow::Result<usize> {
        let mut ran = 0;
        while self.run_one(Timestamp::now()).await?.is_some() {
            ran += 1;
        }
        Ok(ran)
    }

    /// Runs the job its kind and payload name; one that does not decode
    /// can never run, so it is dead at once, saying why.
    async fn dispatch(&self, job: &Job) -> Result<Step, JobError> {
        let spec = JobSpec::try_from(job).map_err(|e| JobError::Permanent(e.to_string()))?;
        let app = &self.app;
        match spec {
            JobSpec::ProcessDocument { document_id } => {
                processing::process_document(app, &document_id)
                    .await
                    .map(|()| Step::Done)
            }
            JobSpec::ReprocessDocument { document_id } => {
                processing::reprocess_document(app, &document_id)
                    .await
                    .map(|()| Step::Done)
            }
            JobSpec::ExtractAttachments { document_id } => {
                attachments::extract_attachments(app, &document_id)
                    .await
                    .map(|()| Step::Done)
            }
            JobSpec::RunSync { sync_job_id } => sync_run::run_sync(app, sync_job_id).await,
            JobSpec::PurgeConnector { connector_id } => {
                purge::purge_connector(app, connector_id).await
            }
            JobSpec::CompactSearchIndex {} => search_index::compact_step(app).await,
        }
    }

    /// Works until `stop` turns true: runs due jobs, sleeps between polls
    /// (or until woken), and periodically sweeps orphan blobs, fails
    /// uploads that never came, drops events past their retention and
    /// queues the search index's compaction. Hands its leases back when it
    /// stops.
    pub async fn work(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let poll = self.app.config.jobs.poll_interval();
        let sweep_every = self.app.config.blobs.sweep_interval();
        let mut next_sweep = tokio::time::Instant::now() + sweep_every;
        let mut next_schedule = tokio::time::Instant::now();
        while !*stop.borrow() {
            match self.run_one(Timestamp::now()).await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "job runner error"),
            }
            if tokio::time::Instant::now() >= next_schedule {
                if let Err(e) =
                    crate::service::sync::schedule_due(&self.app, Timestamp::now()).await
                {
                    tracing::error!(error = %e, "starting scheduled syncs failed");
                }
                next_schedule = tokio::time::Instant::now() + SCHEDULE_EVERY;
            }
            if tokio::time::Instant::now() >= next_sweep {
                if let Err(e) = sweep::sweep_orphan_blobs(&self.app, Timestamp::now()).await {
                    tracing::error!(error = %e, "orphan blob sweep failed");
                }
                if let Err(e) =
                    crate::service::documents::expire_uploads(&self.app, Timestamp::now()).await
                {
                    tracing::error!(error = %e, "expiring uploads failed");
                }
                if let Err(e) = crate::service::events::expire(&self.app, Timestamp::now()).await {
                    tracing::error!(error = %e, "expiring connector events failed");
                }
                if let Err(e) = search_index::schedule_compaction(&self.app).await {
                    tracing::error!(error = %e, "queuing the search index's compaction failed");
                }
                next_sweep = tokio::time::Instant::now() + sweep_every;
            }
            tokio::select! {
                _ = stop.changed() => {}
                _ = self.app.wake_jobs.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
        match self.app.store.release_leases(&self.worker_id).await {
            Ok(n) if n > 0 => tracing::info!(released = n, "job leases released"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "could not release job leases"),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "inlet".into())
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(40), Duration::from_secs(3600));
    }
}

#[cfg(test)]
mod runner_tests {
    use super::*;
    use crate::config::Config;
    use crate::store::{JobState, NewJob};

    async fn app(dir: &std::path::Path) -> AppState {
        let config = Config {
            data_dir: dir.to_path_buf(),
            ..Config::default()
        };
        crate::open_state(config).await.unwrap()
    }

    fn job(kind: &str, max_attempts: i64) -> NewJob {
        NewJob {
            kind: kind.into(),
            payload: serde_json::json!({}),
            run_at: Timestamp::from_micros(0),
            max_attempts,
            dedupe_key: None,
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_micros(secs * 1_000_000)
    }

    #[tokio::test]
    async fn transient_failures_back_off_then_die() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path()).await;
        app.store.enqueue_job(&job("flaky", 3)).await.unwrap();
        let runner = Runner::new(app.clone());
        let fail = |_| async { Err(JobError::Transient("portal timed out".into())) };

        let first = runner.run_one_with(at(100), fail).await.unwrap().unwrap();
        assert_eq!(first.attempts, 1);
        assert!(
            runner.run_one_with(at(100), fail).await.unwrap().is_none(),
            "not due during backoff"
        );
        let queued = &app.store.jobs().await.unwrap()[0];
        assert_eq!(
            (queued.state.clone(), queued.run_at),
            (JobState::Queued, at(101)),
            "1 s backoff"
        );
        assert_eq!(queued.last_error.as_deref(), Some("portal timed out"));

        runner.run_one_with(at(101), fail).await.unwrap().unwrap();
        assert_eq!(
            app.store.jobs().await.unwrap()[0].run_at,
            at(103),
            "then 2 s"
        );
        assert!(runner.run_one_with(at(102), fail).await.unwrap().is_none());
        let third = runner.run_one_with(at(103), fail).await.unwrap().unwrap();
        assert_eq!(third.attempts, 3);
        let dead = &app.store.jobs().await.unwrap()[0];
        assert_eq!(dead.state, JobState::Dead, "max_attempts reached");
        assert!(
            runner
                .run_one_with(at(10_000), fail)
                .await
                .unwrap()
                .is_none(),
            "dead jobs stay dead"
        );
    }

    /// A sync whose job keeps losing its worker ends `error` ("worker
    /// lost") when the job is given up, instead of staying in progress.
    #[tokio::test]
    async fn a_sync_whose_job_dies_ends_worker_lost() {
        use crate::domain::{SyncJob, SyncStatus, TriggerMethod};
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path()).await;
        crate::service::keys::create(app.store.as_ref(), "o", "u", None)
            .await
            .unwrap();
        let now = Timestamp::now();
        let connector = crate::domain::connector::research_fixture(now);
        app.store.insert_connector(&connector).await.unwrap();
        let sync = SyncJob {
            id: Uuid::now_v7(),
            connector_id: connector.id,
            status: SyncStatus::Pending,
            trigger_method: TriggerMethod::OnDemand,
            date_limit: None,
            created_at: now,
            started_at: None,
            completed_at: None,
            indexed_document_count: 0,
            skipped_document_count: 0,
            error: None,
            errors: vec![],
        };
        let mut run = JobSpec::RunSync {
            sync_job_id: sync.id,
        }
        .new_job(&app.config.jobs);
        run.max_attempts = 1;
        run.run_at = at(0);
        app.store.create_sync_job(&sync, &run).await.unwrap();
        app.store.start_sync_job(sync.id, at(1)).await.unwrap();
        // A worker claims it and dies; after its lease the next claim is
        // one attempt too many.
        let lease = app.config.jobs.lease_duration();
        app.store
            .claim_job("dead-worker", at(1), lease)
            .await
            .unwrap();
        let later = Timestamp::from_micros(at(1).as_micros() + lease.as_micros() as i64 + 1);
        let runner = Runner::new(app.clone());
        runner.run_one(later).await.unwrap().unwrap();
        let job = app.store.sync_job(sync.id).await.unwrap().unwrap();
        assert_eq!(job.status, SyncStatus::Error);
        assert!(
            job.error.as_deref().unwrap().starts_with("worker lost"),
            "{job:?}"
        );
        assert_eq!(app.store.jobs().await.unwrap()[0].state, JobState::Dead);
    }

    #[tokio::test]
    async fn success_removes_the_job_and_permanent_failures_die_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path()).await;
        let runner = Runner::new(app.clone());
        app.store.enqueue_job(&job("ok", 5)).await.unwrap();
        runner
            .run_one_with(at(1), |_| async { Ok(Step::Done) })
            .await
            .unwrap()
            .unwrap();
        assert!(app.store.jobs().await.unwrap().is_empty());

        app.store
            .enqueue_job(&job("unknown-kind", 5))
            .await
            .unwrap();
        runner.run_one(at(1)).await.unwrap().unwrap();
        let dead = &app.store.jobs().await.unwrap()[0];
        assert_eq!(dead.state, JobState::Dead);
        assert!(dead
            .last_error
            .as_deref()
            .unwrap()
            .contains("unknown job kind"));
    }

    #[tokio::test]
    async fn a_job_that_does_not_decode_is_dead_at_once_saying_why() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path()).await;
        let runner = Runner::new(app.clone());
        let mut bad = job("process_document", 5);
        bad.payload = serde_json::json!({ "document_id": 42 });
        app.store.enqueue_job(&bad).await.unwrap();
        let mut missing = job("run_sync", 5);
        missing.payload = serde_json::json!({ "sync_job": "x" });
        app.store.enqueue_job(&missing).await.unwrap();

        assert_eq!(runner.run_pending().await.unwrap(), 2);
        let mut errors: Vec<String> = app
            .store
            .jobs()
            .await
            .unwrap()
            .into_iter()
            .map(|j| {
                assert_eq!((j.state, j.attempts), (JobState::Dead, 1), "{}", j.kind);
                j.last_error.unwrap()
            })
            .collect();
        errors.sort();
        assert_eq!(
            errors,
            [
                "malformed process_document job: payload.document_id: invalid type: integer `42`, expected a string",
                "malformed run_sync job: payload: missing field `sync_job_id`",
            ]
        );
    }

    #[tokio::test]
    async fn a_job_that_makes_progress_runs_again_without_using_attempts() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path()).await;
        let runner = Runner::new(app.clone());
        app.store.enqueue_job(&job("long", 1)).await.unwrap();
        for _ in 0..5 {
            runner
                .run_one_with(at(1), |_| async { Ok(Step::Again) })
                .await
                .unwrap()
                .unwrap();
        }
        let queued = &app.store.jobs().await.unwrap()[0];
        assert_eq!(
            (queued.state.clone(), queued.attempts),
            (JobState::Queued, 0)
        );
        runner
            .run_one_with(at(1), |_| async { Ok(Step::Done) })
            .await
            .unwrap()
            .unwrap();
        assert!(app.store.jobs().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_expired_lease_lets_another_worker_take_the_job() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path()).await;
        app.store.enqueue_job(&job("slow", 5)).await.unwrap();
        let lease = app.config.jobs.lease_duration();
        let crashed = app
            .store
            .claim_job("worker-a", at(10), lease)
            .await
            .unwrap()
            .unwrap();
        assert!(
            app.store
                .claim_job("worker-b", at(10), lease)
                .await
                .unwrap()
                .is_none(),
            "leased"
        );
        // A queued job due as well: the one whose worker died goes first.
        app.store.enqueue_job(&job("next", 6)).await.unwrap();
        let later = Timestamp::from_micros(at(10).as_micros() + lease.as_micros() as i64 + 1);
        let taken = app
            .store
            .claim_job("worker-b", later, lease)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((taken.id, taken.attempts), (crashed.id, 2));
        // The first worker's late completion is ignored: it lost the lease.
        app.store.finish_job(crashed.id, "worker-a").await.unwrap();
        assert_eq!(app.store.jobs().await.unwrap().len(), 2);
        app.store.finish_job(taken.id, "worker-b").await.unwrap();
        let next = app
            .store
            .claim_job("worker-b", later, lease)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(next.id, crashed.id);
        app.store.finish_job(next.id, "worker-b").await.unwrap();
        assert!(app.store.jobs().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn released_leases_are_claimable_at_once_and_dedupe_keys_hold() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path()).await;
        let mut j = job("dedupe", 5);
        j.dedupe_key = Some("one".into());
        assert!(app.store.enqueue_job(&j).await.unwrap());
        assert!(
            !app.store.enqueue_job(&j).await.unwrap(),
            "same key while pending"
        );
        let claimed = app
            .store
            .claim_job("a", at(1), Duration::from_secs(300))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(app.store.release_leases("a").await.unwrap(), 1);
        let again = app
            .store
            .claim_job("b", at(1), Duration::from_secs(300))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (again.id, again.attempts),
            (claimed.id, 1),
            "a released job does not count an attempt"
        );
    }
}
