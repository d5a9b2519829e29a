//! Bytes become a document the same way for every origin: e-mail messages,
//! their attachments, sync files and uploads. Building the row, the
//! empty-file rule, inserting, keeping or dropping the blob and waking the
//! workers for a follow-up happen here once.

use super::jobs::JobSpec;
use super::AppState;
use crate::domain::document::status_for_size;
use crate::domain::{Document, DocumentId, DocumentStatus, Event, RequestOrigin, Timestamp};
use crate::error::{Error, Result};
use crate::store::{Ingest, Ingested};
use serde_json::{Map, Value};
use uuid::Uuid;

/// A document about to be stored.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub id: DocumentId,
    pub user_id: String,
    pub org_id: String,
    /// For a connector's document, the store applies the connector's
    /// sharing as it is when the row is written.
    pub share_with_org: bool,
    pub connector_id: Option<Uuid>,
    pub rp_collection_id: Option<String>,
    pub file_name: String,
    pub origin: RequestOrigin,
    pub published_at: Option<Timestamp>,
    pub metadata: Map<String, Value>,
    /// `None` for an upload whose bytes come later.
    pub content: Option<Content>,
}

/// Bytes already durably in the blob store.
#[derive(Debug, Clone)]
pub struct Content {
    pub blob_key: String,
    pub size: u64,
    pub sha256: String,
    pub content_type: String,
    /// Whether the blob is deleted when the document is not stored; `false`
    /// while the caller still has a use for it (the next recipient of the
    /// same message).
    pub drop_if_refused: bool,
}

/// Who brings the document in, and so which rules admit it.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// A client's own upload, with the tags they chose.
    Upload { tags: &'a [String] },
    /// A connector; the store checks these rules in the insert's transaction.
    Connector(Admission<'a>),
}

#[derive(Debug, Clone, Copy)]
pub struct Admission<'a> {
    /// Tags ingestion adds by itself.
    pub auto_tags: &'a [String],
    /// At most one document per connector and key.
    pub dedupe_key: &'a str,
    /// Enqueued with the document, in the same transaction.
    pub follow_up: Option<&'a JobSpec>,
    /// Parts of a message accepted earlier are still kept when the connector
    /// was archived since (never while it is being deleted).
    pub also_archived: bool,
    /// When given, one must (still) be an allowed sender.
    pub senders: Option<&'a [&'a str]>,
    /// The activity-log entry of a stored document, written with it.
    pub event: Option<&'a Event>,
}

/// How ingesting a document ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ingestion {
    /// Stored. An upload's document is as the store returned it; a
    /// connector's, as built (its sharing and tags are the store's to set).
    Stored(Box<Document>),
    /// The connector already holds a document with this dedupe key.
    Duplicate,
    /// The connector was archived or is being deleted.
    ConnectorInactive,
    /// The connector is paused.
    Paused,
    /// None of the senders is (any longer) allowed.
    SenderNotAllowed,
}

impl NewDocument {
    /// The row: `pending` without bytes; with bytes, `processing` (the
    /// processing job makes it `completed`) unless the empty-file rule
    /// fails it.
    fn into_document(self, now: Timestamp) -> Document {
        let (status, error_code) = match &self.content {
            None => (DocumentStatus::Pending, None),
            Some(c) => match status_for_size(c.size) {
                (DocumentStatus::Completed, code) => (DocumentStatus::Processing, code),
                other => other,
            },
        };
        let content = self.content;
        Document {
            id: self.id,
            user_id: self.user_id,
            org_id: self.org_id,
            connector_id: self.connector_id,
            rp_collection_id: self.rp_collection_id,
            file_name: self.file_name,
            raw_size: content.as_ref().map(|c| c.size as i64),
            content_type: content.as_ref().map(|c| c.content_type.clone()),
            request_origin: self.origin,
            status,
            error_code: error_code.map(str::to_string),
            share_with_org: self.share_with_org,
            published_at: self.published_at,
            created_at: now,
            updated_at: now,
            file_metadata: self.metadata,
            sha256: content.as_ref().map(|c| c.sha256.clone()),
            blob_key: content.map(|c| c.blob_key),
            tags: Vec::new(),
        }
    }
}

