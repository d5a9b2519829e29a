//! Test harness: runs the real `inlet` binary on free ports with a temporary
//! data dir and talks to it over real sockets.
#![allow(dead_code)]

pub mod api;
pub mod console;
pub mod dns;
pub mod s3;
pub mod schema;
pub mod server;
pub mod smtp;
pub mod sshd;

pub use server::TestServer;

use reqwest::Response;
use serde_json::Value;
use std::future::Future;
use std::process::Command;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_inlet");
pub const INBOX_DOMAIN: &str = "inbox.test";
/// The sender test inboxes accept.
pub const DESK: &str = "desk@broker.example";

pub const CONNECTORS: &str = "/contents/v1/connectors";
pub const DOCUMENTS: &str = "/contents/v1/documents";
pub const TAGS: &str = "/contents/v1/tags";
pub const SYNC_JOBS: &str = "/contents/v1/sync_jobs";

pub fn connector_path(connector: &Value) -> String {
    format!("{CONNECTORS}/{}", connector_id(connector))
}

pub fn connector_id(connector: &Value) -> &str {
    connector["connector_id"].as_str().expect("a connector")
}

pub fn document_path(id: &str) -> String {
    format!("{DOCUMENTS}/{id}")
}

/// The inbox address of an email connector.
pub fn inbox_address(connector: &Value) -> String {
    connector["config"]["email"]
        .as_str()
        .expect("an email connector")
        .to_string()
}

/// `field` of every item in a list response's `results`, in order.
pub fn result_ids(list: &Value, field: &str) -> Vec<String> {
    list["results"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| item[field].as_str().unwrap().to_string())
        .collect()
}

/// The names of a document's tags, in order.
pub fn tag_names(document: &Value) -> Vec<&str> {
    document["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

/// Every file under `dir`, recursively (none when it does not exist).
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p)
            } else {
                out.push(p)
            }
        }
    }
    out
}

/// A loopback TCP port free just now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` every `every` until it gives `Ok`, failing after `within`
/// with the last thing it saw (its `Err`).
pub async fn wait_until<T, F, Fut>(within: Duration, every: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        match check().await {
            Ok(done) => return done,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "not within {within:?}; last seen: {seen}"
            ),
        }
        tokio::time::sleep(every).await;
    }
}

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

/// Asserts a 400 `INVALID_REQUEST` whose message names `what`; `context`
/// says which request it was. Returns the body.
pub async fn assert_invalid_request(resp: Response, what: &str, context: &str) -> Value {
    let body = assert_error(resp, 400, "INVALID_REQUEST").await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(what),
        "{context}: the message should name {what:?}: {body}"
    );
    body
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

/// `swaks` on `PATH`; without it a test is skipped (outside CI, which
/// installs it).
pub fn swaks() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("swaks"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "swaks must be installed in CI (.ci/run installs it)"
        );
        eprintln!("SKIPPED: swaks is not installed");
    }
    found
}
