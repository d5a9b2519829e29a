//! Email ingestion, independent of the SMTP protocol: which inbox a
//! recipient names, whether a sender may deliver to it, and storing an
//! accepted message as a document (attachments follow through a job).

use super::events::{self, MailFacts};
use super::ingest::{ingest, Admission, Content, Ingestion, NewDocument, Source};
use super::jobs::JobSpec;
use super::AppState;
use crate::domain::document::{auto_tag, eml_file_name};
use crate::domain::sender_auth::{Authentication, SenderAuthMode};
use crate::domain::{
    Connector, ConnectorState, DocumentId, EventReason, EventType, RequestOrigin, Timestamp,
};
use crate::error::{Error, Result};
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{json, Map};

/// What a `RCPT TO` address names.
#[derive(Debug)]
pub enum Recipient {
    /// An active email connector's inbox.
    Inbox(Box<Connector>),
    /// No such inbox (or not ours).
    Unknown,
    /// An inbox whose connector is archived or being deleted.
    Inactive,
    /// An inbox whose connector is paused: the sender should retry later.
    Paused(Box<Connector>),
}

pub async fn recipient(app: &AppState, address: &str) -> Result<Recipient> {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Ok(Recipient::Unknown);
    };
    if !domain.eq_ignore_ascii_case(&app.config.inbox_domain)
        || local.len() != 12
        || !local.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Ok(Recipient::Unknown);
    }
    Ok(
        match app
            .store
            .connector_by_email_hash(&local.to_ascii_lowercase())
            .await?
        {
            Some(c) if c.state == ConnectorState::Active => Recipient::Inbox(Box::new(c)),
            Some(c) if c.state == ConnectorState::Paused => Recipient::Paused(Box::new(c)),
            Some(_) => Recipient::Inactive,
            None => Recipient::Unknown,
        },
    )
}

/// A message whose bytes are already durably stored under `blob_key`.
#[derive(Debug)]
pub struct StoredMessage {
    pub blob_key: String,
    pub size: u64,
    pub sha256: String,
    /// Of the message as the client sent it (dedupe without a Message-ID);
    /// not computed when it has a `Message-ID` field.
    pub content_sha256: Option<String>,
    /// The header section (for From, Message-ID, Subject, …).
    pub headers: Vec<u8>,
    /// What sender authentication found (contract §12).
    pub authentication: Authentication,
}

/// How a delivery to all of a transaction's recipients ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Stored (or already stored: a redelivery) for at least one recipient.
    Accepted { stored: usize, duplicates: usize },
    /// No recipient allows this sender: nothing stored.
    SenderNotAllowed,
    /// Every recipient's connector stopped ingesting meanwhile: nothing stored.
    Inactive,
    /// A recipient's connector was paused meanwhile and none stored it:
    /// nothing stored, the sender should retry.
    Paused,
    /// Several `From` fields, or one naming a group or several mailboxes:
    /// whose message it is cannot be told, so nothing is stored.
    AmbiguousAuthor,
    /// A listed sender, but not authenticated (`sender_auth = "enforce"`):
    /// nothing stored.
    SenderAuthFailed,
    /// As `SenderAuthFailed`, but a DNS lookup failed in a way that may
    /// pass on a retry.
    SenderAuthTemporary,
}

/// Facts taken from a message's headers.
struct Headers {
    from: Option<String>,
    /// At most one `From` field, naming one mailbox (RFC 5322 §3.6.2; and
    /// DMARC judges a message by the one author domain).
    one_author: bool,
    to: Vec<String>,
    subject: Option<String>,
    message_id: Option<String>,
    date: Option<Timestamp>,
    /// Multipart, an attached message, or a body sent as an attachment:
    /// worth the job that extracts attachments.
    may_have_attachments: bool,
}

