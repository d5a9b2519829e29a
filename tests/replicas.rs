//! Several replicas: two real `inlet serve` processes on one PostgreSQL
//! database (these tests always use PostgreSQL) and one blob directory, or,
//! with the suite on S3 (`INLET_TEST_BLOBS=s3`), one bucket and a data dir
//! each: no shared volume.

mod common;

use common::smtp::message;
use common::{connector_id, connector_path, inbox_address, TestDatabase, TestServer, DESK};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The server key every replica is configured with (signed URLs made by
/// one are checked by another).
const SHARED_SECRET_KEY: &str =
    "secret_key = \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"";

/// Two replicas sharing a database and a data dir (blobs on S3: a bucket,
/// and a data dir each); `None` (and a note) when no PostgreSQL is
/// reachable outside CI.
async fn two_replicas() -> Option<(TestServer, TestServer)> {
    let db = TestDatabase::create_always()?;
    let first = TestServer::builder()
        .config(SHARED_SECRET_KEY)
        .postgres(db)
        .without_portals()
        .job_lease("2s")
        .start()
        .await;
    let second = match first.blobs_keys() {
        Some(_) => first.replica_with_own_data_dir(),
        None => first.replica(),
    };
    Some((first, second))
}

async fn inbox(s: &TestServer) -> Value {
    s.create_email_connector(&s.admin_key, "shared inbox", false)
        .await
}

/// How many purges a replica's metrics count as done.
async fn purges_done(s: &TestServer) -> f64 {
    s.metrics()
        .await
        .lines()
        .find(|l| l.starts_with(r#"inlet_jobs_total{kind="purge_connector",outcome="done"}"#))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse::<f64>().unwrap())
}

#[tokio::test]
async fn what_one_replica_writes_the_other_reads() {
    let Some((r0, r1)) = two_replicas().await else {
        return;
    };
    let key = &r0.admin_key;
    let created = inbox(&r0).await;
    let path = connector_path(&created);
    assert_eq!(r1.get_json(&path, key).await, created);
    // An upload registered on one replica completes through the other.
    let (id, url) = r0.new_upload(key, &json!({"file_name": "note.txt"})).await;
    let url = url.replace(&r0.base, &r1.base);
    assert_eq!(r1.put_upload(&url, "across replicas").await.status(), 200);
    r0.wait_until_completed(key, &id).await;
    // A hard delete accepted by one replica is purged once, by either.
    assert_eq!(r1.hard_delete(key, &created).await.status(), 200);
    r0.wait_until_purged(key, &created, Duration::from_secs(20))
        .await;
    assert_eq!(
        purges_done(&r0).await + purges_done(&r1).await,
        1.0,
        "the purge ran exactly once across the replicas"
    );
}

#[tokio::test]
async fn deliveries_spread_over_both_are_stored_exactly_once() {
    let Some((r0, r1)) = two_replicas().await else {
        return;
    };
    let connector = inbox(&r0).await;
    let address = inbox_address(&connector);
    let mut tasks = vec![];
    for smtp_addr in [r0.smtp.clone(), r1.smtp.clone()] {
        let address = address.clone();
        tasks.push(tokio::spawn(async move {
            let (mut smtp, ..) = common::smtp::Smtp::connect(&smtp_addr).await;
            smtp.cmd("EHLO spread").await;
            for n in 0..30 {
                // Every message goes to both replicas, as a retrying sender would.
                let msg = message(
                    DESK,
                    &address,
                    &format!("n{n}"),
                    &format!("{n}@spread"),
                    "hello",
                );
                assert_eq!(smtp.deliver(DESK, &[&address], &msg).await.0, 250);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let docs = r1
        .list_documents(
            &r1.admin_key,
            &format!("connector_id={}", connector_id(&connector)),
        )
        .await;
    let mut ids: Vec<&str> = docs
        .iter()
        .map(|d| d["file_metadata"]["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 30, "each message once");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 30);
}

#[tokio::test]
async fn a_killed_replica_leaves_its_purge_to_the_other() {
    let Some((mut r0, r1)) = two_replicas().await else {
        return;
    };
    let key = r0.admin_key.clone();
    let connector = inbox(&r0).await;
    let total = 3000;
    r0.seed_connector_documents(&connector, total, &["label:shared inbox"])
        .await;
    let path = connector_path(&connector);
    assert_eq!(r0.hard_delete(&key, &connector).await.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let resp = r1.get(&path, &key).await;
        if resp.status() == 404 {
            break;
        }
        let now: Value = resp.json().await.unwrap();
        if now["files_count"].as_i64().unwrap() < total as i64 {
            break;
        }
        assert!(Instant::now() < deadline, "the purge never started");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    r0.kill();
    r1.wait_until_purged(&key, &connector, Duration::from_secs(60))
        .await;
    let blobs = r1.blob_files();
    assert!(
        blobs.iter().all(|p| p.to_string_lossy().contains(".probe")),
        "no document blob left: {}",
        blobs.len()
    );
    let app = r1.open_state().await;
    let id = uuid::Uuid::parse_str(connector_id(&connector)).unwrap();
    assert!(app
        .store
        .connector_documents(id, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(app.store.jobs().await.unwrap().is_empty());
}