/// Stores `new` if `source`'s rules admit it; bytes of a document not
/// stored are deleted unless the caller keeps them.
pub async fn ingest(app: &AppState, new: NewDocument, source: Source<'_>) -> Result<Ingestion> {
    let drop_if_refused = new.content.as_ref().is_some_and(|c| c.drop_if_refused);
    let doc = new.into_document(Timestamp::now());
    let rules = match source {
        Source::Upload { tags } => {
            let stored = app.store.insert_document(&doc, tags, &[]).await?;
            return Ok(Ingestion::Stored(Box::new(stored)));
        }
        Source::Connector(rules) => rules,
    };
    let process = JobSpec::ProcessDocument {
        document_id: doc.id.clone(),
    };
    let follow_ups: Vec<_> = (doc.status == DocumentStatus::Processing)
        .then_some(&process)
        .into_iter()
        .chain(rules.follow_up)
        .map(|spec| spec.new_job(&app.config.jobs))
        .collect();
    let ingest = Ingest {
        doc: &doc,
        auto_tags: rules.auto_tags,
        dedupe_key: rules.dedupe_key,
        follow_ups: &follow_ups,
        also_archived: rules.also_archived,
        senders: rules.senders,
        event: rules.event,
    };
    let outcome = match app.store.insert_ingested(&ingest).await? {
        Ingested::Stored => {
            if !follow_ups.is_empty() {
                app.wake_jobs.notify_one();
            }
            return Ok(Ingestion::Stored(Box::new(doc)));
        }
        Ingested::Duplicate => Ingestion::Duplicate,
        Ingested::ConnectorInactive => Ingestion::ConnectorInactive,
        Ingested::Paused => Ingestion::Paused,
        Ingested::SenderNotAllowed => Ingestion::SenderNotAllowed,
    };
    if let (true, Some(key)) = (drop_if_refused, &doc.blob_key) {
        app.blobs.delete(key).await.map_err(Error::blob)?;
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Connector;
    use crate::service::connectors::{self, DeleteOptions};
    use crate::service::testing::TestApp;

    const SENDER: &str = "desk@broker.example";

    /// A connector's document whose bytes are stored under a fresh key.
    async fn incoming(t: &TestApp, connector: &Connector, bytes: &[u8]) -> NewDocument {
        let (blob_key, sha256) = t.put(bytes).await;
        NewDocument {
            id: DocumentId::new(),
            user_id: connector.user_id.clone(),
            org_id: connector.org_id.clone(),
            share_with_org: false,
            connector_id: Some(connector.id),
            rp_collection_id: None,
            file_name: "report.pdf".into(),
            origin: RequestOrigin::Email,
            published_at: None,
            metadata: Map::new(),
            content: Some(Content {
                blob_key,
                size: bytes.len() as u64,
                sha256,
                content_type: crate::domain::content_type::of(bytes, "report.pdf"),
                drop_if_refused: true,
            }),
        }
    }

    fn admission<'a>(dedupe_key: &'a str, senders: Option<&'a [&'a str]>) -> Admission<'a> {
        Admission {
            auto_tags: &[],
            dedupe_key,
            follow_up: None,
            also_archived: false,
            senders,
            event: None,
        }
    }

    fn key(new: &NewDocument) -> String {
        new.content.as_ref().unwrap().blob_key.clone()
    }

    #[tokio::test]
    async fn the_same_dedupe_key_stores_once_and_the_duplicate_bytes_go() {
        let t = TestApp::new().await;
        let c = t.email_connector(&[SENDER]).await;
        let first = incoming(&t, &c, b"%PDF-1.7 first").await;
        let again = incoming(&t, &c, b"%PDF-1.7 again").await;
        let (first_key, again_key) = (key(&first), key(&again));

        let stored = ingest(&t.app, first, Source::Connector(admission("k", None)))
            .await
            .unwrap();
        let Ingestion::Stored(doc) = stored else {
            panic!("{stored:?}")
        };
        assert_eq!(
            ingest(&t.app, again, Source::Connector(admission("k", None)))
                .await
                .unwrap(),
            Ingestion::Duplicate
        );
        assert!(t.blob_exists(&first_key).await);
        assert!(!t.blob_exists(&again_key).await, "a duplicate's bytes go");
        let row = t.app.store.document(&doc.id).await.unwrap().unwrap();
        assert_eq!(
            (row.status, row.content_type.as_deref()),
            (DocumentStatus::Processing, Some("application/pdf"))
        );
        assert_eq!(
            t.connector(c.id).await.unwrap().files_count,
            1,
            "counted once"
        );
    }

    #[tokio::test]
    async fn an_archived_connector_takes_late_attachments_but_no_new_mail() {
        let t = TestApp::new().await;
        let c = t.email_connector(&[SENDER]).await;
        connectors::delete(&t.app, &t.owner, c.id, DeleteOptions::default())
            .await
            .unwrap();
        let senders = [SENDER];

        let mail = incoming(&t, &c, b"a message").await;
        let mail_key = key(&mail);
        let outcome = ingest(
            &t.app,
            mail,
            Source::Connector(admission("m", Some(&senders))),
        )
        .await
        .unwrap();
        assert_eq!(outcome, Ingestion::ConnectorInactive);
        assert!(!t.blob_exists(&mail_key).await);

        let part = incoming(&t, &c, b"an attachment").await;
        let late = Admission {
            also_archived: true,
            ..admission("m/attachment/0", None)
        };
        let outcome = ingest(&t.app, part, Source::Connector(late)).await.unwrap();
        assert!(matches!(outcome, Ingestion::Stored(_)), "{outcome:?}");
    }

    #[tokio::test]
    async fn the_sender_rule_is_checked_again_when_stored() {
        let t = TestApp::new().await;
        let c = t.email_connector(&[SENDER]).await;
        let strangers = ["other@broker.example"];

        let refused = incoming(&t, &c, b"mail").await;
        let refused_key = key(&refused);
        let outcome = ingest(
            &t.app,
            refused,
            Source::Connector(admission("a", Some(&strangers))),
        )
        .await
        .unwrap();
        assert_eq!(outcome, Ingestion::SenderNotAllowed);
        assert!(!t.blob_exists(&refused_key).await);

        // Bytes the caller still needs stay, whatever the outcome.
        let mut kept = incoming(&t, &c, b"mail").await;
        kept.content.as_mut().unwrap().drop_if_refused = false;
        let kept_key = key(&kept);
        let outcome = ingest(
            &t.app,
            kept,
            Source::Connector(admission("b", Some(&strangers))),
        )
        .await
        .unwrap();
        assert_eq!(outcome, Ingestion::SenderNotAllowed);
        assert!(t.blob_exists(&kept_key).await);

        let spelled = ["DESK@Broker.Example"];
        let allowed = incoming(&t, &c, b"mail").await;
        let outcome = ingest(
            &t.app,
            allowed,
            Source::Connector(admission("c", Some(&spelled))),
        )
        .await
        .unwrap();
        assert!(matches!(outcome, Ingestion::Stored(_)), "{outcome:?}");
    }

    #[tokio::test]
    async fn an_empty_file_is_stored_failed_and_a_follow_up_is_queued_typed() {
        let t = TestApp::new().await;
        let c = t.email_connector(&[SENDER]).await;
        let empty = incoming(&t, &c, b"").await;
        let id = empty.id.clone();
        let follow_up = JobSpec::ExtractAttachments {
            document_id: id.clone(),
        };
        let rules = Admission {
            follow_up: Some(&follow_up),
            ..admission("e", None)
        };
        ingest(&t.app, empty, Source::Connector(rules))
            .await
            .unwrap();
        let row = t.app.store.document(&id).await.unwrap().unwrap();
        assert_eq!(
            (row.status, row.error_code.as_deref(), row.raw_size),
            (DocumentStatus::Failed, Some("EMPTY_FILE"), Some(0))
        );
        let jobs = t.app.store.jobs().await.unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(JobSpec::try_from(&jobs[0]).unwrap(), follow_up);

        // A duplicate queues nothing more.
        let again = incoming(&t, &c, b"").await;
        let rules = Admission {
            follow_up: Some(&follow_up),
            ..admission("e", None)
        };
        ingest(&t.app, again, Source::Connector(rules))
            .await
            .unwrap();
        assert_eq!(t.app.store.jobs().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_upload_starts_pending_with_its_owners_tags() {
        let t = TestApp::new().await;
        let new = NewDocument {
            id: DocumentId::new(),
            user_id: t.owner.user_id.clone(),
            org_id: t.owner.org_id.clone(),
            share_with_org: true,
            connector_id: None,
            rp_collection_id: None,
            file_name: "notes.txt".into(),
            origin: RequestOrigin::FileUpload,
            published_at: None,
            metadata: Map::new(),
            content: None,
        };
        let tags = ["q3".to_string()];
        let outcome = ingest(&t.app, new, Source::Upload { tags: &tags })
            .await
            .unwrap();
        let Ingestion::Stored(doc) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(
            (doc.status, doc.raw_size, doc.blob_key, doc.share_with_org),
            (DocumentStatus::Pending, None, None, true)
        );
        let names: Vec<&str> = doc.tags.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["q3"]);
    }
}
