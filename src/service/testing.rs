//! Service-level test support: the use cases against a SQLite store in a
//! temp dir, with no process and no sockets, for the rules that are awkward
//! to reach over HTTP or SMTP.

use super::connectors::{self, NewConfig, NewConnector};
use super::{AppParts, AppState};
use crate::blobs::{BlobError, BlobStore};
use crate::config::Config;
use crate::crypto::SecretKey;
use crate::domain::{Connector, Description, DocumentId, Label, Principal};
use crate::ratelimit::LocalLimiter;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub struct TestApp {
    pub app: AppState,
    /// Holds an API key, so it owns what it creates.
    pub owner: Principal,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = crate::store::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .expect("the store opens");
        let (key, _) = super::keys::create(store.as_ref(), "org-1", "user-1", None)
            .await
            .expect("a key");
        let owner = Principal {
            user_id: key.user_id,
            org_id: key.org_id,
            key_id: key.key_id.to_string(),
        };
        let limiter = Arc::new(LocalLimiter::new(600, 100, 1000));
        let app = AppState::new(AppParts {
            store,
            secret: Arc::new(SecretKey::load_or_create(None, dir.path()).expect("a key")),
            blobs: BlobStore::local(&dir.path().join("blobs")).expect("a blob dir"),
            config: Arc::new(Config {
                data_dir: dir.path().to_path_buf(),
                // The test harness is not the `inlet` binary a child runs.
                processing: crate::config::ProcessingConfig {
                    isolation: crate::extract::isolate::Isolation::Thread,
                    ..Default::default()
                },
                ..Config::default()
            }),
            limiter: limiter.clone(),
            ip_limiter: limiter,
            wake_jobs: Arc::new(tokio::sync::Notify::new()),
            pages: Default::default(),
            answers: crate::service::answers::Answers::new(8 << 20),
        });
        Self {
            app,
            owner,
            _dir: dir,
        }
    }

    /// An active email connector of the owner's allowing `senders`.
    pub async fn email_connector(&self, senders: &[&str]) -> Connector {
        let new = NewConnector {
            label: Label::parse("Desk").expect("a label"),
            description: Description::default(),
            share_with_org: false,
            config: NewConfig::Email {
                allowed_emails: senders.iter().map(|s| s.to_string()).collect(),
            },
        };
        connectors::create(&self.app, &self.owner, new)
            .await
            .expect("the connector is created")
    }

    /// The connector as stored now.
    pub async fn connector(&self, id: uuid::Uuid) -> Option<Connector> {
        self.app
            .store
            .connector(id)
            .await
            .expect("the store answers")
    }

    /// Puts `bytes` in the blob store under a fresh document key; returns
    /// the key and the bytes' SHA-256.
    pub async fn put(&self, bytes: &[u8]) -> (String, String) {
        let key = crate::blobs::document_key(DocumentId::new().as_str());
        let body =
            futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::copy_from_slice(bytes))]);
        self.app
            .blobs
            .put_stream(&key, body, u64::MAX)
            .await
            .expect("the blob is stored");
        (key, hex::encode(Sha256::digest(bytes)))
    }

    /// An upload of the owner's whose bytes (or none, when `bytes` is
    /// `None`) are attached, its processing job queued, as after its `PUT`.
    pub async fn uploaded(&self, bytes: Option<&[u8]>) -> DocumentId {
        let new = super::documents::NewUpload {
            file_name: "f".into(),
            published_at: None,
            tags: vec![],
            share_with_org: false,
        };
        let doc = super::documents::create_upload(&self.app, &self.owner, new)
            .await
            .expect("the upload is created");
        let key = match bytes {
            Some(b) => self.put(b).await.0,
            None => crate::blobs::document_key(doc.id.as_str()),
        };
        let job = super::jobs::JobSpec::ProcessDocument {
            document_id: doc.id.clone(),
        }
        .new_job(&self.app.config.jobs);
        let attached = self
            .app
            .store
            .attach_upload(&doc.id, &key, crate::domain::Timestamp::now(), &job)
            .await
            .expect("the store answers");
        assert!(attached, "the upload is attached");
        doc.id
    }

    /// A received message stored as the SMTP receiver leaves it, whose
    /// `From` domain passed DMARC.
    pub async fn stored_message(&self, raw: &[u8]) -> super::email::StoredMessage {
        let (blob_key, sha256) = self.put(raw).await;
        super::email::StoredMessage {
            blob_key,
            size: raw.len() as u64,
            content_sha256: Some(sha256.clone()),
            sha256,
            headers: raw.to_vec(),
            authentication: crate::domain::sender_auth::Authentication {
                dmarc: crate::domain::sender_auth::AuthResult::Pass,
                checked: true,
                ..Default::default()
            },
        }
    }

    pub async fn blob_exists(&self, key: &str) -> bool {
        match self.app.blobs.get(key).await {
            Ok(_) => true,
            Err(BlobError::NotFound) => false,
            Err(e) => panic!("reading blob {key}: {e}"),
        }
    }
}
