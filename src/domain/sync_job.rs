//! Sync jobs (from Elasticsearch's connector API): one run of a research
//! connector's portal sync, and its state machine.

use super::Timestamp;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncStatus {
    Pending,
    InProgress,
    Canceling,
    Canceled,
    Completed,
    Error,
}

impl SyncStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Canceling => "canceling",
            Self::Canceled => "canceled",
            Self::Completed => "completed",
            Self::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "in_progress" => Self::InProgress,
            "canceling" => Self::Canceling,
            "canceled" => Self::Canceled,
            "completed" => Self::Completed,
            "error" => Self::Error,
            _ => return None,
        })
    }

    /// Terminal states never change again.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Canceled | Self::Completed | Self::Error)
    }

    /// Where a cancel request takes a job: a pending one is canceled at once,
    /// a running one is asked to stop. `None` when it is already finished.
    pub fn on_cancel(self) -> Option<Self> {
        match self {
            Self::Pending => Some(Self::Canceled),
            Self::InProgress | Self::Canceling => Some(Self::Canceling),
            _ => None,
        }
    }

    /// The connector's `last_sync_status` for a finished job.
    pub fn connector_status(self) -> &'static str {
        match self {
            Self::Completed => "SUCCESS",
            Self::Error => "FAILED",
            Self::Canceled => "CANCELED",
            _ => "IN_PROGRESS",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerMethod {
    OnDemand,
    Scheduled,
}

impl TriggerMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnDemand => "on_demand",
            Self::Scheduled => "scheduled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "on_demand" => Some(Self::OnDemand),
            "scheduled" => Some(Self::Scheduled),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncJob {
    pub id: Uuid,
    pub connector_id: Uuid,
    pub status: SyncStatus,
    pub trigger_method: TriggerMethod,
    /// `YYYY-MM-DD`: files modified on or after it; `None`: everything.
    pub date_limit: Option<String>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub indexed_document_count: i64,
    pub skipped_document_count: i64,
    pub error: Option<String>,
    /// Files given up on after their retries (the first [`MAX_FILE_ERRORS`]).
    pub errors: Vec<FileError>,
}

/// Files listed in a sync job's `errors` at most.
pub const MAX_FILE_ERRORS: usize = 100;

/// What a running sync has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncCounts {
    pub indexed: i64,
    pub skipped: i64,
    /// The first [`MAX_FILE_ERRORS`] files given up on.
    pub errors: Vec<FileError>,
}

impl SyncCounts {
    /// A file given up on: counted as skipped, and listed while the list
    /// has room.
    pub fn give_up(&mut self, remote_path: &str, message: String) {
        self.skipped += 1;
        if self.errors.len() < MAX_FILE_ERRORS {
            self.errors.push(FileError {
                remote_path: remote_path.to_string(),
                message,
            });
        }
    }
}

/// A file a sync skipped after retrying it, and why (no secret in `message`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileError {
    pub remote_path: String,
    pub message: String,
}

/// A `YYYY-MM-DD` date, as the sync endpoint takes it.
pub fn parse_date_limit(raw: &str) -> Option<String> {
    let date = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    (date.format("%Y-%m-%d").to_string() == raw).then(|| raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_follows_elasticsearch() {
        assert_eq!(SyncStatus::Pending.on_cancel(), Some(SyncStatus::Canceled));
        assert_eq!(
            SyncStatus::InProgress.on_cancel(),
            Some(SyncStatus::Canceling)
        );
        assert_eq!(
            SyncStatus::Canceling.on_cancel(),
            Some(SyncStatus::Canceling)
        );
        for done in [
            SyncStatus::Canceled,
            SyncStatus::Completed,
            SyncStatus::Error,
        ] {
            assert!(done.is_finished());
            assert_eq!(done.on_cancel(), None);
        }
    }

    #[test]
    fn date_limits_are_strict_dates() {
        assert_eq!(
            parse_date_limit("2026-02-11").as_deref(),
            Some("2026-02-11")
        );
        for bad in [
            "2026-2-11",
            "2026-02-30",
            "11/02/2026",
            "2026-02-11T00:00:00Z",
            "",
        ] {
            assert!(parse_date_limit(bad).is_none(), "{bad}");
        }
    }
}
