//! Contract §6 and §7: rate limits, metrics, readiness, logs and graceful
//! shutdown, against the real binary.

mod common;

use common::smtp::{message, Smtp};
use common::{assert_error, inbox_address, TestServer, CONNECTORS, DESK};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

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
    let s = TestServer::builder()
        .config("[rate_limit]\nrequests_per_minute = 60\nburst = 5")
        .start()
        .await;
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
    let s = TestServer::builder()
        .unauthenticated_per_minute(6)
        .start()
        .await;
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
    let c = s.create_email_connector(key, "m", false).await;
    s.get(CONNECTORS, key).await;
    s.get(&format!("{CONNECTORS}/{}", uuid::Uuid::now_v7()), key)
        .await;
    let address = inbox_address(&c);
    let (code, _) = s
        .deliver(
            DESK,
            &[&address],
            &message(DESK, &address, "m", "m@x", "hi"),
        )
        .await;
    assert_eq!(code, 250);
    // Processed before the purge, so no job of it is left to count.
    let docs = s.list_documents(key, "").await;
    s.wait_until_completed(key, docs[0]["id"].as_str().unwrap())
        .await;
    s.hard_delete(key, &c).await;
    s.wait_until_purged(key, &c, Duration::from_secs(20)).await;

    let resp = s.get_without_key("/metrics").await;
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
    // A local directory that fails; a stopped S3 server is tests/s3.rs.
    let s = TestServer::builder().local_blobs().start().await;
    assert_eq!(s.get_without_key("/readyz").await.status(), 200);
    let blobs = s.data_dir().join("blobs");
    let aside = s.data_dir().join("blobs-aside");
    std::fs::rename(&blobs, &aside).unwrap();
    std::fs::write(&blobs, b"not a directory").unwrap();
    let body = assert_error(
        s.get_without_key("/readyz").await,
        503,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("blob store"));
    assert_eq!(
        s.get_without_key("/healthz").await.status(),
        200,
        "alive all the same"
    );
    std::fs::remove_file(&blobs).unwrap();
    std::fs::rename(&aside, &blobs).unwrap();
    assert_eq!(
        s.get_without_key("/readyz").await.status(),
        200,
        "recovers by itself"
    );
}

#[tokio::test]
async fn logs_are_json_lines_with_the_request_id_and_no_secrets() {
    let s = TestServer::builder().workers(1).start().await;
    let smtp_line = s.wait_for_log("SMTP listener bound");
    assert!(smtp_line["addr"].is_string());
    s.wait_for_log("HTTP listener bound");
    let key = s.admin_key.clone();
    let resp = s
        .request(Method::POST, common::DOCUMENTS, Some(&key))
        .header("X-Request-Id", "trace-42")
        .json(&json!({"file_name": "secret.txt"}))
        .send()
        .await
        .unwrap();
    let url = resp.json::<Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    s.put_upload(&url, "x").await;
    let finished = s.wait_for_log("request finished");
    assert_eq!(finished["span"]["request_id"], "trace-42");
    assert_eq!(finished["span"]["user_id"], "admin");
    let processed = s.wait_for_log("document processed");
    assert!(processed["span"]["job_id"].is_string());
    let signature = url.split("signature=").nth(1).unwrap();
    let seen = s.logs_until_quiet(Duration::from_millis(300));
    for secret in [key.as_str(), &key[6..], signature] {
        assert!(!seen.contains(secret), "a secret reached the logs");
    }
}

#[tokio::test]
async fn sigterm_finishes_a_message_being_received_then_exits_0() {
    let mut s = TestServer::builder().manual_jobs().start().await;
    let c = s.create_email_connector(&s.admin_key, "t", false).await;
    let address = inbox_address(&c);

    let (mut busy, ..) = Smtp::connect(&s.smtp).await;
    let (mut idle, ..) = Smtp::connect(&s.smtp).await;
    busy.cmd("EHLO busy").await;
    idle.cmd("EHLO idle").await;
    assert_eq!(busy.cmd("MAIL FROM:<desk@broker.example>").await.0, 250);
    assert_eq!(busy.cmd(&format!("RCPT TO:<{address}>")).await.0, 250);
    assert_eq!(busy.cmd("DATA").await.0, 354);
    busy.send(b"From: desk@broker.example\r\nSubject: in flight\r\nMessage-ID: <flight@x>\r\n\r\nfirst half\r\n").await;

    s.terminate();
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
    let status = s.wait_for_exit().await;
    assert_eq!(status.code(), Some(0));

    // It is there after a restart.
    s.restart();
    let docs = s.get_json(common::DOCUMENTS, &s.admin_key).await;
    assert_eq!(
        docs["results"][0]["file_metadata"]["message_id"],
        "flight@x"
    );
}

#[tokio::test]
async fn oversized_headers_and_slow_requests_get_the_error_body() {
    let s = TestServer::builder()
        .config("[http]\nmax_header_bytes = 4096\nrequest_timeout = \"1s\"")
        .start()
        .await;
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
    let mut s = TestServer::builder().config(&format!(
        "[rate_limit]\nrequests_per_minute = 60\nburst = 3\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:6379\"\nredis_prefix = \"{prefix}\""
    )).start().await;
    for remaining in [2, 1, 0] {
        let resp = s.get(CONNECTORS, &s.admin_key).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "x-ratelimit-remaining"), remaining);
    }
    assert_error(s.get(CONNECTORS, &s.admin_key).await, 429, "RATE_LIMITED").await;
    // Another process (a replica, or this one restarted) sees the same bucket.
    s.restart();
    assert_error(s.get(CONNECTORS, &s.admin_key).await, 429, "RATE_LIMITED").await;
}

#[test]
fn an_unreachable_redis_stops_start_up() {
    let out = TestServer::builder()
        .minimal()
        .config("smtp_addr = \"127.0.0.1:0\"\n[rate_limit]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:1\"")
        .start_and_exit();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rate_limit.redis_url"));
}