fn read_headers(raw: &[u8]) -> Headers {
    let Some(msg) = MessageParser::default().parse_headers(raw) else {
        return Headers {
            from: None,
            one_author: true,
            to: vec![],
            subject: None,
            message_id: None,
            date: None,
            may_have_attachments: false,
        };
    };
    let may_have_attachments = msg.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart") || ct.ctype().eq_ignore_ascii_case("message")
    }) || msg.attachment_name().is_some()
        || msg
            .content_disposition()
            .is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"));
    let from_fields = msg
        .headers()
        .iter()
        .filter(|h| h.name == mail_parser::HeaderName::From)
        .count();
    let one_author = match msg.from() {
        None => from_fields == 0,
        Some(mail_parser::Address::List(list)) => from_fields == 1 && list.len() == 1,
        Some(mail_parser::Address::Group(_)) => false,
    };
    Headers {
        one_author,
        from: msg
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_string),
        to: msg
            .to()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.address())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        subject: msg.subject().map(str::to_string),
        message_id: msg.message_id().map(str::to_string),
        date: msg.date().and_then(|d| Timestamp::parse(&d.to_rfc3339())),
        may_have_attachments,
    }
}

/// Stores `message` for every recipient that allows its sender (envelope
/// `mail_from` or header `From`). Each gets its own copy of the bytes; the
/// one under `message.blob_key` goes to the first. Bytes not kept are deleted.
pub async fn deliver(
    app: &AppState,
    mail_from: &str,
    recipients: &[Connector],
    message: StoredMessage,
) -> Result<Delivery> {
    let headers = read_headers(&message.headers);
    let facts = MailFacts {
        envelope_from: mail_from,
        header_from: headers.from.as_deref(),
        subject: headers.subject.as_deref(),
    };
    if !headers.one_author {
        app.blobs
            .delete(&message.blob_key)
            .await
            .map_err(Error::blob)?;
        events::email_refused(app, recipients, &facts, EventReason::AmbiguousFrom, 550).await;
        return Ok(Delivery::AmbiguousAuthor);
    }
    // A `Message-ID` field that does not parse leaves the stored bytes' hash,
    // unique per delivery: such a message is not deduplicated.
    let dedupe_key = match (&headers.message_id, &message.content_sha256) {
        (Some(id), _) => format!("message-id:{id}"),
        (None, Some(content)) => format!("sha256:{content}"),
        (None, None) => format!("sha256:{}", message.sha256),
    };
    let mut metadata = Map::new();
    metadata.insert("subject".into(), json!(headers.subject));
    metadata.insert("from".into(), json!(headers.from));
    metadata.insert("to".into(), json!(headers.to));
    metadata.insert("message_id".into(), json!(headers.message_id));
    metadata.insert(
        "date".into(),
        json!(headers.date.map(Timestamp::to_rfc3339)),
    );
    metadata.insert("envelope_from".into(), json!(mail_from));
    let auth = &message.authentication;
    metadata.insert("authentication".into(), auth.metadata());

    let claimed: Vec<&str> = std::iter::once(mail_from)
        .chain(headers.from.as_deref())
        .collect();
    // With `enforce`, only the senders the checks vouch for count.
    let senders = match app.config.smtp.sender_auth {
        SenderAuthMode::Enforce => auth.authenticated(mail_from, headers.from.as_deref()),
        SenderAuthMode::Report | SenderAuthMode::Off => claimed.clone(),
    };
    let from = headers.from.as_deref().unwrap_or(mail_from);
    let file_name = eml_file_name(headers.subject.as_deref());

    let (mut stored, mut duplicates, mut refused, mut inactive, mut paused) = (0, 0, 0, 0, 0);
    // Who refused this sender (and why), and who already had the message:
    // logged once the reply is known.
    let (mut refusing, mut unauthenticated, mut pausing, mut had_it) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut original_used = false;
    for listed in recipients {
        // The connector as it is now: a change made during DATA applies.
        let Some(connector) = app.store.connector(listed.id).await? else {
            inactive += 1;
            continue;
        };
        // Checked again when stored; checked here to spare copying the bytes.
        if !connector.allows_sender(&senders) {
            if connector.allows_sender(&claimed) {
                unauthenticated.push(connector);
            } else {
                refused += 1;
                refusing.push(connector);
            }
            continue;
        }
        let Some(email_hash) = connector.config.email_hash() else {
            continue;
        };
        let id = DocumentId::new();
        let use_original = !original_used;
        let key = if use_original {
            message.blob_key.clone()
        } else {
            let copy = crate::blobs::document_key(id.as_str());
            app.blobs
                .copy(&message.blob_key, &copy)
                .await
                .map_err(Error::blob)?;
            copy
        };
        let inbox = format!("{email_hash}@{}", app.config.inbox_domain);
        let auto_tags = [
            auto_tag::from(from),
            auto_tag::to(&inbox),
            auto_tag::label(connector.label.as_str()),
        ];
        let new = NewDocument {
            id: id.clone(),
            user_id: connector.user_id.clone(),
            org_id: connector.org_id.clone(),
            share_with_org: connector.share_with_org,
            connector_id: Some(connector.id),
            rp_collection_id: Some(uuid::Uuid::now_v7().to_string()),
            file_name: file_name.clone(),
            origin: RequestOrigin::Email,
            published_at: headers.date.or(Some(Timestamp::now())),
            metadata: metadata.clone(),
            content: Some(Content {
                blob_key: key,
                size: message.size,
                sha256: message.sha256.clone(),
                content_type: "message/rfc822".into(),
                // The original waits for the next recipient.
                drop_if_refused: !use_original,
            }),
        };
        let follow_up = JobSpec::ExtractAttachments {
            document_id: id.clone(),
        };
        let mut accepted =
            events::email_event(app, &connector, EventType::EmailAccepted, None, 250, &facts);
        accepted.document_ids.push(id.as_str().to_string());
        let admission = Admission {
            auto_tags: &auto_tags,
            dedupe_key: &dedupe_key,
            follow_up: headers.may_have_attachments.then_some(&follow_up),
            also_archived: false,
            senders: Some(&senders),
            event: Some(&accepted),
        };
        match ingest(app, new, Source::Connector(admission)).await? {
            Ingestion::Stored(_) => {
                stored += 1;
                original_used |= use_original;
                events::counted(EventType::EmailAccepted, false);
                tracing::info!(document_id = %id, connector_id = %connector.id, size = message.size, "email stored");
            }
            Ingestion::Duplicate => {
                duplicates += 1;
                had_it.push(connector);
            }
            Ingestion::ConnectorInactive => inactive += 1,
            Ingestion::Paused => {
                paused += 1;
                pausing.push(connector);
            }
            Ingestion::SenderNotAllowed => {
                refused += 1;
                refusing.push(connector);
            }
        }
    }
    if !original_used {
        app.blobs
            .delete(&message.blob_key)
            .await
            .map_err(Error::blob)?;
    }
    tracing::debug!(
        stored,
        duplicates,
        refused,
        unauthenticated = unauthenticated.len(),
        inactive,
        paused,
        "delivery finished"
    );
    let delivery = if stored + duplicates > 0 {
        Delivery::Accepted { stored, duplicates }
    } else if paused > 0 {
        // Retrying reaches the paused inbox once it is resumed.
        Delivery::Paused
    } else if !unauthenticated.is_empty() && auth.temporary() {
        Delivery::SenderAuthTemporary
    } else if !unauthenticated.is_empty() {
        Delivery::SenderAuthFailed
    } else if refused > 0 {
        Delivery::SenderNotAllowed
    } else {
        Delivery::Inactive
    };
    // Each event carries the reply the sender got for the whole transaction.
    let code = match delivery {
        Delivery::Accepted { .. } => 250,
        Delivery::Paused | Delivery::SenderAuthTemporary => 451,
        _ => 550,
    };
    events::email_refused(app, &refusing, &facts, EventReason::SenderNotAllowed, code).await;
    let reason = EventReason::SenderAuthFailed;
    events::email_refused(app, &unauthenticated, &facts, reason, code).await;
    events::email_refused(app, &pausing, &facts, EventReason::InboxPaused, code).await;
    events::email_refused(app, &had_it, &facts, EventReason::Duplicate, 250).await;
    Ok(delivery)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sender_auth::AuthResult;
    use crate::domain::{Document, DocumentStatus};
    use crate::service::connectors::{self, ConnectorEdit, DeleteOptions};
    use crate::service::testing::TestApp;
    use crate::store::DocumentQuery;

    const SENDER: &str = "desk@broker.example";

    async fn message(t: &TestApp, raw: &str) -> StoredMessage {
        t.stored_message(raw.as_bytes()).await
    }

    /// With `enforce` (the default), a listed sender the checks do not
    /// vouch for is refused and leaves no bytes; a DNS failure says so.
    #[tokio::test]
    async fn an_unauthenticated_listed_sender_is_refused_with_enforce() {
        let t = TestApp::new().await;
        let c = t.email_connector(&[SENDER]).await;
        let cases = [
            (AuthResult::Fail, Delivery::SenderAuthFailed),
            (AuthResult::TempError, Delivery::SenderAuthTemporary),
        ];
        for (dmarc, expected) in cases {
            let mut msg = message(&t, PLAIN).await;
            msg.authentication.dmarc = dmarc;
            let key = msg.blob_key.clone();
            let delivered = deliver(&t.app, SENDER, std::slice::from_ref(&c), msg)
                .await
                .unwrap();
            assert_eq!(delivered, expected);
            assert!(!t.blob_exists(&key).await);
        }
        // Not listed at all: the allow-list's own answer.
        let other = t.email_connector(&["someone@else.example"]).await;
        let mut msg = message(&t, PLAIN).await;
        msg.authentication.dmarc = AuthResult::Fail;
        let delivered = deliver(&t.app, SENDER, std::slice::from_ref(&other), msg)
            .await
            .unwrap();
        assert_eq!(delivered, Delivery::SenderNotAllowed);
        assert!(documents(&t, &c).await.is_empty());

        // SPF for the envelope sender's domain is enough for that sender.
        let mut msg = message(&t, PLAIN).await;
        msg.authentication = Authentication {
            spf: AuthResult::Pass,
            spf_domain: Some("broker.example".into()),
            checked: true,
            ..Default::default()
        };
        let delivered = deliver(&t.app, SENDER, std::slice::from_ref(&c), msg)
            .await
            .unwrap();
        assert!(matches!(delivered, Delivery::Accepted { stored: 1, .. }));
        let docs = documents(&t, &c).await;
        assert_eq!(
            docs[0].file_metadata["authentication"],
            json!({"spf": "pass", "dkim": "none", "dmarc": "none", "arc": "none"})
        );
    }

    const PLAIN: &str =
        "From: desk@broker.example\r\nSubject: Daily\r\nMessage-ID: <1@broker.example>\r\n\r\nhi\r\n";

    async fn documents(t: &TestApp, connector: &Connector) -> Vec<Document> {
        let query = DocumentQuery {
            connector_id: Some(connector.id),
            descending: false,
            ..DocumentQuery::newest(100)
        };
        super::super::documents::list(&t.app, &t.owner, &query)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_redelivery_is_accepted_as_a_duplicate_and_keeps_nothing() {
        let t = TestApp::new().await;
        let c = t.email_connector(&[SENDER]).await;
        let first = message(&t, PLAIN).await;
        let first_key = first.blob_key.clone();
        let delivered = deliver(&t.app, SENDER, std::slice::from_ref(&c), first)
            .await
            .unwrap();
        assert_eq!(
            delivered,
            Delivery::Accepted {
                stored: 1,
                duplicates: 0
            }
        );
        let again = message(&t, PLAIN).await;
        let again_key = again.blob_key.clone();
        let delivered = deliver(&t.app, SENDER, std::slice::from_ref(&c), again)
            .await
            .unwrap();
        assert_eq!(
            delivered,
            Delivery::Accepted {
                stored: 0,
                duplicates: 1
            }
        );
        assert!(t.blob_exists(&first_key).await);
        assert!(!t.blob_exists(&again_key).await);
        let docs = documents(&t, &c).await;
        assert_eq!(docs.len(), 1);
        assert_eq!(
            (
                docs[0].file_name.as_str(),
                docs[0].status,
                docs[0].content_type.as_deref()
            ),
            (
                "Daily.eml",
                DocumentStatus::Processing,
                Some("message/rfc822")
            )
        );
    }

    /// A recipient accepted at RCPT time whose connector is archived, or
    /// whose allowed senders change, before DATA ends.
    #[tokio::test]
    async fn rules_changed_during_data_apply_and_leave_no_bytes() {
        let t = TestApp::new().await;
        let archived = t.email_connector(&[SENDER]).await;
        let strict = t.email_connector(&[SENDER]).await;
        connectors::delete(&t.app, &t.owner, archived.id, DeleteOptions::default())
            .await
            .unwrap();
        connectors::update(&t.app, &t.owner, strict.id, |c| {
            Ok::<_, Error>(ConnectorEdit {
                label: c.label.clone(),
                description: c.description.clone(),
                share_with_org: false,
                allowed_emails: Some(vec!["someone-else@broker.example".into()]),
            })
        })
        .await
        .unwrap();

        let msg = message(&t, PLAIN).await;
        let key = msg.blob_key.clone();
        let to_archived = deliver(&t.app, SENDER, std::slice::from_ref(&archived), msg)
            .await
            .unwrap();
        assert_eq!(to_archived, Delivery::Inactive);
        assert!(!t.blob_exists(&key).await);

        let msg = message(&t, PLAIN).await;
        let key = msg.blob_key.clone();
        let to_strict = deliver(&t.app, SENDER, std::slice::from_ref(&strict), msg)
            .await
            .unwrap();
        assert_eq!(to_strict, Delivery::SenderNotAllowed);
        assert!(!t.blob_exists(&key).await);
        assert!(documents(&t, &archived).await.is_empty());
        assert!(documents(&t, &strict).await.is_empty());
    }

    /// Paused between RCPT and the end of DATA: nothing is stored, the
    /// sender is told to retry, and the connector's log says why.
    #[tokio::test]
    async fn an_inbox_paused_during_data_defers_the_message_and_logs_it() {
        let t = TestApp::new().await;
        let c = t.email_connector(&[SENDER]).await;
        connectors::set_paused(&t.app, &t.owner, c.id, true)
            .await
            .unwrap();
        let msg = message(&t, PLAIN).await;
        let key = msg.blob_key.clone();
        let delivered = deliver(&t.app, SENDER, std::slice::from_ref(&c), msg)
            .await
            .unwrap();
        assert_eq!(delivered, Delivery::Paused);
        assert!(!t.blob_exists(&key).await);
        assert!(documents(&t, &c).await.is_empty());
        let log = t.app.store.events(c.id, None, 10).await.unwrap();
        let reasons: Vec<_> = log
            .iter()
            .map(|e| (e.kind, e.reason, e.smtp_code))
            .collect();
        assert!(
            reasons.contains(&(
                EventType::EmailRejected,
                Some(EventReason::InboxPaused),
                Some(451)
            )),
            "{log:?}"
        );
        let refused = log
            .iter()
            .find(|e| e.reason == Some(EventReason::InboxPaused))
            .unwrap();
        assert_eq!(refused.subject.as_deref(), Some("Daily"));
        assert_eq!(refused.header_from.as_deref(), Some(SENDER));
        assert!(refused
            .recipient
            .as_deref()
            .unwrap()
            .starts_with(c.config.email_hash().unwrap()));
    }

    #[tokio::test]
    async fn each_recipient_gets_its_own_copy_and_the_header_sender_counts() {
        let t = TestApp::new().await;
        let refusing = t.email_connector(&["nobody@broker.example"]).await;
        let a = t.email_connector(&[SENDER]).await;
        let b = t.email_connector(&[SENDER]).await;
        let msg = message(&t, PLAIN).await;
        let original = msg.blob_key.clone();
        // The envelope sender is not listed; the header `From` is.
        let delivered = deliver(
            &t.app,
            "bounce@relay.example",
            &[refusing.clone(), a.clone(), b.clone()],
            msg,
        )
        .await
        .unwrap();
        assert_eq!(
            delivered,
            Delivery::Accepted {
                stored: 2,
                duplicates: 0
            }
        );
        let (in_a, in_b) = (documents(&t, &a).await, documents(&t, &b).await);
        assert_eq!(in_a[0].blob_key.as_deref(), Some(original.as_str()));
        let copy = in_b[0].blob_key.clone().unwrap();
        assert_ne!(copy, original);
        assert!(t.blob_exists(&original).await && t.blob_exists(&copy).await);
        assert!(documents(&t, &refusing).await.is_empty());
        let tags: Vec<&str> = in_a[0].tags.iter().map(|t| t.name.as_str()).collect();
        assert!(tags.contains(&"from:desk@broker.example"), "{tags:?}");
    }
}
