//! Contract §3 hard delete (seeds 000, 001, 004): `force_delete=true` turns
//! the connector `deleting` at once and a durable purge removes its
//! documents (blobs first, then rows), its automatic tags, then itself.

mod common;

use common::{
    assert_error, connector_id, connector_path, document_path, TestServer, CONNECTORS, DOCUMENTS,
    TAGS,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn research_connector(s: &TestServer) -> Value {
    s.create_research_connector(&s.admin_key, "Desk", "u", "p")
        .await
}

fn purge_jobs(s: &TestServer) -> usize {
    s.list_jobs()
        .lines()
        .filter(|l| l.contains("purge_connector"))
        .count()
}

#[tokio::test]
async fn hard_delete_answers_deleting_at_once_then_purges_everything() {
    let s = TestServer::builder().manual_jobs().start().await;
    let key = &s.admin_key;
    let c = research_connector(&s).await;
    let p = connector_path(&c);
    let ids = s
        .seed_connector_documents(&c, 1200, &["broker:Broker A", "label:Desk"])
        .await;
    // An unrelated upload keeps `label:Desk` alive; a user-made tag always stays.
    let unrelated = s.upload(key, "mine.txt", b"mine", json!({})).await;
    s.open_state()
        .await
        .store
        .insert_document(
            &{
                let mut d = s
                    .open_state()
                    .await
                    .store
                    .document(
                        &inlet::domain::DocumentId::parse(unrelated["id"].as_str().unwrap())
                            .unwrap(),
                    )
                    .await
                    .unwrap()
                    .unwrap();
                d.id = inlet::domain::DocumentId::new();
                d.blob_key = None;
                d
            },
            &[],
            &["label:Desk".to_string()],
        )
        .await
        .unwrap();
    s.post_json(TAGS, key, &json!({"tag_name": "kept-by-user"}))
        .await;
    let before = s.get_json(&p, key).await;
    assert_eq!(before["files_count"], 1200);
    assert_eq!(s.blob_files().len(), 1201);

    let resp = s.hard_delete(key, &c).await;
    assert_eq!(resp.status(), 200);
    let deleting: Value = resp.json().await.unwrap();
    assert_eq!(
        (deleting["state"].as_str(), deleting["archived"].as_bool()),
        (Some("deleting"), Some(true))
    );
    assert_eq!(
        s.get_json(&p, key).await,
        deleting,
        "GET shows the deleting connector"
    );
    let list = s.get_json(CONNECTORS, key).await;
    assert_eq!(
        list["results"],
        json!([]),
        "a connector being deleted is not listed"
    );

    // Repeats are safe and change nothing; updates conflict.
    assert_eq!(
        s.hard_delete(key, &c).await.json::<Value>().await.unwrap(),
        deleting
    );
    assert_eq!(
        s.delete_json(&format!("{p}?hard=true"), key).await,
        deleting
    );
    assert_eq!(
        s.delete_json(&p, key).await,
        deleting,
        "soft delete of a deleting connector"
    );
    assert_error(
        s.put_json(&p, key, &json!({"label": "x"})).await,
        409,
        "CONNECTOR_DELETING",
    )
    .await;
    assert_eq!(purge_jobs(&s), 1, "{}", s.list_jobs());

    assert!(s.run_jobs() >= 1);
    s.assert_connector_gone(key, &c).await;
    assert_error(s.hard_delete(key, &c).await, 404, "CONNECTOR_NOT_FOUND").await;
    for id in ids.iter().step_by(100) {
        assert_error(
            s.get(&document_path(id), key).await,
            404,
            "PRIVATE_CONTENT_NOT_FOUND",
        )
        .await;
    }
    let docs = s
        .get_json(
            &format!("{DOCUMENTS}?connector_id={}", connector_id(&c)),
            key,
        )
        .await;
    assert_eq!(docs["results"], json!([]));
    assert_eq!(
        s.blob_files().len(),
        1,
        "only the unrelated upload's blob is left"
    );
    assert_eq!(
        s.get(&document_path(unrelated["id"].as_str().unwrap()), key)
            .await
            .status(),
        200
    );
    assert_eq!(
        s.tag_names(key).await,
        vec!["kept-by-user", "label:Desk"],
        "broker:Broker A went with its documents"
    );
    assert_eq!(purge_jobs(&s), 0);
}

#[tokio::test]
async fn concurrent_and_repeated_hard_deletes_purge_once() {
    let s = TestServer::builder().manual_jobs().start().await;
    let c = s.create_email_connector(&s.admin_key, "inbox", false).await;
    s.seed_connector_documents(&c, 10, &["label:inbox"]).await;
    let p = format!(
        "{}?force_delete=true&delete_sync_jobs=true",
        connector_path(&c)
    );
    let requests: Vec<_> = (0..10).map(|_| s.delete(&p, &s.admin_key)).collect();
    for resp in futures_util::future::join_all(requests).await {
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.json::<Value>().await.unwrap()["state"], "deleting");
    }
    assert_eq!(purge_jobs(&s), 1, "{}", s.list_jobs());
    s.run_jobs();
    s.assert_connector_gone(&s.admin_key, &c).await;
    assert!(s.blob_files().is_empty());
}

