//! The background work use cases ask for, as one typed value, and how a run
//! of it ends. The queue stores a kind and a JSON payload; this is their
//! only encoder and decoder, and its spelling is the format of the jobs
//! already queued in existing databases: kinds, payload field names and
//! dedupe keys must not change.

use crate::config::JobsConfig;
use crate::domain::{DocumentId, Timestamp};
use crate::store::{Job, NewJob};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum JobSpec {
    /// Size, hash and type of an uploaded document's bytes.
    ProcessDocument { document_id: DocumentId },
    /// A completed document processed again (`inlet admin reprocess`); it
    /// stays `completed`, with its earlier content, until the new is written.
    ReprocessDocument { document_id: DocumentId },
    /// A stored e-mail's attachments become documents.
    ExtractAttachments { document_id: DocumentId },
    /// The hard delete of a connector, after it turned `deleting`.
    PurgeConnector { connector_id: Uuid },
    /// A portal sync that was recorded as pending.
    RunSync { sync_job_id: Uuid },
    /// The full-text index's segments merged into one, a step at a time.
    CompactSearchIndex {},
}

/// A job found in the queue that can never run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobDecodeError {
    #[error("unknown job kind {0:?}")]
    UnknownKind(String),
    #[error("malformed {kind} job: {reason}")]
    Malformed { kind: String, reason: String },
}

/// How a job step that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The job is complete.
    Done,
    /// Progress was made and more remains: run again soon, without counting
    /// an attempt (keeps each run short, well within its lease).
    Again,
}

/// How a job step ended when it did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another try later (I/O, database busy, …).
    #[error("{0}")]
    Transient(String),
    /// Will never succeed; retrying is pointless.
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    pub fn transient(e: impl std::fmt::Display) -> Self {
        Self::Transient(e.to_string())
    }
}

/// Attempts of a sync's job: a sync that fails talking to the portal ends
/// in `error` by itself; job retries are for our own failures, and resume.
const SYNC_ATTEMPTS: i64 = 8;

impl JobSpec {
    /// Every kind the queue may hold.
    pub const KINDS: &'static [&'static str] = &[
        "process_document",
        "reprocess_document",
        "extract_attachments",
        "purge_connector",
        "run_sync",
        "compact_search_index",
    ];

    pub fn kind(&self) -> &'static str {
        match self {
            Self::ProcessDocument { .. } => "process_document",
            Self::ReprocessDocument { .. } => "reprocess_document",
            Self::ExtractAttachments { .. } => "extract_attachments",
            Self::PurgeConnector { .. } => "purge_connector",
            Self::RunSync { .. } => "run_sync",
            Self::CompactSearchIndex {} => "compact_search_index",
        }
    }

    /// What the job is about: at most one is pending per kind and subject.
    fn subject(&self) -> String {
        match self {
            Self::ProcessDocument { document_id }
            | Self::ReprocessDocument { document_id }
            | Self::ExtractAttachments { document_id } => document_id.to_string(),
            Self::PurgeConnector { connector_id } => connector_id.to_string(),
            Self::RunSync { sync_job_id } => sync_job_id.to_string(),
            // One index per database.
            Self::CompactSearchIndex {} => "index".to_string(),
        }
    }

    fn max_attempts(&self, jobs: &JobsConfig) -> i64 {
        match self {
            Self::ProcessDocument { .. }
            | Self::ReprocessDocument { .. }
            | Self::ExtractAttachments { .. }
            | Self::CompactSearchIndex {} => jobs.max_attempts,
            Self::RunSync { .. } => SYNC_ATTEMPTS,
            // A connector must not stay `deleting` for good because storage
            // failed for a while: its retries back off to once an hour.
            Self::PurgeConnector { .. } => i64::MAX,
        }
    }

    /// The job to enqueue, due now.
    pub fn new_job(&self, jobs: &JobsConfig) -> NewJob {
        let Wire { kind, payload } = serde_json::to_value(self)
            .and_then(serde_json::from_value)
            .expect("a job spec encodes as a kind and a payload");
        NewJob {
            dedupe_key: Some(format!("{kind}:{}", self.subject())),
            kind,
            payload,
            run_at: Timestamp::now(),
            max_attempts: self.max_attempts(jobs),
        }
    }
}

/// How the queue stores a job.
#[derive(Serialize, Deserialize)]
struct Wire {
    kind: String,
    payload: serde_json::Value,
}

impl TryFrom<&Job> for JobSpec {
    type Error = JobDecodeError;

