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

async fn pause(s: &TestServer, c: &Value) -> reqwest::Response {
    s.post(&format!("{}/pause", connector_path(c)), &s.admin_key)
        .await
}

async fn events_of(s: &TestServer, c: &Value) -> Vec<Value> {
    let page = s
        .get_json(
            &format!("{}/events?limit=500", connector_path(c)),
            &s.admin_key,
        )
        .await;
    page["results"].as_array().unwrap().clone()
}

/// Triggers a sync and waits until it runs and has stored `indexed` files.
async fn running_sync(s: &TestServer, c: &Value, indexed: i64) -> String {
    let id = trigger(s, c, "2026-01-01").await["sync_job_id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for_job(s, &id, Duration::from_secs(30), |job| {
        job["status"] == "in_progress" && job["indexed_document_count"].as_i64().unwrap() >= indexed
    })
    .await;
    id
}

fn bulk(sshd: &Sshd, n: usize) {
    for i in 0..n {
        sshd.file(
            &format!("bulk/{i:04}.txt"),
            format!("bulk note {i}").as_bytes(),
            at("2026-02-10T08:30:00Z"),
        );
    }
}

#[tokio::test]
async fn pausing_cancels_a_running_sync_and_refuses_new_ones_until_resumed() {
    let sshd = Sshd::start();
    bulk(&sshd, 400);
    let s = server(&sshd).start().await;
    let c = research(&s, &s.admin_key, PASSWORD).await;
    let id = running_sync(&s, &c, 1).await;
    let paused: Value = pause(&s, &c).await.json().await.unwrap();
    assert_eq!(paused["state"], "paused");
    let job = wait_finished(&s, &id).await;
    assert_eq!(job["status"], "canceled", "{job}");
    assert!(job["indexed_document_count"].as_i64().unwrap() < 400);

    let refused = s.request_sync(&s.admin_key, &c, "2026-01-01").await;
    assert_error(refused, 409, "CONNECTOR_PAUSED").await;
    let resumed = s
        .post(&format!("{}/resume", connector_path(&c)), &s.admin_key)
        .await;
    assert_eq!(resumed.status(), 200);
    let again = trigger(&s, &c, "2026-01-01").await;
    let job = wait_finished(&s, again["sync_job_id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(
        docs(&s, &c).await.len(),
        400,
        "the rest came after the resume"
    );
}

#[tokio::test]
async fn no_scheduled_sync_starts_while_paused() {
    let sshd = Sshd::start();
    sshd.file("daily.txt", b"daily", at("2026-02-10T08:30:00Z"));
    let portal = sshd
        .portal("acme", &sshd.fingerprint)
        .replace("connect_timeout", "sync_interval = \"1s\"\nconnect_timeout");
    let s = TestServer::builder().portal(&portal).start().await;
    let c = research(&s, &s.admin_key, PASSWORD).await;
    assert_eq!(pause(&s, &c).await.status(), 200);
    let history = format!("{}/sync_jobs", connector_path(&c));
    // Three intervals pass: none starts.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let jobs = s.get_json(&history, &s.admin_key).await;
    let started: Vec<&Value> = jobs["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["status"] != "canceled")
        .collect();
    assert!(started.is_empty(), "{jobs}");
    s.post(&format!("{}/resume", connector_path(&c)), &s.admin_key)
        .await;
    wait_until(
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            let jobs = s.get_json(&history, &s.admin_key).await;
            jobs["results"]
                .as_array()
                .unwrap()
                .iter()
                .find(|j| j["status"] == "completed" && j["trigger_method"] == "scheduled")
                .cloned()
                .ok_or(format!("{jobs}"))
        },
    )
    .await;
}

/// A file the portal will not serve is tried three times, then skipped
/// and listed on the job, which still completes.
#[tokio::test]
async fn an_unreadable_file_is_retried_then_skipped_and_listed() {
    let sshd = Sshd::start();
    sshd.file("a.txt", b"first", at("2026-02-10T08:30:00Z"));
    let locked = sshd.file("b-locked.txt", b"secret", at("2026-02-10T08:30:00Z"));
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    sshd.file("c.txt", b"third", at("2026-02-10T08:30:00Z"));
    let s = server(&sshd).manual_jobs().start().await;
    let c = research(&s, &s.admin_key, PASSWORD).await;
    let job = sync_to_the_end(&s, &c).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["indexed_document_count"], 2);
    assert_eq!(job["skipped_document_count"], 1);
    let errors = job["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{job}");
    assert_eq!(errors[0]["remote_path"], locked.to_str().unwrap(), "{job}");
    let message = errors[0]["message"].as_str().unwrap().to_lowercase();
    assert!(message.contains("permission"), "{message}");
    assert!(!job.to_string().contains(PASSWORD));
    let log = events_of(&s, &c).await;
    let failed: Vec<&Value> = log
        .iter()
        .filter(|e| e["type"] == "sync_file_failed")
        .collect();
    assert_eq!(failed.len(), 1, "{log:?}");
    assert_eq!(failed[0]["remote_path"], locked.to_str().unwrap());
    assert_eq!(failed[0]["sync_job_id"], job["sync_job_id"]);
    let stored = log
        .iter()
        .filter(|e| e["type"] == "sync_file_stored")
        .count();
    assert_eq!(stored, 2, "{log:?}");
    assert_eq!(docs(&s, &c).await.len(), 2);
    // The next sync tries it again, and takes it once readable.
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let job = sync_to_the_end(&s, &c).await;
    assert_eq!(
        (
            job["status"].as_str(),
            job["indexed_document_count"].as_i64()
        ),
        (Some("completed"), Some(1))
    );
    assert_eq!(job["errors"], json!([]));
}

