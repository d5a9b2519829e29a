//! Email ingestion, independent of the SMTP protocol: which inbox a
//! recipient names, whether a sender may deliver to it, and storing an
//! accepted message as a document (attachments follow through a job).

use super::jobs::JobSpec;
use super::AppState;
use crate::domain::document::auto_tag;
use crate::domain::{
    Connector, ConnectorConfig, ConnectorState, Document, DocumentId, DocumentStatus,
    RequestOrigin, Timestamp,
};
use crate::error::{Error, Result};
use crate::store::{Ingest, Ingested};
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{json, Map, Value};

/// What a `RCPT TO` address names.
#[derive(Debug)]
pub enum Recipient {
    /// An active email connector's inbox.
    Inbox(Box<Connector>),
    /// No such inbox (or not ours).
    Unknown,
    /// An inbox whose connector is archived or being deleted.
    Inactive,
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
    /// Of the message as the client sent it (dedupe without a Message-ID).
    pub content_sha256: String,
    /// The header section (for From, Message-ID, Subject, …).
    pub headers: Vec<u8>,
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
}

/// Facts taken from a message's headers.
struct Headers {
    from: Option<String>,
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
    Headers {
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

fn allows(connector: &Connector, sender: Option<&str>) -> bool {
    let ConnectorConfig::Email { allowed_emails, .. } = &connector.config else {
        return false;
    };
    sender.is_some_and(|s| allowed_emails.iter().any(|a| a.eq_ignore_ascii_case(s)))
}

/// A display name for the `.eml` document, from the subject.
fn eml_file_name(subject: Option<&str>) -> String {
    let clean: String = subject
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_control() || c == '/' || c == '\\' {
                ' '
            } else {
                c
            }
        })
        .take(200)
        .collect();
    let clean = clean.trim();
    if clean.is_empty() {
        "message.eml".into()
    } else {
        format!("{clean}.eml")
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
    let dedupe_key = match &headers.message_id {
        Some(id) => format!("message-id:{id}"),
        None => format!("sha256:{}", message.content_sha256),
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

    let (mut stored, mut duplicates, mut refused, mut inactive) = (0, 0, 0, 0);
    let mut original_used = false;
    for listed in recipients {
        // The connector as it is now: a change made during DATA applies.
        let Some(connector) = app.store.connector(listed.id).await? else {
            inactive += 1;
            continue;
        };
        let sender_ok =
            allows(&connector, Some(mail_from)) || allows(&connector, headers.from.as_deref());
        if !sender_ok {
            refused += 1;
            continue;
        }
        let id = DocumentId::new();
        let use_original = !original_used;
        let key = if use_original {
            message.blob_key.clone()
        } else {
            let copy = crate::blobs::document_key(id.as_str());
            app.blobs
                .copy(&message.blob_key, &copy)
                .await
                .map_err(|e| Error::Internal(e.into()))?;
            copy
        };
        let Some(email_hash) = connector.config.email_hash() else {
            continue;
        };
        let inbox = format!("{email_hash}@{}", app.config.inbox_domain);
        let from = headers.from.as_deref().unwrap_or(mail_from);
        let auto_tags = vec![
            auto_tag::from(from),
            auto_tag::to(&inbox),
            auto_tag::label(connector.label.as_str()),
        ];
        let now = Timestamp::now();
        let doc = Document {
            id: id.clone(),
            user_id: connector.user_id.clone(),
            org_id: connector.org_id.clone(),
            connector_id: Some(connector.id),
            rp_collection_id: Some(uuid::Uuid::now_v7().to_string()),
            file_name: eml_file_name(headers.subject.as_deref()),
            raw_size: Some(message.size as i64),
            content_type: Some("message/rfc822".into()),
            request_origin: RequestOrigin::Email,
            status: DocumentStatus::Completed,
            error_code: None,
            share_with_org: connector.share_with_org,
            published_at: headers.date.or(Some(now)),
            created_at: now,
            updated_at: now,
            file_metadata: metadata.clone(),
            sha256: Some(message.sha256.clone()),
            blob_key: Some(key.clone()),
            tags: vec![],
        };
        let follow_up = JobSpec::ExtractAttachments {
            document_id: id.clone(),
        }
        .new_job(&app.config.jobs);
        let senders: Vec<&str> = std::iter::once(mail_from)
            .chain(headers.from.as_deref())
            .collect();
        let ingest = Ingest {
            doc: &doc,
            auto_tags: &auto_tags,
            dedupe_key: &dedupe_key,
            follow_up: headers.may_have_attachments.then_some(&follow_up),
            also_archived: false,
            senders: Some(&senders),
        };
        let kept = match app.store.insert_ingested(&ingest).await? {
            Ingested::Stored => {
                stored += 1;
                tracing::info!(document_id = %id, connector_id = %connector.id, size = message.size, "email stored");
                true
            }
            Ingested::Duplicate => {
                duplicates += 1;
                false
            }
            Ingested::ConnectorInactive => {
                inactive += 1;
                false
            }
            Ingested::SenderNotAllowed => {
                refused += 1;
                false
            }
        };
        if kept && use_original {
            original_used = true;
        } else if !kept && !use_original {
            app.blobs
                .delete(&key)
                .await
                .map_err(|e| Error::Internal(e.into()))?;
        }
    }
    if !original_used {
        app.blobs
            .delete(&message.blob_key)
            .await
            .map_err(|e| Error::Internal(e.into()))?;
    }
    if stored > 0 {
        app.wake_jobs.notify_one();
    }
    tracing::debug!(stored, duplicates, refused, inactive, "delivery finished");
    Ok(if stored + duplicates > 0 {
        Delivery::Accepted { stored, duplicates }
    } else if refused > 0 {
        Delivery::SenderNotAllowed
    } else {
        Delivery::Inactive
    })
}

/// Metadata an attachment shares with its message.
pub fn attachment_metadata(eml: &Document, name: &str) -> Map<String, Value> {
    let mut meta = eml.file_metadata.clone();
    meta.insert("attachment".into(), json!(name));
    meta
}
