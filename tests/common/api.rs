//! Typed requests against a running test server: one method per thing the
//! tests do, so each test reads as the behaviour it checks.

use super::smtp::Smtp;
use super::{
    assert_error, connector_path, document_path, wait_until, TestServer, CONNECTORS, DESK,
    DOCUMENTS,
};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use std::future::Future;
use std::time::Duration;

async fn send(req: RequestBuilder) -> Response {
    req.send().await.expect("the server answers")
}

// Each request is built before its future, so the future borrows nothing
// and may be spawned or joined freely.
impl TestServer {
    pub fn request(&self, method: Method, path: &str, key: Option<&str>) -> RequestBuilder {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.header("X-API-KEY", k);
        }
        req
    }

    pub fn get(&self, path: &str, key: &str) -> impl Future<Output = Response> + 'static {
        send(self.request(Method::GET, path, Some(key)))
    }

    /// A GET without `X-API-KEY`.
    pub fn get_without_key(&self, path: &str) -> impl Future<Output = Response> + 'static {
        send(self.request(Method::GET, path, None))
    }

    pub fn delete(&self, path: &str, key: &str) -> impl Future<Output = Response> + 'static {
        send(self.request(Method::DELETE, path, Some(key)))
    }

    /// A POST without a body.
    pub fn post(&self, path: &str, key: &str) -> impl Future<Output = Response> + 'static {
        send(self.request(Method::POST, path, Some(key)))
    }

    pub fn post_json(
        &self,
        path: &str,
        key: &str,
        body: &Value,
    ) -> impl Future<Output = Response> + 'static {
        send(self.request(Method::POST, path, Some(key)).json(body))
    }

    pub fn put_json(
        &self,
        path: &str,
        key: &str,
        body: &Value,
    ) -> impl Future<Output = Response> + 'static {
        send(self.request(Method::PUT, path, Some(key)).json(body))
    }

    pub fn patch_json(
        &self,
        path: &str,
        key: &str,
        body: &Value,
    ) -> impl Future<Output = Response> + 'static {
        send(self.request(Method::PATCH, path, Some(key)).json(body))
    }

    /// The JSON body of a GET, whatever its status.
    pub async fn get_json(&self, path: &str, key: &str) -> Value {
        self.get(path, key).await.json().await.expect("a JSON body")
    }

    /// A connector's activity log (`GET …/events`), newest first.
    pub async fn connector_events(&self, key: &str, connector: &Value) -> Vec<Value> {
        let path = format!("{}/events?limit=500", super::connector_path(connector));
        let page = self.get_json(&path, key).await;
        page["results"].as_array().expect("an events page").clone()
    }

    /// The JSON body of a DELETE, whatever its status.
    pub async fn delete_json(&self, path: &str, key: &str) -> Value {
        self.delete(path, key)
            .await
            .json()
            .await
            .expect("a JSON body")
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.get_without_key("/metrics").await.text().await.unwrap()
    }

    // --- inlet admin ---

    /// A new key for `user` in `org`, via `inlet admin create-key`.
    pub fn create_key(&self, org: &str, user: &str) -> String {
        let out = self.cli(&["admin", "create-key", "--org", org, "--user", user]);
        assert!(
            out.status.success(),
            "create-key failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Runs every due job to completion (`inlet admin run-jobs`); returns how many ran.
    pub fn run_jobs(&self) -> usize {
        let out = self.cli(&["admin", "run-jobs"]);
        assert!(
            out.status.success(),
            "run-jobs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// What `inlet admin list-jobs` prints (a header, then one job a line).
    pub fn list_jobs(&self) -> String {
        String::from_utf8(self.cli(&["admin", "list-jobs"]).stdout).unwrap()
    }

    /// What `inlet admin list-keys` prints (a header, then one key a line).
    pub fn list_keys(&self) -> String {
        String::from_utf8(self.cli(&["admin", "list-keys"]).stdout).unwrap()
    }

    /// The id of `user`'s key, from `inlet admin list-keys`.
    pub fn key_id_of(&self, user: &str) -> String {
        let list = self.list_keys();
        list.lines()
            .find(|l| l.contains(&format!("\t{user}\t")))
            .and_then(|l| l.split('\t').next())
            .unwrap_or_else(|| panic!("no key of {user} in {list}"))
            .to_string()
    }

    // --- connectors ---

    /// Creates a connector from `body`, which must be accepted (201).
    pub async fn create_connector(&self, key: &str, body: &Value) -> Value {
        let resp = self.post_json(CONNECTORS, key, body).await;
        assert_eq!(resp.status(), 201, "POST {CONNECTORS} {body}");
        resp.json().await.unwrap()
    }

    /// An email connector accepting mail from `DESK`.
    pub async fn create_email_connector(&self, key: &str, label: &str, shared: bool) -> Value {
        self.create_connector(
            key,
            &json!({"type": "email", "label": label, "share_with_org": shared,
                    "config": {"allowed_emails": [DESK]}}),
        )
        .await
    }

    /// A research connector on the default portal.
    pub async fn create_research_connector(
        &self,
        key: &str,
        label: &str,
        user_id: &str,
        password: &str,
    ) -> Value {
        self.create_connector(
            key,
            &json!({"type": "investment_research", "label": label,
                    "config": {"user_id": user_id, "user_password": password}}),
        )
        .await
    }

    /// `DELETE …?force_delete=true`: answers at once; a job purges.
    pub fn hard_delete(
        &self,
        key: &str,
        connector: &Value,
    ) -> impl Future<Output = Response> + 'static {
        self.delete(
            &format!("{}?force_delete=true", connector_path(connector)),
            key,
        )
    }

    /// Asserts the connector is gone: its GET answers 404 `CONNECTOR_NOT_FOUND`.
    pub async fn assert_connector_gone(&self, key: &str, connector: &Value) {
        let resp = self.get(&connector_path(connector), key).await;
        assert_error(resp, 404, "CONNECTOR_NOT_FOUND").await;
    }

    /// Waits until the server's own workers have purged the connector.
    pub async fn wait_until_purged(&self, key: &str, connector: &Value, within: Duration) {
        let path = connector_path(connector);
        wait_until(within, Duration::from_millis(20), || async {
            let status = self.get(&path, key).await.status();
            if status == 404 {
                Ok(())
            } else {
                Err(format!("{path} still answers {status}"))
            }
        })
        .await
    }

    /// `POST …/sync` with this `date_limit`.
    pub fn request_sync(
        &self,
        key: &str,
        connector: &Value,
        date_limit: &str,
    ) -> impl Future<Output = Response> + 'static {
        self.post_json(
            &format!("{}/sync", connector_path(connector)),
            key,
            &json!({ "date_limit": date_limit }),
        )
    }

    // --- documents ---

    pub async fn get_document(&self, key: &str, id: &str) -> Value {
        self.get_json(&document_path(id), key).await
    }

    /// Every document `query` lists, over all pages.
    pub async fn list_documents(&self, key: &str, query: &str) -> Vec<Value> {
        let mut all = vec![];
        for page in 1.. {
            let mut path = format!("{DOCUMENTS}?page_size=100&page={page}");
            if !query.is_empty() {
                path = format!("{path}&{query}");
            }
            let v = self.get_json(&path, key).await;
            all.extend(v["results"].as_array().expect("a list").iter().cloned());
            if v["has_more"] == false {
                break;
            }
        }
        all
    }

    /// The signed download URL of a document's original.
    pub async fn original_url(&self, key: &str, id: &str) -> String {
        let original = self
            .get_json(&format!("{}/original", document_path(id)), key)
            .await;
        original["url"]
            .as_str()
            .expect("a download url")
            .to_string()
    }

    /// The bytes of a document's original, through its signed URL.
    pub async fn download(&self, key: &str, id: &str) -> Vec<u8> {
        let url = self.original_url(key, id).await;
        let resp = self.http.get(url).send().await.unwrap();
        resp.bytes().await.unwrap().to_vec()
    }

    /// Registers an upload and returns `(id, signed url)`.
    pub async fn new_upload(&self, key: &str, body: &Value) -> (String, String) {
        let resp = self.post_json(DOCUMENTS, key, body).await;
        assert_eq!(resp.status(), 200, "POST {DOCUMENTS}");
        let ticket: Value = resp.json().await.unwrap();
        (
            ticket["id"].as_str().unwrap().to_string(),
            ticket["url"].as_str().unwrap().to_string(),
        )
    }

    /// PUTs `body` to a signed upload URL.
    pub fn put_upload(
        &self,
        url: &str,
        body: impl Into<reqwest::Body>,
    ) -> impl Future<Output = Response> + 'static {
        send(self.http.put(url).body(body))
    }

    /// Uploads `bytes` as `file_name` (with `extra` fields in the
    /// registration) and processes it; returns the document.
    pub async fn upload(&self, key: &str, file_name: &str, bytes: &[u8], extra: Value) -> Value {
        let mut body = json!({"file_name": file_name});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap_or_default());
        let (id, url) = self.new_upload(key, &body).await;
        let resp = self.put_upload(&url, bytes.to_vec()).await;
        assert_eq!(resp.status(), 200, "PUT upload");
        self.run_jobs();
        // The server's own workers may hold the job `run-jobs` did not get.
        wait_until(
            Duration::from_secs(20),
            Duration::from_millis(20),
            || async {
                let doc = self.get_document(key, &id).await;
                if doc["status"] == "processing" {
                    Err(doc.to_string())
                } else {
                    Ok(doc)
                }
            },
        )
        .await
    }

    /// Waits until the server's own workers have completed a document.
    pub async fn wait_until_completed(&self, key: &str, id: &str) -> Value {
        wait_until(
            Duration::from_secs(20),
            Duration::from_millis(20),
            || async {
                let doc = self.get_document(key, id).await;
                if doc["status"] == "completed" {
                    Ok(doc)
                } else {
                    Err(doc.to_string())
                }
            },
        )
        .await
    }

    /// The names of the tags `key`'s user has, in the order listed.
    pub async fn tag_names(&self, key: &str) -> Vec<String> {
        let tags = self.get_json(super::TAGS, key).await;
        tags["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    }

    // --- mail ---

    /// One SMTP session that delivers `message`; the reply to its data.
    pub async fn deliver(&self, from: &str, to: &[&str], message: &[u8]) -> (u16, String) {
        let (mut smtp, ..) = Smtp::connect(&self.smtp).await;
        smtp.cmd("EHLO test.example").await;
        let reply = smtp.deliver(from, to, message).await;
        smtp.cmd("QUIT").await;
        reply
    }

    // --- files and store ---

    /// Stores `n` documents for a connector the way ingestion does (blob,
    /// then row with automatic tags), through this server's store; returns
    /// their ids.
    pub async fn seed_connector_documents(
        &self,
        connector: &Value,
        n: usize,
        auto_tags: &[&str],
    ) -> Vec<String> {
        let app = self.open_state().await;
        let connector_id =
            uuid::Uuid::parse_str(connector["connector_id"].as_str().unwrap()).unwrap();
        let auto_tags: Vec<String> = auto_tags.iter().map(|t| t.to_string()).collect();
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let id = inlet::domain::DocumentId::new();
            let key = inlet::blobs::document_key(id.as_str());
            let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(
                format!("research {i}"),
            ))]);
            app.blobs.put_stream(&key, body, 1 << 20).await.unwrap();
            let now = inlet::domain::Timestamp::now();
            let doc = inlet::domain::Document {
                id: id.clone(),
                user_id: connector["user_id"].as_str().unwrap().into(),
                org_id: connector["org_id"].as_str().unwrap().into(),
                connector_id: Some(connector_id),
                rp_collection_id: None,
                file_name: format!("report-{i}.txt"),
                raw_size: None,
                content_type: None,
                request_origin: inlet::domain::RequestOrigin::InvestmentResearch,
                status: inlet::domain::DocumentStatus::Completed,
                error_code: None,
                share_with_org: connector["share_with_org"].as_bool().unwrap(),
                published_at: None,
                created_at: now,
                updated_at: now,
                file_metadata: Default::default(),
                sha256: None,
                blob_key: Some(key),
                tags: vec![],
            };
            app.store
                .insert_document(&doc, &[], &auto_tags)
                .await
                .unwrap();
            ids.push(id.to_string());
        }
        ids
    }
}