#[tokio::test]
async fn a_file_that_vanishes_mid_sync_is_skipped_and_the_sync_completes() {
    let sshd = Sshd::start();
    bulk(&sshd, 300);
    let s = server(&sshd).start().await;
    let c = research(&s, &s.admin_key, PASSWORD).await;
    let id = running_sync(&s, &c, 1).await;
    let last = sshd.root.join("bulk/0299.txt");
    std::fs::remove_file(&last).unwrap();
    let job = wait_finished(&s, &id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["indexed_document_count"], 299, "{job}");
    assert_eq!(job["skipped_document_count"], 1);
    assert_eq!(job["errors"][0]["remote_path"], last.to_str().unwrap());
    assert!(
        job["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("vanished"),
        "{job}"
    );
    let metrics = s.metrics().await;
    assert!(
        metrics.contains("inlet_sync_files_skipped_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_portal_that_stops_answering_ends_the_sync_in_error() {
    let sshd = Sshd::start();
    bulk(&sshd, 400);
    let portal = sshd
        .portal("acme", &sshd.fingerprint)
        .replace("transfer_timeout = \"10s\"", "transfer_timeout = \"2s\"");
    let s = TestServer::builder().portal(&portal).start().await;
    let c = research(&s, &s.admin_key, PASSWORD).await;
    let id = running_sync(&s, &c, 1).await;
    sshd.freeze();
    let job = wait_for_job(&s, &id, Duration::from_secs(30), |job| {
        job["status"] != "in_progress"
    })
    .await;
    sshd.thaw();
    assert_eq!(job["status"], "error", "{job}");
    // A read that times out, or the session the client closed for
    // inactivity: either way the portal stopped answering.
    let error = job["error"].as_str().unwrap();
    assert!(
        error.contains("did not answer in time") || error.contains("stopped answering"),
        "{job}"
    );
    assert_eq!(job["errors"], json!([]), "no file was blamed: {job}");
    assert!(job["indexed_document_count"].as_i64().unwrap() < 400);
    let connector = s.get_json(&connector_path(&c), &s.admin_key).await;
    assert_eq!(connector["last_sync_status"], "FAILED");
}

/// A worker killed mid-sync: another process takes the sync over once the
/// lease expires, and finishes it.
#[tokio::test]
async fn a_replica_takes_over_a_sync_whose_worker_was_killed() {
    let sshd = Sshd::start();
    bulk(&sshd, 300);
    let mut s = server(&sshd).job_lease("2s").start().await;
    let c = research(&s, &s.admin_key, PASSWORD).await;
    let id = running_sync(&s, &c, 10).await;
    let replica = s.replica();
    s.kill();
    let job = wait_for_job(&replica, &id, Duration::from_secs(60), |job| {
        job["status"] == "completed"
    })
    .await;
    // Files the killed worker stored after its last progress report count
    // as skipped (already there) on resume; each is stored once.
    let counted = job["indexed_document_count"].as_i64().unwrap()
        + job["skipped_document_count"].as_i64().unwrap();
    assert!(counted >= 300, "{job}");
    assert_eq!(
        docs(&replica, &c).await.len(),
        300,
        "every file exactly once"
    );
    let metrics = replica.metrics().await;
    assert!(
        metrics.contains("inlet_syncs_taken_over_total 1"),
        "{metrics}"
    );
}

/// A sync running past `max_sync_duration` ends `error`: here, one whose
/// worker was killed and that is taken over after the limit.
#[tokio::test]
async fn a_sync_past_max_sync_duration_ends_in_error() {
    let sshd = Sshd::start();
    bulk(&sshd, 300);
    // Long enough that a loaded machine still shows the sync running
    // before the kill; the restart comes after it has run out.
    let portal = sshd.portal("acme", &sshd.fingerprint).replace(
        "connect_timeout",
        "max_sync_duration = \"6s\"\nconnect_timeout",
    );
    let mut s = TestServer::builder()
        .portal(&portal)
        .job_lease("2s")
        .start()
        .await;
    let c = research(&s, &s.admin_key, PASSWORD).await;
    let id = running_sync(&s, &c, 1).await;
    s.kill();
    tokio::time::sleep(Duration::from_secs(7)).await;
    s.restart();
    let job = wait_finished(&s, &id).await;
    assert_eq!(job["status"], "error", "{job}");
    assert!(
        job["error"].as_str().unwrap().contains("max_sync_duration"),
        "{job}"
    );
}

/// `POST /connectors/validate` with `test_connection` logs in to the real
/// portal: each way it can fail is reported on `connection`, without the
/// password.
#[tokio::test]
async fn validate_tests_the_portal_connection() {
    let sshd = Sshd::start();
    // A listener that accepts and never speaks.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let port_line = format!("port = {}", sshd.port);
    let s = server(&sshd)
        .portal(&sshd.portal(
            "wrong-key",
            "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ))
        .portal(
            &sshd
                .portal("closed", &sshd.fingerprint)
                .replace(&port_line, &format!("port = {closed_port}")),
        )
        .portal(
            &sshd
                .portal("silent", &sshd.fingerprint)
                .replace(&port_line, &format!("port = {silent_port}"))
                .replace("connect_timeout = \"10s\"", "connect_timeout = \"2s\""),
        )
        .start()
        .await;
    let validate = |portal: &str, password: &str| {
        let body = json!({"type": "investment_research", "label": "r", "test_connection": true,
                          "config": {"user_id": USER, "user_password": password, "portal": portal}});
        let s = &s;
        async move {
            let resp = s
                .post_json("/contents/v1/connectors/validate", &s.admin_key, &body)
                .await;
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(validate("acme", PASSWORD).await, json!({"valid": true}));
    let wrong_password = "Wrong-Portal-Pass-99";
    for (portal, password, cause) in [
        ("acme", wrong_password, "refused the login"),
        ("wrong-key", PASSWORD, "host key"),
        ("closed", PASSWORD, "cannot connect"),
        ("silent", PASSWORD, "did not answer in time"),
    ] {
        let out = validate(portal, password).await;
        assert_eq!(out["valid"], false, "{portal}: {out}");
        assert_eq!(out["errors"][0]["field"], "connection", "{portal}: {out}");
        let message = out["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(cause), "{portal}: {message}");
        assert!(!out.to_string().contains(password), "{portal}: {out}");
    }
    drop(silent);
    let list = s.get_json(common::CONNECTORS, &s.admin_key).await;
    assert_eq!(list["results"], json!([]), "nothing was created");
}

/// Scheduled syncs missed while the only server was down run once at the
/// next start, not once per missed interval.
#[tokio::test]
async fn missed_schedules_run_once_at_the_next_start() {
    let sshd = Sshd::start();
    sshd.file("daily.txt", b"daily", at("2026-02-10T08:30:00Z"));
    let portal = sshd
        .portal("acme", &sshd.fingerprint)
        .replace("connect_timeout", "sync_interval = \"3s\"\nconnect_timeout");
    let mut s = TestServer::builder().portal(&portal).start().await;
    let c = research(&s, &s.admin_key, PASSWORD).await;
    s.kill();
    // Three intervals and more pass with no server.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let restarted_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    s.restart();
    let history = format!("{}/sync_jobs", connector_path(&c));
    let after_restart = |jobs: &Value| -> Vec<Value> {
        jobs["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["created_at"].as_str().unwrap() >= restarted_at.as_str())
            .cloned()
            .collect()
    };
    let first = wait_until(
        Duration::from_secs(20),
        Duration::from_millis(50),
        || async {
            let jobs = s.get_json(&history, &s.admin_key).await;
            let new = after_restart(&jobs);
            if new.is_empty() {
                Err(format!("{jobs}"))
            } else {
                Ok(new)
            }
        },
    )
    .await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0]["trigger_method"], "scheduled");
    // Shortly after, still one: the missed runs were not replayed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let jobs = s.get_json(&history, &s.admin_key).await;
    assert_eq!(after_restart(&jobs).len(), 1, "{jobs}");
}