    fn try_from(job: &Job) -> Result<Self, JobDecodeError> {
        if !Self::KINDS.contains(&job.kind.as_str()) {
            return Err(JobDecodeError::UnknownKind(job.kind.clone()));
        }
        let wire = Wire {
            kind: job.kind.clone(),
            payload: job.payload.clone(),
        };
        let malformed = |reason: String| JobDecodeError::Malformed {
            kind: job.kind.clone(),
            reason,
        };
        let value = serde_json::to_value(wire).map_err(|e| malformed(e.to_string()))?;
        // The path names the payload field at fault.
        serde_path_to_error::deserialize(value).map_err(|e| malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::JobState;
    use serde_json::json;

    fn queued(kind: &str, payload: serde_json::Value) -> Job {
        Job {
            id: Uuid::now_v7(),
            kind: kind.into(),
            payload,
            state: JobState::Queued,
            run_at: Timestamp::now(),
            attempts: 1,
            max_attempts: 8,
            last_error: None,
        }
    }

    fn one_of_each() -> Vec<JobSpec> {
        vec![
            JobSpec::ProcessDocument {
                document_id: DocumentId::new(),
            },
            JobSpec::ReprocessDocument {
                document_id: DocumentId::new(),
            },
            JobSpec::ExtractAttachments {
                document_id: DocumentId::new(),
            },
            JobSpec::PurgeConnector {
                connector_id: Uuid::now_v7(),
            },
            JobSpec::RunSync {
                sync_job_id: Uuid::now_v7(),
            },
            JobSpec::CompactSearchIndex {},
        ]
    }

    #[test]
    fn every_spec_survives_the_queue() {
        let config = JobsConfig::default();
        let specs = one_of_each();
        let kinds: Vec<&str> = specs.iter().map(JobSpec::kind).collect();
        assert_eq!(kinds, JobSpec::KINDS, "KINDS lists every variant");
        for spec in specs {
            let new = spec.new_job(&config);
            assert_eq!(new.kind, spec.kind());
            let job = queued(&new.kind, new.payload);
            assert_eq!(JobSpec::try_from(&job).unwrap(), spec);
        }
    }

    /// The format written before the typed spec existed, byte for byte.
    #[test]
    fn jobs_queued_by_earlier_versions_still_decode() {
        let doc = "0190F3A2B4C57D8E9FA0B1C2D3E4F506";
        let id = "0190f3a2-b4c5-7d8e-9fa0-b1c2d3e4f506";
        let uuid = Uuid::try_parse(id).unwrap();
        let document_id = DocumentId::parse(doc).unwrap();
        let cases = [
            (
                "process_document",
                json!({ "document_id": doc }),
                JobSpec::ProcessDocument {
                    document_id: document_id.clone(),
                },
                8,
            ),
            (
                "extract_attachments",
                json!({ "document_id": doc }),
                JobSpec::ExtractAttachments { document_id },
                8,
            ),
            (
                "purge_connector",
                json!({ "connector_id": id }),
                JobSpec::PurgeConnector { connector_id: uuid },
                i64::MAX,
            ),
            (
                "run_sync",
                json!({ "sync_job_id": id }),
                JobSpec::RunSync { sync_job_id: uuid },
                8,
            ),
        ];
        for (kind, payload, spec, max_attempts) in cases {
            let subject = payload.as_object().unwrap().values().next().unwrap();
            let dedupe_key = format!("{kind}:{}", subject.as_str().unwrap());
            assert_eq!(
                JobSpec::try_from(&queued(kind, payload.clone())).unwrap(),
                spec
            );
            let new = spec.new_job(&JobsConfig::default());
            assert_eq!(
                (
                    new.kind.as_str(),
                    &new.payload,
                    new.dedupe_key,
                    new.max_attempts
                ),
                (kind, &payload, Some(dedupe_key), max_attempts),
                "{kind} is written as before"
            );
        }
    }

    #[test]
    fn unknown_kinds_and_malformed_payloads_are_named() {
        let err = |kind: &str, payload| {
            JobSpec::try_from(&queued(kind, payload))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(err("send_fax", json!({})), r#"unknown job kind "send_fax""#);
        let missing = err("process_document", json!({}));
        assert!(
            missing.starts_with("malformed process_document job:")
                && missing.contains("document_id"),
            "{missing}"
        );
        let bad_id = err("extract_attachments", json!({ "document_id": "abc" }));
        assert!(bad_id.contains(r#""abc" is not a document id"#), "{bad_id}");
        let bad_uuid = err("run_sync", json!({ "sync_job_id": "not-a-uuid" }));
        assert!(
            bad_uuid.starts_with("malformed run_sync job:"),
            "{bad_uuid}"
        );
        let wrong_type = err("purge_connector", json!({ "connector_id": 7 }));
        assert!(
            wrong_type.starts_with("malformed purge_connector job: payload.connector_id: "),
            "{wrong_type}"
        );
        let not_an_object = err("purge_connector", json!(null));
        assert!(
            not_an_object.starts_with("malformed purge_connector job:"),
            "{not_an_object}"
        );
    }
}
