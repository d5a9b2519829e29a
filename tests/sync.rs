//! Contract §3 sync jobs and §5 research-portal sync, against a real
//! OpenSSH SFTP server.

mod common;

use common::sshd::{at, Sshd, PASSWORD, USER};
use common::{assert_error, TestServer};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

const CONNECTORS: &str = "/contents/v1/connectors";

async fn server(sshd: &Sshd, extra: &str) -> TestServer {
    TestServer::start_config(&format!(
        "{extra}\n{}",
        sshd.portal("acme", &sshd.fingerprint)
    ))
    .await
}

async fn research(s: &TestServer, key: &str, password: &str) -> Value {
    let resp = s
        .post_json(
            CONNECTORS,
            key,
            &json!({"type": "investment_research", "label": "ACME research",
                    "config": {"user_id": USER, "user_password": password}}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    resp.json().await.unwrap()
}

fn cpath(c: &Value) -> String {
    format!("{CONNECTORS}/{}", c["connector_id"].as_str().unwrap())
}

async fn trigger(s: &TestServer, c: &Value, date_limit: &str) -> Value {
    let resp = s
        .post_json(
            &format!("{}/sync", cpath(c)),
            &s.admin_key,
            &json!({"date_limit": date_limit}),
        )
        .await;
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "accepted");
    assert_eq!(body["date_limit"], date_limit);
    assert_eq!(body["connector_id"], c["connector_id"]);
    body
}

async fn sync_job(s: &TestServer, id: &str) -> Value {
    s.get(&format!("/contents/v1/sync_jobs/{id}"), &s.admin_key)
        .await
        .json()
        .await
        .unwrap()
}

async fn docs(s: &TestServer, c: &Value) -> Vec<Value> {
    let mut all = vec![];
    for page in 1.. {
        let v: Value = s
            .get(&format!("/contents/v1/documents?connector_id={}&page_size=100&page={page}&sort_by=file_name&sort_order=asc", c["connector_id"].as_str().unwrap()), &s.admin_key)
            .await
            .json()
            .await
            .unwrap();
        all.extend(v["results"].as_array().unwrap().iter().cloned());
        if v["has_more"] == false {
            return all;
        }
    }
    unreachable!()
}

async fn wait_finished(s: &TestServer, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = sync_job(s, id).await;
        if ["completed", "error", "canceled"].contains(&job["status"].as_str().unwrap()) {
            return job;
        }
        assert!(Instant::now() < deadline, "sync never finished: {job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn first_sync_then_only_what_is_new() {
    let sshd = Sshd::start();
    let old = sshd.file(
        "2025/old-note.pdf",
        b"%PDF-1.4 old",
        at("2025-06-01T10:00:00Z"),
    );
    sshd.file(
        "2026/q1/outlook.pdf",
        b"%PDF-1.7 outlook 2026",
        at("2026-02-10T08:30:00Z"),
    );
    sshd.file(
        "2026/q1/rates.csv",
        b"tenor,rate\n2y,3.1\n",
        at("2026-02-11T09:00:00Z"),
    );
    sshd.file(
        "2026/q1/copy-of-rates.csv",
        b"tenor,rate\n2y,3.1\n",
        at("2026-02-12T09:00:00Z"),
    );
    let s = server(&sshd, "[jobs]\nworkers = 0").await;
    let c = research(&s, &s.admin_key, PASSWORD).await;

    let queued = trigger(&s, &c, "2026-01-01").await;
    let id = queued["sync_job_id"].as_str().unwrap();
    let pending = sync_job(&s, id).await;
    assert_eq!(
        (
            pending["status"].as_str(),
            pending["trigger_method"].as_str()
        ),
        (Some("pending"), Some("on_demand"))
    );
    assert!(pending["started_at"].is_null() && pending["completed_at"].is_null());
    s.run_jobs();
    let job = sync_job(&s, id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(
        job["indexed_document_count"], 2,
        "two new contents; the old file is before date_limit"
    );
    assert_eq!(job["skipped_document_count"], 1);
    assert!(job["error"].is_null());
    assert!(job["started_at"].is_string() && job["completed_at"].is_string());

    let found = docs(&s, &c).await;
    let names: Vec<&str> = found
        .iter()
        .map(|d| d["file_name"].as_str().unwrap())
        .collect();
    // Paths are walked in order: the copy comes first, and rates.csv then
    // has the same bytes.
    assert_eq!(names, vec!["copy-of-rates.csv", "outlook.pdf"]);
    let outlook = &found[1];
    assert_eq!(outlook["request_origin"], "investment_research");
    assert_eq!(outlook["status"], "completed");
    assert_eq!(outlook["content_type"], "application/pdf");
    assert_eq!(outlook["published_at"], "2026-02-10T08:30:00.000000Z");
    assert_eq!(outlook["file_metadata"]["broker"], "ACME Securities");
    assert_eq!(
        outlook["file_metadata"]["remote_path"],
        format!("{}/2026/q1/outlook.pdf", sshd.root.display())
    );
    assert_eq!(
        outlook["sha256"],
        hex::encode(Sha256::digest(b"%PDF-1.7 outlook 2026"))
    );
    let tags: Vec<&str> = outlook["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tags, vec!["broker:ACME Securities", "label:ACME research"]);
    let original: Value = s
        .get(
            &format!(
                "/contents/v1/documents/{}/original",
                outlook["id"].as_str().unwrap()
            ),
            &s.admin_key,
        )
        .await
        .json()
        .await
        .unwrap();
    let bytes = s
        .http
        .get(original["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), b"%PDF-1.7 outlook 2026", "byte-identical");

    let connector: Value = s.get(&cpath(&c), &s.admin_key).await.json().await.unwrap();
    assert_eq!(connector["last_sync_status"], "SUCCESS");
    assert_eq!(connector["last_sync_count"], 2);
    assert!(connector["last_sync_error_msg"].is_null());
    assert!(connector["last_sync_at"].is_string());
    assert_eq!(connector["files_count"], 2);

    // A re-sync adds only what is new; an older date_limit picks up the old file.
    sshd.file(
        "2026/q1/flash.txt",
        b"flash note",
        at("2026-02-20T07:00:00Z"),
    );
    let again = trigger(&s, &c, "2020-01-01").await;
    s.run_jobs();
    let job = sync_job(&s, again["sync_job_id"].as_str().unwrap()).await;
    assert_eq!(
        (
            job["indexed_document_count"].as_i64(),
            job["skipped_document_count"].as_i64()
        ),
        (Some(2), Some(3)),
        "{job}"
    );
    assert_eq!(docs(&s, &c).await.len(), 4);
    assert!(old.exists());

    let history: Value = s
        .get(&format!("{}/sync_jobs", cpath(&c)), &s.admin_key)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = history["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["sync_job_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![again["sync_job_id"].as_str().unwrap(), id],
        "newest first"
    );

    // delete_sync_jobs on a soft delete removes the history and nothing else.
    let archived: Value = s
        .delete(
            &format!("{}?delete_sync_jobs=true", cpath(&c)),
            &s.admin_key,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(archived["state"], "archived");
    let history: Value = s
        .get(&format!("{}/sync_jobs", cpath(&c)), &s.admin_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["results"], json!([]));
    assert_eq!(docs(&s, &c).await.len(), 4, "documents stay");
    assert_error(
        s.post_json(
            &format!("{}/sync", cpath(&c)),
            &s.admin_key,
            &json!({"date_limit": "2026-01-01"}),
        )
        .await,
        409,
        "CONNECTOR_ARCHIVED",
    )
    .await;
}

#[tokio::test]
async fn portal_failures_end_the_job_in_error_without_secrets() {
    let mut sshd = Sshd::start();
    sshd.file("a.txt", b"a", at("2026-02-10T08:30:00Z"));
    let s = TestServer::start_config(&format!(
        "[jobs]\nworkers = 0\n{}{}",
        sshd.portal("acme", &sshd.fingerprint),
        sshd.portal(
            "wrong-key",
            "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        )
    ))
    .await;
    let wrong_password = "not-the-Portal-Pass-4242";
    let bad_login = research(&s, &s.admin_key, wrong_password).await;
    let wrong_key: Value = s
        .post_json(
            CONNECTORS,
            &s.admin_key,
            &json!({"type": "investment_research", "label": "k",
                    "config": {"user_id": USER, "user_password": PASSWORD, "portal": "wrong-key"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let cases = [(&bad_login, "refused the login"), (&wrong_key, "host key")];
    for (c, cause) in cases {
        let id = trigger(&s, c, "2026-01-01").await["sync_job_id"]
            .as_str()
            .unwrap()
            .to_string();
        s.run_jobs();
        let job = sync_job(&s, &id).await;
        assert_eq!(job["status"], "error");
        let error = job["error"].as_str().unwrap();
        assert!(error.contains(cause), "{error}");
        for secret in [wrong_password, PASSWORD] {
            assert!(!job.to_string().contains(secret));
        }
        let connector: Value = s.get(&cpath(c), &s.admin_key).await.json().await.unwrap();
        assert_eq!(connector["last_sync_status"], "FAILED");
        assert_eq!(connector["last_sync_error_msg"], error);
    }
    // The portal is down.
    sshd.stop();
    let c = research(&s, &s.admin_key, PASSWORD).await;
    let id = trigger(&s, &c, "2026-01-01").await["sync_job_id"]
        .as_str()
        .unwrap()
        .to_string();
    s.run_jobs();
    let job = sync_job(&s, &id).await;
    assert_eq!(job["status"], "error");
    assert!(
        job["error"].as_str().unwrap().contains("cannot connect"),
        "{job}"
    );
    assert!(docs(&s, &c).await.is_empty());
}

#[tokio::test]
async fn the_sync_job_state_machine_and_its_errors() {
    let sshd = Sshd::start();
    let s = server(&sshd, "[jobs]\nworkers = 0").await;
    let c = research(&s, &s.admin_key, PASSWORD).await;
    let sync = format!("{}/sync", cpath(&c));
    for body in [
        json!({}),
        json!({"date_limit": "2026-2-1"}),
        json!({"date_limit": "soon"}),
        json!({"date_limit": "2026-01-01", "full": true}),
    ] {
        assert_error(
            s.post_json(&sync, &s.admin_key, &body).await,
            400,
            "INVALID_REQUEST",
        )
        .await;
    }
    let email = s.email_connector(&s.admin_key, "mail", false).await;
    assert_error(
        s.post_json(
            &format!("{}/sync", cpath(&email)),
            &s.admin_key,
            &json!({"date_limit": "2026-01-01"}),
        )
        .await,
        400,
        "INVALID_REQUEST",
    )
    .await;
    let other = s.create_key("globex", "carol");
    assert_error(
        s.post_json(&sync, &other, &json!({"date_limit": "2026-01-01"}))
            .await,
        404,
        "CONNECTOR_NOT_FOUND",
    )
    .await;

    let first = trigger(&s, &c, "2026-01-01").await;
    let id = first["sync_job_id"].as_str().unwrap();
    assert_error(
        s.post_json(&sync, &s.admin_key, &json!({"date_limit": "2026-01-01"}))
            .await,
        409,
        "SYNC_IN_PROGRESS",
    )
    .await;
    assert_error(
        s.get(&format!("/contents/v1/sync_jobs/{id}"), &other).await,
        404,
        "SYNC_JOB_NOT_FOUND",
    )
    .await;
    assert_error(
        s.post_json(
            &format!("/contents/v1/sync_jobs/{id}/cancel"),
            &other,
            &json!({}),
        )
        .await,
        404,
        "SYNC_JOB_NOT_FOUND",
    )
    .await;
    assert_error(
        s.get(
            &format!("/contents/v1/sync_jobs/{}", uuid::Uuid::now_v7()),
            &s.admin_key,
        )
        .await,
        404,
        "SYNC_JOB_NOT_FOUND",
    )
    .await;
    assert_error(
        s.get("/contents/v1/sync_jobs/nope", &s.admin_key).await,
        400,
        "INVALID_REQUEST",
    )
    .await;
    assert_error(
        s.request(Method::GET, &format!("/contents/v1/sync_jobs/{id}"), None)
            .send()
            .await
            .unwrap(),
        401,
        "UNAUTHORIZED",
    )
    .await;

    // A pending job cancels straight to canceled; finished jobs do not change.
    let canceled: Value = s
        .request(
            Method::POST,
            &format!("/contents/v1/sync_jobs/{id}/cancel"),
            Some(&s.admin_key),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(canceled["status"], "canceled");
    assert!(canceled["completed_at"].is_string());
    let again = s
        .request(
            Method::POST,
            &format!("/contents/v1/sync_jobs/{id}/cancel"),
            Some(&s.admin_key),
        )
        .send()
        .await
        .unwrap();
    assert_error(again, 409, "SYNC_JOB_FINISHED").await;
    s.run_jobs();
    assert_eq!(
        sync_job(&s, id).await["status"],
        "canceled",
        "the runner leaves it canceled"
    );

    // Archive and hard delete stop a pending sync and forbid new ones.
    let second = trigger(&s, &c, "2026-01-01").await;
    assert_eq!(
        s.delete(&format!("{}?force_delete=true", cpath(&c)), &s.admin_key)
            .await
            .status(),
        200
    );
    assert_eq!(
        sync_job(&s, second["sync_job_id"].as_str().unwrap()).await["status"],
        "canceled"
    );
    assert_error(
        s.post_json(&sync, &s.admin_key, &json!({"date_limit": "2026-01-01"}))
            .await,
        409,
        "CONNECTOR_DELETING",
    )
    .await;
    s.run_jobs();
    assert_error(
        s.get(&format!("/contents/v1/sync_jobs/{id}"), &s.admin_key)
            .await,
        404,
        "SYNC_JOB_NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn cancel_and_archive_stop_a_running_sync() {
    let sshd = Sshd::start();
    for i in 0..400 {
        sshd.file(
            &format!("bulk/{i:04}.txt"),
            format!("note {i}").as_bytes(),
            at("2026-02-10T08:30:00Z"),
        );
    }
    let s = server(&sshd, "").await;
    for stop in ["cancel", "archive"] {
        let c = research(&s, &s.admin_key, PASSWORD).await;
        let id = trigger(&s, &c, "2026-01-01").await["sync_job_id"]
            .as_str()
            .unwrap()
            .to_string();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let job = sync_job(&s, &id).await;
            if job["status"] == "in_progress" && job["indexed_document_count"].as_i64().unwrap() > 0
            {
                break;
            }
            assert!(Instant::now() < deadline, "{job}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if stop == "cancel" {
            let canceling: Value = s
                .request(
                    Method::POST,
                    &format!("/contents/v1/sync_jobs/{id}/cancel"),
                    Some(&s.admin_key),
                )
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(canceling["status"], "canceling");
        } else {
            assert_eq!(s.delete(&cpath(&c), &s.admin_key).await.status(), 200);
        }
        let job = wait_finished(&s, &id).await;
        assert_eq!(job["status"], "canceled", "{stop}: {job}");
        let indexed = job["indexed_document_count"].as_i64().unwrap();
        assert!(indexed < 400, "{stop} stopped it early: {indexed}");
        assert_eq!(
            docs(&s, &c).await.len() as i64,
            indexed,
            "every counted file is there"
        );
        let connector: Value = s.get(&cpath(&c), &s.admin_key).await.json().await.unwrap();
        assert_eq!(connector["last_sync_status"], "CANCELED");
    }
}

#[tokio::test]
async fn a_sync_killed_midway_resumes_after_restart_without_duplicates() {
    let sshd = Sshd::start();
    let total = 300;
    for i in 0..total {
        sshd.file(
            &format!("bulk/{i:04}.txt"),
            format!("crash note {i}").as_bytes(),
            at("2026-02-10T08:30:00Z"),
        );
    }
    let mut s = server(&sshd, "[jobs]\nlease = \"2s\"").await;
    let c = research(&s, &s.admin_key, PASSWORD).await;
    let id = trigger(&s, &c, "2026-01-01").await["sync_job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let job = sync_job(&s, &id).await;
        if job["indexed_document_count"].as_i64().unwrap() >= 20 || job["status"] == "completed" {
            eprintln!(
                "killing the server with {} of {total} files indexed",
                job["indexed_document_count"]
            );
            break;
        }
        assert!(Instant::now() < deadline, "{job}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    s.kill();
    let (child, addr, _) = common::spawn_serve(&s.config_path);
    let _server = common::KillOnDrop(child);
    s.base = format!("http://{addr}");
    let job = wait_finished(&s, &id).await;
    assert_eq!(job["status"], "completed", "{job}");
    let found = docs(&s, &c).await;
    assert_eq!(found.len(), total, "every file exactly once");
    let mut names: Vec<&str> = found
        .iter()
        .map(|d| d["file_name"].as_str().unwrap())
        .collect();
    names.dedup();
    assert_eq!(names.len(), total);
}

#[tokio::test]
async fn scheduled_syncs_fire_by_themselves() {
    let sshd = Sshd::start();
    sshd.file("daily.txt", b"daily", at("2026-02-10T08:30:00Z"));
    let portal = sshd
        .portal("acme", &sshd.fingerprint)
        .replace("connect_timeout", "sync_interval = \"2s\"\nconnect_timeout");
    let s = TestServer::start_config(&portal).await;
    let c = research(&s, &s.admin_key, PASSWORD).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let jobs: Value = s
            .get(&format!("{}/sync_jobs", cpath(&c)), &s.admin_key)
            .await
            .json()
            .await
            .unwrap();
        let done = jobs["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["status"] == "completed");
        if let Some(job) = done {
            assert_eq!(job["trigger_method"], "scheduled");
            break;
        }
        assert!(Instant::now() < deadline, "no scheduled sync ran: {jobs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(docs(&s, &c).await.len(), 1);
}
