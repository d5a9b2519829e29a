//! A connector's activity log (contract §13): what happened to its input —
//! each e-mail accepted or refused, each sync file stored, skipped or
//! failed, each pause, resume and archive. Events hold addresses, subjects,
//! paths and reasons; never message bodies or secrets.

use super::Timestamp;
use uuid::Uuid;

/// Text fields are cut to this many characters (a subject is a header line,
/// not a body; a hostile one is still bounded).
pub const MAX_TEXT_CHARS: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    EmailAccepted,
    EmailRejected,
    SyncFileStored,
    SyncFileSkipped,
    SyncFileFailed,
    Paused,
    Resumed,
    Archived,
}

impl EventType {
    pub const ALL: [Self; 8] = [
        Self::EmailAccepted,
        Self::EmailRejected,
        Self::SyncFileStored,
        Self::SyncFileSkipped,
        Self::SyncFileFailed,
        Self::Paused,
        Self::Resumed,
        Self::Archived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmailAccepted => "email_accepted",
            Self::EmailRejected => "email_rejected",
            Self::SyncFileStored => "sync_file_stored",
            Self::SyncFileSkipped => "sync_file_skipped",
            Self::SyncFileFailed => "sync_file_failed",
            Self::Paused => "connector_paused",
            Self::Resumed => "connector_resumed",
            Self::Archived => "connector_archived",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Why an e-mail was refused (or accepted without being stored), or a sync
/// file skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventReason {
    SenderNotAllowed,
    /// SPF/DKIM/DMARC did not vouch for the sender (contract §12).
    SenderAuthFailed,
    TooLarge,
    InboxPaused,
    /// A redelivery of a message already stored: acknowledged, not stored again.
    Duplicate,
    /// Several `From` fields or mailboxes: whose message it is cannot be told.
    AmbiguousFrom,
    /// A sync file that kept failing and was skipped.
    FileError,
}

impl EventReason {
    pub const ALL: [Self; 7] = [
        Self::SenderNotAllowed,
        Self::SenderAuthFailed,
        Self::TooLarge,
        Self::InboxPaused,
        Self::Duplicate,
        Self::AmbiguousFrom,
        Self::FileError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SenderNotAllowed => "sender_not_allowed",
            Self::SenderAuthFailed => "sender_auth_failed",
            Self::TooLarge => "too_large",
            Self::InboxPaused => "inbox_paused",
            Self::Duplicate => "duplicate",
            Self::AmbiguousFrom => "ambiguous_from",
            Self::FileError => "file_error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// One entry of the log; `count` repeats of the same refusal within a
/// minute share it (`occurred_at` the first, `last_at` the latest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: Uuid,
    pub connector_id: Uuid,
    pub kind: EventType,
    pub reason: Option<EventReason>,
    pub occurred_at: Timestamp,
    pub last_at: Timestamp,
    pub count: i64,
    pub envelope_from: Option<String>,
    pub header_from: Option<String>,
    pub subject: Option<String>,
    pub recipient: Option<String>,
    pub smtp_code: Option<u16>,
    pub document_ids: Vec<String>,
    pub sync_job_id: Option<Uuid>,
    pub remote_path: Option<String>,
    pub message: Option<String>,
}

impl Event {
    pub fn new(connector_id: Uuid, kind: EventType, at: Timestamp) -> Self {
        Self {
            id: Uuid::now_v7(),
            connector_id,
            kind,
            reason: None,
            occurred_at: at,
            last_at: at,
            count: 1,
            envelope_from: None,
            header_from: None,
            subject: None,
            recipient: None,
            smtp_code: None,
            document_ids: Vec::new(),
            sync_job_id: None,
            remote_path: None,
            message: None,
        }
    }

    /// Events with the same key are one row with a `count`: an e-mail
    /// refused (or a duplicate acknowledged) for the same connector, type,
    /// sender, reason and minute. A flood of refused mail then grows the log
    /// by one row per sender and minute, not one per message. Everything
    /// else is its own row.
    pub fn coalesce_key(&self) -> String {
        let mail = matches!(
            self.kind,
            EventType::EmailAccepted | EventType::EmailRejected
        );
        match (mail, self.reason) {
            (true, Some(reason)) => format!(
                "{}|{}|{}|{}|{}|{}",
                self.connector_id,
                self.kind.as_str(),
                self.envelope_from.as_deref().unwrap_or("").to_lowercase(),
                self.header_from.as_deref().unwrap_or("").to_lowercase(),
                reason.as_str(),
                self.occurred_at.as_secs().div_euclid(60),
            ),
            _ => self.id.to_string(),
        }
    }
}

/// Cuts client-supplied text to [`MAX_TEXT_CHARS`] characters, dropping
/// control characters.
pub fn clip(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_TEXT_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        for r in EventReason::ALL {
            assert_eq!(EventReason::parse(r.as_str()), Some(r));
        }
        assert_eq!(EventType::parse("nope"), None);
    }

    #[test]
    fn refusals_coalesce_by_sender_reason_and_minute() {
        let c = Uuid::now_v7();
        let at = Timestamp::from_micros(120_000_000);
        let refused = |sender: &str, at: Timestamp, reason| {
            let mut e = Event::new(c, EventType::EmailRejected, at);
            e.envelope_from = Some(sender.into());
            e.reason = Some(reason);
            e
        };
        let a = refused("Spam@x.example", at, EventReason::SenderNotAllowed);
        let same_minute = Timestamp::from_micros(at.as_micros() + 59_000_000);
        let b = refused("spam@x.example", same_minute, EventReason::SenderNotAllowed);
        assert_eq!(a.coalesce_key(), b.coalesce_key());
        let next_minute = Timestamp::from_micros(at.as_micros() + 60_000_000);
        let later = refused("spam@x.example", next_minute, EventReason::SenderNotAllowed);
        assert_ne!(a.coalesce_key(), later.coalesce_key());
        let other = refused("other@x.example", at, EventReason::SenderNotAllowed);
        assert_ne!(a.coalesce_key(), other.coalesce_key());
        let reason = refused("spam@x.example", at, EventReason::TooLarge);
        assert_ne!(a.coalesce_key(), reason.coalesce_key());
        let accepted = Event::new(c, EventType::EmailAccepted, at);
        assert_eq!(accepted.coalesce_key(), accepted.id.to_string());
    }

    #[test]
    fn clip_bounds_and_strips_controls() {
        assert_eq!(clip("a\r\nb"), "ab");
        assert_eq!(clip(&"é".repeat(600)).chars().count(), MAX_TEXT_CHARS);
    }
}