#[tokio::test]
async fn soft_then_hard_delete() {
    let s = TestServer::builder().manual_jobs().start().await;
    let c = s.create_email_connector(&s.admin_key, "inbox", true).await;
    s.seed_connector_documents(&c, 3, &[]).await;
    let archived = s.delete_json(&connector_path(&c), &s.admin_key).await;
    assert_eq!(
        (archived["state"].as_str(), archived["files_count"].as_i64()),
        (Some("archived"), Some(3)),
        "soft delete keeps documents"
    );
    let deleting: Value = s.hard_delete(&s.admin_key, &c).await.json().await.unwrap();
    assert_eq!(deleting["state"], "deleting");
    s.run_jobs();
    s.assert_connector_gone(&s.admin_key, &c).await;
}

#[tokio::test]
async fn only_the_owner_may_hard_delete() {
    let s = TestServer::builder().manual_jobs().start().await;
    let owner = s.create_key("acme", "alice");
    let member = s.create_key("acme", "bob");
    let c = s.create_email_connector(&owner, "shared", true).await;
    assert_error(s.hard_delete(&member, &c).await, 404, "CONNECTOR_NOT_FOUND").await;
    assert_eq!(
        s.get_json(&connector_path(&c), &owner).await["state"],
        "active"
    );
    assert_eq!(purge_jobs(&s), 0);
}

#[tokio::test]
async fn a_purge_killed_midway_resumes_after_restart_and_leaves_no_orphan() {
    // A short lease, so the restarted worker may take over the purge soon.
    let mut s = TestServer::builder().job_lease("2s").start().await;
    let c = research_connector(&s).await;
    let total = 4000;
    s.seed_connector_documents(&c, total, &["broker:Broker A"])
        .await;
    let p = connector_path(&c);
    assert_eq!(s.hard_delete(&s.admin_key, &c).await.status(), 200);

    // SIGKILL as soon as the server's own worker has purged part of it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let resp = s.get(&p, &s.admin_key).await;
        if resp.status() == 404 {
            break; // finished before we looked: restart still must be clean
        }
        let now: Value = resp.json().await.unwrap();
        let left = now["files_count"].as_i64().unwrap();
        if left < total as i64 {
            eprintln!("killing the server with {left} of {total} documents left");
            break;
        }
        assert!(Instant::now() < deadline, "the purge never started");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    s.kill();

    s.restart();
    s.wait_until_purged(&s.admin_key, &c, Duration::from_secs(60))
        .await;
    let app = s.open_state().await;
    let connector_id = uuid::Uuid::parse_str(connector_id(&c)).unwrap();
    assert!(
        app.store
            .connector_documents(connector_id, 10)
            .await
            .unwrap()
            .is_empty(),
        "no document row left"
    );
    assert!(
        s.blob_files().is_empty(),
        "no blob left: {:?}",
        s.blob_files().len()
    );
    assert!(
        app.store.jobs().await.unwrap().is_empty(),
        "the purge job is gone"
    );
    assert_eq!(
        s.tag_names(&s.admin_key).await,
        Vec::<String>::new(),
        "the automatic tag went with the documents"
    );
}
