//! Contract §6 and §7: rate limits, metrics, readiness, logs and graceful
//! shutdown, against the real binary.

mod common;

use common::smtp::{message, Smtp};
use common::{assert_error, TestServer, BIN};
use reqwest::Method;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const CONNECTORS: &str = "/contents/v1/connectors";

fn header(resp: &reqwest::Response, name: &str) -> u64 {
    resp.headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn each_key_has_its_own_limit_with_seed_004_headers() {
    let s = TestServer::start_with("[rate_limit]\nrequests_per_minute = 60\nburst = 5").await;
    let other = s.create_key("default", "bob");
    for expected_remaining in (0..5).rev() {
        let resp = s.get(CONNECTORS, &s.admin_key).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "x-ratelimit-limit"), 60);
        assert_eq!(header(&resp, "x-ratelimit-remaining"), expected_remaining);
        let reset = header(&resp, "x-ratelimit-reset");
        assert!(
            (1..=5).contains(&reset),
            "whole seconds until full, not an epoch: {reset}"
        );
    }
    let limited = s.get(CONNECTORS, &s.admin_key).await;
    let retry = header(&limited, "retry-after");
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(header(&limited, "x-ratelimit-remaining"), 0);
    let body = assert_error(limited, 429, "RATE_LIMITED").await;
    assert!(body["message"].as_str().unwrap().contains("retry"));
    // Another key is not affected; errors of a limited key still count as limited.
    let resp = s.get(CONNECTORS, &other).await;
    assert_eq!(
        (
            resp.status().as_u16(),
            header(&resp, "x-ratelimit-remaining")
        ),
        (200, 4)
    );
    assert_error(
        s.get(&format!("{CONNECTORS}/bad-id"), &s.admin_key).await,
        429,
        "RATE_LIMITED",
    )
    .await;
    // Operations endpoints need no key and are not limited.
    for _ in 0..10 {
        assert_eq!(
            s.request(Method::GET, "/healthz", None)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    // Every authenticated response carries the headers, errors included.
    let resp = s.get(&format!("{CONNECTORS}/bad-id"), &other).await;
    assert_eq!(header(&resp, "x-ratelimit-limit"), 60);
    assert_error(resp, 400, "INVALID_CONNECTOR_ID").await;
}

#[tokio::test]
async fn failed_authentication_is_limited_per_client_ip() {
    let s = TestServer::start_with("[rate_limit]\nunauthenticated_per_minute = 6").await;
    let mut statuses = vec![];
    for i in 0..4 {
        let resp = s.get(CONNECTORS, &format!("inlet_guess{i}")).await;
        statuses.push(resp.status().as_u16());
        if resp.status() == 429 {
            assert!(header(&resp, "retry-after") >= 1);
        }
    }
    assert_eq!(statuses[0], 401);
    assert!(
        statuses.contains(&429),
        "key guessing is slowed down: {statuses:?}"
    );
    assert_eq!(
        s.get(CONNECTORS, &s.admin_key).await.status(),
        200,
        "a valid key has its own limit"
    );
}

#[tokio::test]
async fn metrics_count_requests_smtp_jobs_and_purges() {
    let s = TestServer::start().await;
    let key = &s.admin_key;
    let c = s.email_connector(key, "m", false).await;
    let path = format!("{CONNECTORS}/{}", c["connector_id"].as_str().unwrap());
    s.get(CONNECTORS, key).await;
    s.get(&format!("{CONNECTORS}/{}", uuid::Uuid::now_v7()), key)
        .await;
    let address = c["config"]["email"].as_str().unwrap();
    let (mut smtp, ..) = Smtp::connect(&s.smtp).await;
    smtp.cmd("EHLO m").await;
    let (code, _) = smtp
        .deliver(
            "desk@broker.example",
            &[address],
            &message("desk@broker.example", address, "m", "m@x", "hi"),
        )
        .await;
    assert_eq!(code, 250);
    smtp.cmd("QUIT").await;
    s.delete(&format!("{path}?force_delete=true"), key).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while s.get(&path, key).await.status() != 404 {
        assert!(
            std::time::Instant::now() < deadline,
            "the server's workers never purged it"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let resp = s
        .request(Method::GET, "/metrics", None)
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    for needle in [
        r#"inlet_http_requests_total{method="GET",route="/contents/v1/connectors",status="200"} 1"#,
        r#"inlet_http_requests_total{method="GET",route="/contents/v1/connectors/{connector_id}",status="404"} "#,
        r#"inlet_http_requests_total{method="POST",route="/contents/v1/connectors",status="201"} 1"#,
        r#"inlet_http_request_duration_seconds_bucket{method="GET",route="/contents/v1/connectors",le="0.1"}"#,
        r#"inlet_smtp_sessions_total{outcome="accepted"} 1"#,
        r#"inlet_smtp_messages_total{outcome="stored"} 1"#,
        r#"inlet_jobs_total{kind="purge_connector",outcome="done"} 1"#,
        "inlet_documents_purged_total 1",
        r#"inlet_job_queue_depth{state="queued"} 0"#,
        r#"inlet_job_queue_depth{state="dead"} 0"#,
    ] {
        assert!(text.contains(needle), "{needle} not in\n{text}");
    }
}

#[tokio::test]
async fn readiness_follows_the_blob_store_and_recovers() {
    let s = TestServer::start().await;
    assert_eq!(
        s.request(Method::GET, "/readyz", None)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let blobs = s.data_dir().join("blobs");
    let aside = s.data_dir().join("blobs-aside");
    std::fs::rename(&blobs, &aside).unwrap();
    std::fs::write(&blobs, b"not a directory").unwrap();
    let body = assert_error(
        s.request(Method::GET, "/readyz", None)
            .send()
            .await
            .unwrap(),
        503,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("blob store"));
    assert_eq!(
        s.request(Method::GET, "/healthz", None)
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "alive all the same"
    );
    std::fs::remove_file(&blobs).unwrap();
    std::fs::rename(&aside, &blobs).unwrap();
    assert_eq!(
        s.request(Method::GET, "/readyz", None)
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "recovers by itself"
    );
}

/// Starts a server whose stderr the test reads itself.
fn spawn_with_logs(
    config: &str,
) -> (
    tempfile::TempDir,
    std::process::Child,
    std::sync::mpsc::Receiver<String>,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inlet.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = {:?}\nhttp_addr = \"127.0.0.1:0\"\nsmtp_addr = \"127.0.0.1:0\"\nlog_format = \"json\"\ninbox_domain = \"inbox.test\"\n{config}",
            dir.path().join("data").display().to_string()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[inlet] {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (dir, child, rx)
}

fn wait_for(rx: &std::sync::mpsc::Receiver<String>, needle: &str) -> Value {
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no log line with {needle}"));
        if line.contains(needle) {
            return serde_json::from_str(&line).unwrap();
        }
    }
}

#[tokio::test]
async fn logs_are_json_lines_with_the_request_id_and_no_secrets() {
    let (dir, child, rx) = spawn_with_logs("[jobs]\nworkers = 1");
    let _guard = common::KillOnDrop(child);
    let smtp_line = wait_for(&rx, "SMTP listener bound");
    assert!(smtp_line["addr"].is_string());
    let http = wait_for(&rx, "HTTP listener bound")["addr"]
        .as_str()
        .unwrap()
        .to_string();
    let key = std::fs::read_to_string(dir.path().join("data/initial-api-key"))
        .unwrap()
        .trim()
        .to_string();
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("http://{http}/contents/v1/documents"))
        .header("X-API-KEY", &key)
        .header("X-Request-Id", "trace-42")
        .json(&json!({"file_name": "secret.txt"}))
        .send()
        .await
        .unwrap();
    let url = resp.json::<Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    client.put(&url).body("x").send().await.unwrap();
    let finished = wait_for(&rx, "request finished");
    assert_eq!(finished["span"]["request_id"], "trace-42");
    assert_eq!(finished["span"]["user_id"], "admin");
    let processed = wait_for(&rx, "document processed");
    assert!(processed["span"]["job_id"].is_string());
    let signature = url.split("signature=").nth(1).unwrap();
    let mut seen = String::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
        seen.push_str(&line);
    }
    for secret in [key.as_str(), &key[6..], signature] {
        assert!(!seen.contains(secret), "a secret reached the logs");
    }
}

#[tokio::test]
async fn sigterm_finishes_a_message_being_received_then_exits_0() {
    let (dir, mut child, rx) = spawn_with_logs("[jobs]\nworkers = 0");
    let smtp = wait_for(&rx, "SMTP listener bound")["addr"]
        .as_str()
        .unwrap()
        .to_string();
    let http = wait_for(&rx, "HTTP listener bound")["addr"]
        .as_str()
        .unwrap()
        .to_string();
    let key = std::fs::read_to_string(dir.path().join("data/initial-api-key"))
        .unwrap()
        .trim()
        .to_string();
    let client = reqwest::Client::new();
    let c: Value = client
        .post(format!("http://{http}{CONNECTORS}"))
        .header("X-API-KEY", &key)
        .json(&json!({"type": "email", "label": "t", "config": {"allowed_emails": ["desk@broker.example"]}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let address = c["config"]["email"].as_str().unwrap().to_string();

    let (mut busy, ..) = Smtp::connect(&smtp).await;
    let (mut idle, ..) = Smtp::connect(&smtp).await;
    busy.cmd("EHLO busy").await;
    idle.cmd("EHLO idle").await;
    assert_eq!(busy.cmd("MAIL FROM:<desk@broker.example>").await.0, 250);
    assert_eq!(busy.cmd(&format!("RCPT TO:<{address}>")).await.0, 250);
    assert_eq!(busy.cmd("DATA").await.0, 354);
    busy.send(b"From: desk@broker.example\r\nSubject: in flight\r\nMessage-ID: <flight@x>\r\n\r\nfirst half\r\n").await;

    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let (code, text) = idle.reply().await;
    assert_eq!(
        (code, &text[..5]),
        (421, "4.3.2"),
        "an idle session is told to come back later"
    );
    busy.send(b"second half\r\n.\r\n").await;
    assert_eq!(
        busy.reply().await.0,
        250,
        "the message under way is still accepted"
    );
    let (code, _) = busy.reply().await;
    assert_eq!(code, 421, "then the session is closed");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));

    // It is there after a restart.
    let config = dir.path().join("inlet.toml");
    let (child, http, _) = common::spawn_serve(&config);
    let _guard = common::KillOnDrop(child);
    let docs: Value = client
        .get(format!("http://{http}/contents/v1/documents"))
        .header("X-API-KEY", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        docs["results"][0]["file_metadata"]["message_id"],
        "flight@x"
    );
}

#[tokio::test]
async fn oversized_headers_and_slow_requests_get_the_error_body() {
    let s =
        TestServer::start_with("[http]\nmax_header_bytes = 4096\nrequest_timeout = \"1s\"").await;
    let resp = s
        .request(Method::GET, CONNECTORS, Some(&s.admin_key))
        .header("X-Padding", "p".repeat(5000))
        .send()
        .await
        .unwrap();
    assert_error(resp, 431, "HEADERS_TOO_LARGE").await;
    // A body that trickles in slower than the request timeout allows.
    let slow = futures_util::stream::unfold(0, |n| async move {
        match n {
            0 => Some((Ok::<_, std::io::Error>(b"{\"type\":".to_vec()), 1)),
            1 => {
                tokio::time::sleep(Duration::from_secs(3)).await;
                Some((Ok(b"\"email\"}".to_vec()), 2))
            }
            _ => None,
        }
    });
    let resp = s
        .request(Method::POST, CONNECTORS, Some(&s.admin_key))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(slow))
        .send()
        .await
        .unwrap();
    assert_error(resp, 408, "REQUEST_TIMEOUT").await;
}

#[tokio::test]
async fn the_redis_backend_shares_limits_across_processes() {
    let prefix = format!("inlet-test:{}:", uuid::Uuid::now_v7());
    let mut s = TestServer::start_with(&format!(
        "[rate_limit]\nrequests_per_minute = 60\nburst = 3\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:6379\"\nredis_prefix = \"{prefix}\""
    ))
    .await;
    for remaining in [2, 1, 0] {
        let resp = s.get(CONNECTORS, &s.admin_key).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "x-ratelimit-remaining"), remaining);
    }
    assert_error(s.get(CONNECTORS, &s.admin_key).await, 429, "RATE_LIMITED").await;
    // Another process (a replica, or this one restarted) sees the same bucket.
    s.kill();
    let (child, addr, _) = common::spawn_serve(&s.config_path);
    let _server = common::KillOnDrop(child);
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}{CONNECTORS}"))
        .header("X-API-KEY", &s.admin_key)
        .send()
        .await
        .unwrap();
    assert_error(resp, 429, "RATE_LIMITED").await;
}

#[test]
fn an_unreachable_redis_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inlet.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = {:?}\nhttp_addr = \"127.0.0.1:0\"\nsmtp_addr = \"127.0.0.1:0\"\n[rate_limit]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:1\"\n",
            dir.path().join("d").display().to_string()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rate_limit.redis_url"));
}
