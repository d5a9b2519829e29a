//! Contract §3 sync jobs and §5 research-portal sync, against a real
//! OpenSSH SFTP server.

mod common;

use common::sshd::{at, Sshd, PASSWORD, USER};
use common::{
    assert_error, connector_id, connector_path, tag_names, wait_until, TestServer, SYNC_JOBS,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// A server whose one portal is this SFTP server.
fn server(sshd: &Sshd) -> common::server::TestServerBuilder {
    TestServer::builder().portal(&sshd.portal("acme", &sshd.fingerprint))
}

async fn research(s: &TestServer, key: &str, password: &str) -> Value {
    s.create_research_connector(key, "ACME research", USER, password)
        .await
}

async fn trigger(s: &TestServer, c: &Value, date_limit: &str) -> Value {
    let resp = s.request_sync(&s.admin_key, c, date_limit).await;
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "accepted");
    assert_eq!(body["date_limit"], date_limit);
    assert_eq!(body["connector_id"], c["connector_id"]);
    body
}

/// Triggers a sync, runs it, and returns the finished job.
async fn sync_to_the_end(s: &TestServer, c: &Value) -> Value {
    let queued = trigger(s, c, "2026-01-01").await;
    s.run_jobs();
    sync_job(s, queued["sync_job_id"].as_str().unwrap()).await
}

async fn sync_job(s: &TestServer, id: &str) -> Value {
    s.get_json(&format!("{SYNC_JOBS}/{id}"), &s.admin_key).await
}

/// The connector's documents by file name.
async fn docs(s: &TestServer, c: &Value) -> Vec<Value> {
    let query = format!(
        "connector_id={}&sort_by=file_name&sort_order=asc",
        connector_id(c)
    );
    s.list_documents(&s.admin_key, &query).await
}

/// Polls a sync job every 5 ms until `done` holds of it.
async fn wait_for_job(
    s: &TestServer,
    id: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    wait_until(within, Duration::from_millis(5), || async {
        let job = sync_job(s, id).await;
        if done(&job) {
            Ok(job)
        } else {
            Err(job.to_string())
        }
    })
    .await
}

async fn wait_finished(s: &TestServer, id: &str) -> Value {
    wait_for_job(s, id, Duration::from_secs(60), |job| {
        ["completed", "error", "canceled"].contains(&job["status"].as_str().unwrap())
    })
    .await
}

async fn cancel(s: &TestServer, id: &str) -> reqwest::Response {
    s.post(&format!("{SYNC_JOBS}/{id}/cancel"), &s.admin_key)
        .await
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
    let s = server(&sshd).manual_jobs().start().await;
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
    assert_eq!(
        tag_names(outlook),
        vec!["broker:ACME Securities", "label:ACME research"]
    );
    let bytes = s
        .download(&s.admin_key, outlook["id"].as_str().unwrap())
        .await;
    assert_eq!(bytes, b"%PDF-1.7 outlook 2026", "byte-identical");

    let connector = s.get_json(&connector_path(&c), &s.admin_key).await;
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

    let history = s
        .get_json(&format!("{}/sync_jobs", connector_path(&c)), &s.admin_key)
        .await;
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
    let archived = s
        .delete_json(
            &format!("{}?delete_sync_jobs=true", connector_path(&c)),
            &s.admin_key,
        )
        .await;
    assert_eq!(archived["state"], "archived");
    let history = s
        .get_json(&format!("{}/sync_jobs", connector_path(&c)), &s.admin_key)
        .await;
    assert_eq!(history["results"], json!([]));
    assert_eq!(docs(&s, &c).await.len(), 4, "documents stay");
    assert_error(
        s.request_sync(&s.admin_key, &c, "2026-01-01").await,
        409,
        "CONNECTOR_ARCHIVED",
    )
    .await;
}

