//! Prometheus metrics: one process-wide recorder, rendered by `GET /metrics`.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

pub const HTTP_REQUESTS: &str = "inlet_http_requests_total";
pub const HTTP_DURATION: &str = "inlet_http_request_duration_seconds";
pub const SMTP_SESSIONS: &str = "inlet_smtp_sessions_total";
pub const SMTP_MESSAGES: &str = "inlet_smtp_messages_total";
pub const JOBS: &str = "inlet_jobs_total";
pub const JOB_QUEUE: &str = "inlet_job_queue_depth";
pub const DOCUMENTS_PURGED: &str = "inlet_documents_purged_total";
pub const RATE_LIMITED: &str = "inlet_rate_limited_total";
pub const SYNCS: &str = "inlet_syncs_total";
/// Connectors by state (`active`, `paused`, `archived`, `deleting`).
pub const CONNECTORS: &str = "inlet_connectors";
/// Connector events written, by type and whether folded into an earlier one.
pub const EVENTS: &str = "inlet_connector_events_total";
/// Syncs whose worker died, resumed by another.
pub const SYNCS_TAKEN_OVER: &str = "inlet_syncs_taken_over_total";
/// Sync files given up on after their retries.
pub const SYNC_FILES_SKIPPED: &str = "inlet_sync_files_skipped_total";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// How often recorded durations are folded into their histograms.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the recorder now, and returns what folds recorded durations
/// into their histograms every few seconds. The recorder keeps each sample
/// until then (a scrape does it too), so without this a server nobody
/// scrapes would hold every request's duration: memory growing with the
/// request count.
pub fn keep_up() -> impl std::future::Future<Output = ()> + Send + 'static {
    // Before anything is served: metrics recorded before a recorder
    // exists are lost.
    let handle = handle();
    async move {
        let mut every = tokio::time::interval(UPKEEP_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            handle.run_upkeep();
        }
    }
}

/// Installs the recorder on first use and returns its handle.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(HTTP_DURATION.into()),
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            )
            .expect("bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder can only exist in tests that embed the library.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}
