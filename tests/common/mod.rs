//! Test harness: runs the real `inlet` binary on free ports with a temporary
//! data dir and talks to it over HTTP.
#![allow(dead_code)]

pub mod schema;
pub mod smtp;
pub mod sshd;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_inlet");
pub const INBOX_DOMAIN: &str = "inbox.test";

/// Portals every test server knows: `broker-a` (the default) and `broker-b`.
const PORTALS: &str = r#"
[[portals]]
name = "broker-a"
kind = "sftp"
broker = "Broker A"
host = "127.0.0.1"
host_key = "insecure-accept-any"

[[portals]]
name = "broker-b"
kind = "sftp"
broker = "Broker B"
host = "127.0.0.1"
host_key = "insecure-accept-any"
"#;

/// A PostgreSQL database of its own, when the suite runs against
/// PostgreSQL (`INLET_TEST_BACKEND=postgres`; server at
/// `INLET_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`).
pub struct TestDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl TestDatabase {
    pub fn create() -> Option<Self> {
        if std::env::var("INLET_TEST_BACKEND").as_deref() != Ok("postgres") {
            return None;
        }
        Self::create_always()
    }

    /// A database whatever the backend the suite runs on; `None` (and a
    /// note) when PostgreSQL is unreachable outside CI.
    pub fn create_always() -> Option<Self> {
        let admin_url = std::env::var("INLET_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("inlet_test_{}", uuid::Uuid::now_v7().simple());
        let out = Command::new("psql")
            .args([
                admin_url.as_str(),
                "-qc",
                &format!("CREATE DATABASE {name}"),
            ])
            .output()
            .expect("psql runs");
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr);
            // In CI an unreachable PostgreSQL is a failure, not a skip.
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "PostgreSQL is unreachable: {why}"
            );
            eprintln!(
                "SKIPPED on PostgreSQL (unreachable: {}); this test ran on SQLite",
                why.trim()
            );
            return None;
        }
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        Some(Self {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                self.admin_url.as_str(),
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

pub struct TestServer {
    child: Child,
    /// Dropped after the server: the database outlives its last use.
    database: Option<TestDatabase>,
    pub base: String,
    /// `host:port` of the SMTP listener.
    pub smtp: String,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    /// The key written to `initial-api-key` on first start (org `default`).
    pub admin_key: String,
    pub http: reqwest::Client,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with("").await
    }

    /// Starts a server with `extra` (top-level keys, then tables) added to
    /// its configuration, and the test portals.
    pub async fn start_with(extra: &str) -> Self {
        Self::start_config(&format!(
            "default_portal = \"broker-a\"\n{extra}\n{PORTALS}"
        ))
        .await
    }

    /// Starts a server with no research portal configured.
    pub async fn start_without_portals() -> Self {
        Self::start_config("").await
    }

    /// Starts a server with exactly `config` (after the base keys).
    pub async fn start_config(config: &str) -> Self {
        // Tests poll and retry freely; only the rate-limit tests set limits.
        let limits = if config.contains("[rate_limit]") {
            ""
        } else {
            "\n[rate_limit]\nrequests_per_minute = 1000000\nburst = 1000000\nunauthenticated_per_minute = 1000000\n"
        };
        let database = TestDatabase::create();
        let database_url = database
            .as_ref()
            .map(|d| format!("database_url = \"{}\"\n", d.url))
            .unwrap_or_default();
        let config = format!("{database_url}{config}{limits}");
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("inlet.toml");
        let data_dir = dir.path().join("data");
        std::fs::write(
            &config_path,
            format!(
                "data_dir = {:?}\nhttp_addr = \"127.0.0.1:0\"\nsmtp_addr = \"127.0.0.1:0\"\n\
                 inbox_domain = \"{INBOX_DOMAIN}\"\nlog_format = \"json\"\n{config}",
                data_dir.display().to_string()
            ),
        )
        .unwrap();
        let (child, addr, smtp) = spawn_serve(&config_path);
        let admin_key = std::fs::read_to_string(data_dir.join("initial-api-key"))
            .expect("initial key written")
            .trim()
            .to_string();
        Self {
            child,
            base: format!("http://{addr}"),
            smtp,
            database,
            dir,
            config_path,
            admin_key,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs `inlet <args> --config <this server's config>`.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(&self.config_path)
            .output()
            .expect("inlet runs")
    }

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

    pub fn request(&self, method: Method, path: &str, key: Option<&str>) -> RequestBuilder {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.header("X-API-KEY", k);
        }
        req
    }

    // The request is built before the future, so the future borrows nothing.
    pub fn get(&self, path: &str, key: &str) -> impl Future<Output = Response> + 'static {
        send(self.request(Method::GET, path, Some(key)))
    }

    pub fn delete(&self, path: &str, key: &str) -> impl Future<Output = Response> + 'static {
        send(self.request(Method::DELETE, path, Some(key)))
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

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
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

    /// Registers an upload and returns `(id, signed url)`.
    pub async fn new_upload(&self, key: &str, body: &Value) -> (String, String) {
        let resp = self.post_json("/contents/v1/documents", key, body).await;
        assert_eq!(resp.status(), 200, "POST /documents");
        let ticket: Value = resp.json().await.unwrap();
        (
            ticket["id"].as_str().unwrap().to_string(),
            ticket["url"].as_str().unwrap().to_string(),
        )
    }

    /// Uploads `bytes` as `file_name` and processes it; returns the document.
    pub async fn upload(&self, key: &str, file_name: &str, bytes: &[u8], extra: Value) -> Value {
        let mut body = json!({"file_name": file_name});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap_or_default());
        let (id, url) = self.new_upload(key, &body).await;
        let resp = self
            .http
            .put(&url)
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "PUT upload");
        self.run_jobs();
        self.get(&format!("/contents/v1/documents/{id}"), key)
            .await
            .json()
            .await
            .unwrap()
    }

    /// Opens this server's data dir in-process, as a second replica would:
    /// the real store and blob store, for seeding and inspecting.
    pub async fn open_state(&self) -> inlet::service::AppState {
        let config =
            inlet::config::Config::load(Some(&self.config_path), &Default::default()).unwrap();
        inlet::open_state(config).await.unwrap()
    }

    /// Stores `n` documents for a connector the way ingestion does (blob,
    /// then row with automatic tags), returning their ids.
    pub async fn seed_connector_documents(
        &self,
        connector: &Value,
        n: usize,
        auto_tags: &[&str],
    ) -> Vec<String> {
        seed_documents(&self.config_path, connector, n, auto_tags).await
    }

    /// Every file under the blob directory.
    pub fn blob_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).into_iter().flatten() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out)
                } else {
                    out.push(p)
                }
            }
        }
        let mut out = vec![];
        walk(&self.data_dir().join("blobs"), &mut out);
        out
    }

    /// Creates an email connector and returns its JSON.
    pub async fn email_connector(&self, key: &str, label: &str, shared: bool) -> Value {
        let resp = self
            .post_json(
                "/contents/v1/connectors",
                key,
                &json!({"type": "email", "label": label, "share_with_org": shared,
                        "config": {"allowed_emails": ["desk@broker.example"]}}),
            )
            .await;
        assert_eq!(resp.status(), 201);
        resp.json().await.unwrap()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Stores `n` documents for a connector the way ingestion does (blob, then
/// row with automatic tags), through the store of the server configured at
/// `config_path`; returns their ids.
pub async fn seed_documents(
    config_path: &Path,
    connector: &Value,
    n: usize,
    auto_tags: &[&str],
) -> Vec<String> {
    let config = inlet::config::Config::load(Some(config_path), &Default::default()).unwrap();
    let app = inlet::open_state(config).await.unwrap();
    let connector_id = uuid::Uuid::parse_str(connector["connector_id"].as_str().unwrap()).unwrap();
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

async fn send(req: RequestBuilder) -> Response {
    req.send().await.expect("the server answers")
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Kills the process when dropped, so a failing test leaves no server behind.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `inlet serve` and waits for the log lines that name the bound
/// HTTP and SMTP addresses. Server logs are forwarded to the test's stderr.
pub fn spawn_serve(config_path: &Path) -> (Child, String, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("inlet serve starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[inlet] {line}");
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                let addr = v["addr"].as_str().unwrap_or_default().to_string();
                match v["message"].as_str() {
                    Some("SMTP listener bound") => {
                        let _ = tx.send(("smtp", addr));
                    }
                    Some("HTTP listener bound") => {
                        let _ = tx.send(("http", addr));
                    }
                    _ => {}
                }
            }
        }
    });
    let (mut http, mut smtp) = (None, None);
    while http.is_none() || smtp.is_none() {
        let (which, addr) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("inlet serve reports its listeners");
        if which == "http" {
            http = Some(addr)
        } else {
            smtp = Some(addr)
        }
    }
    (child, http.unwrap(), smtp.unwrap())
}

/// Asserts the contract's error body and header, returning the body.
pub async fn assert_error(resp: Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let header_id = resp
        .headers()
        .get("x-request-id")
        .expect("X-Request-Id on every response")
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = resp.json().await.expect("error body is JSON");
    assert_eq!(body["statusCode"], status, "{body}");
    assert_eq!(body["errorCode"], code, "{body}");
    assert_eq!(body["requestId"], header_id.as_str(), "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(
        body.as_object().unwrap().len(),
        4,
        "exactly the four fields: {body}"
    );
    body
}