#[tokio::test]
async fn portal_failures_end_the_job_in_error_without_secrets() {
    let mut sshd = Sshd::start();
    sshd.file("a.txt", b"a", at("2026-02-10T08:30:00Z"));
    let s = server(&sshd)
        .portal(&sshd.portal(
            "wrong-key",
            "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ))
        .manual_jobs()
        .start()
        .await;
    let wrong_password = "not-the-Portal-Pass-4242";
    let bad_login = research(&s, &s.admin_key, wrong_password).await;
    let wrong_key = s
        .create_connector(
            &s.admin_key,
            &json!({"type": "investment_research", "label": "k",
                    "config": {"user_id": USER, "user_password": PASSWORD, "portal": "wrong-key"}}),
        )
        .await;
    let cases = [(&bad_login, "refused the login"), (&wrong_key, "host key")];
    for (c, cause) in cases {
        let job = sync_to_the_end(&s, c).await;
        assert_eq!(job["status"], "error");
        let error = job["error"].as_str().unwrap();
        assert!(error.contains(cause), "{error}");
        for secret in [wrong_password, PASSWORD] {
            assert!(!job.to_string().contains(secret));
        }
        let connector = s.get_json(&connector_path(c), &s.admin_key).await;
        assert_eq!(connector["last_sync_status"], "FAILED");
        assert_eq!(connector["last_sync_error_msg"], error);
    }
    // The portal is down.
    sshd.stop();
    let c = research(&s, &s.admin_key, PASSWORD).await;
    let job = sync_to_the_end(&s, &c).await;
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
    let s = server(&sshd).manual_jobs().start().await;
    let c = research(&s, &s.admin_key, PASSWORD).await;
    let sync = format!("{}/sync", connector_path(&c));
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
    let email = s.create_email_connector(&s.admin_key, "mail", false).await;
    assert_error(
        s.request_sync(&s.admin_key, &email, "2026-01-01").await,
        400,
        "INVALID_REQUEST",
    )
    .await;
    let other = s.create_key("globex", "carol");
    assert_error(
        s.request_sync(&other, &c, "2026-01-01").await,
        404,
        "CONNECTOR_NOT_FOUND",
    )
    .await;

    let first = trigger(&s, &c, "2026-01-01").await;
    let id = first["sync_job_id"].as_str().unwrap();
    assert_error(
        s.request_sync(&s.admin_key, &c, "2026-01-01").await,
        409,
        "SYNC_IN_PROGRESS",
    )
    .await;
    assert_error(
        s.get(&format!("{SYNC_JOBS}/{id}"), &other).await,
        404,
        "SYNC_JOB_NOT_FOUND",
    )
    .await;
    assert_error(
        s.post_json(&format!("{SYNC_JOBS}/{id}/cancel"), &other, &json!({}))
            .await,
        404,
        "SYNC_JOB_NOT_FOUND",
    )
    .await;
    assert_error(
        s.get(
            &format!("{SYNC_JOBS}/{}", uuid::Uuid::now_v7()),
            &s.admin_key,
        )
        .await,
        404,
        "SYNC_JOB_NOT_FOUND",
    )
    .await;
    assert_error(
        s.get(&format!("{SYNC_JOBS}/nope"), &s.admin_key).await,
        400,
        "INVALID_REQUEST",
    )
    .await;
    assert_error(
        s.get_without_key(&format!("{SYNC_JOBS}/{id}")).await,
        401,
        "UNAUTHORIZED",
    )
    .await;

    // A pending job cancels straight to canceled; finished jobs do not change.
    let canceled: Value = cancel(&s, id).await.json().await.unwrap();
    assert_eq!(canceled["status"], "canceled");
    assert!(canceled["completed_at"].is_string());
    assert_error(cancel(&s, id).await, 409, "SYNC_JOB_FINISHED").await;
    s.run_jobs();
    assert_eq!(
        sync_job(&s, id).await["status"],
        "canceled",
        "the runner leaves it canceled"
    );

    // Archive and hard delete stop a pending sync and forbid new ones.
    let second = trigger(&s, &c, "2026-01-01").await;
    assert_eq!(s.hard_delete(&s.admin_key, &c).await.status(), 200);
    assert_eq!(
        sync_job(&s, second["sync_job_id"].as_str().unwrap()).await["status"],
        "canceled"
    );
    assert_error(
        s.request_sync(&s.admin_key, &c, "2026-01-01").await,
        409,
        "CONNECTOR_DELETING",
    )
    .await;
    s.run_jobs();
    assert_error(
        s.get(&format!("{SYNC_JOBS}/{id}"), &s.admin_key).await,
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
    let s = server(&sshd).start().await;
    for stop in ["cancel", "archive"] {
        let c = research(&s, &s.admin_key, PASSWORD).await;
        let id = trigger(&s, &c, "2026-01-01").await["sync_job_id"]
            .as_str()
            .unwrap()
            .to_string();
        wait_for_job(&s, &id, Duration::from_secs(30), |job| {
            job["status"] == "in_progress" && job["indexed_document_count"].as_i64().unwrap() > 0
        })
        .await;
        if stop == "cancel" {
            let canceling: Value = cancel(&s, &id).await.json().await.unwrap();
            assert_eq!(canceling["status"], "canceling");
        } else {
            assert_eq!(
                s.delete(&connector_path(&c), &s.admin_key).await.status(),
                200
            );
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
        let connector = s.get_json(&connector_path(&c), &s.admin_key).await;
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
    let mut s = server(&sshd).job_lease("2s").start().await;
    let c = research(&s, &s.admin_key, PASSWORD).await;
    let id = trigger(&s, &c, "2026-01-01").await["sync_job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let job = wait_for_job(&s, &id, Duration::from_secs(30), |job| {
        job["indexed_document_count"].as_i64().unwrap() >= 20 || job["status"] == "completed"
    })
    .await;
    eprintln!(
        "killing the server with {} of {total} files indexed",
        job["indexed_document_count"]
    );
    s.kill();
    s.restart();
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
    let s = TestServer::builder().portal(&portal).start().await;
    let c = research(&s, &s.admin_key, PASSWORD).await;
    let history = format!("{}/sync_jobs", connector_path(&c));
    let job = wait_until(
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            let jobs = s.get_json(&history, &s.admin_key).await;
            let done = jobs["results"]
                .as_array()
                .unwrap()
                .iter()
                .find(|j| j["status"] == "completed")
                .cloned();
            done.ok_or(format!("no scheduled sync ran: {jobs}"))
        },
    )
    .await;
    assert_eq!(job["trigger_method"], "scheduled");
    assert_eq!(docs(&s, &c).await.len(), 1);
}
