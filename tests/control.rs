//! Contract §13: pausing and resuming connectors, their state machine with
//! archive and hard delete, `POST /connectors/validate`, and the activity
//! log `GET /connectors/{id}/events`.

mod common;

use common::smtp::message;
use common::{
    assert_error, assert_invalid_request, connector_id, connector_path, inbox_address, result_ids,
    wait_until, TestServer, CONNECTORS, DESK,
};
use serde_json::{json, Value};
use std::time::Duration;

async fn pause(s: &TestServer, key: &str, c: &Value) -> reqwest::Response {
    s.post(&format!("{}/pause", connector_path(c)), key).await
}

async fn resume(s: &TestServer, key: &str, c: &Value) -> reqwest::Response {
    s.post(&format!("{}/resume", connector_path(c)), key).await
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn pause_and_resume_are_idempotent_and_show_in_state_and_lists() {
    let s = TestServer::start().await;
    let c = s.create_email_connector(&s.admin_key, "Desk", true).await;
    let other = s.create_email_connector(&s.admin_key, "Other", false).await;

    let resp = pause(&s, &s.admin_key, &c).await;
    assert_eq!(resp.status(), 200);
    let paused: Value = resp.json().await.unwrap();
    assert_eq!(
        (paused["state"].as_str(), paused["archived"].as_bool()),
        (Some("paused"), Some(false))
    );
    assert_eq!(paused["connector_id"], c["connector_id"]);
    let again: Value = pause(&s, &s.admin_key, &c).await.json().await.unwrap();
    assert_eq!(again, paused, "pausing again changes nothing");
    assert_eq!(s.get_json(&connector_path(&c), &s.admin_key).await, paused);

    let ids = |q: &'static str| {
        let s = &s;
        async move {
            result_ids(
                &s.get_json(&format!("{CONNECTORS}?{q}"), &s.admin_key).await,
                "connector_id",
            )
        }
    };
    let (cid, oid) = (
        connector_id(&c).to_string(),
        connector_id(&other).to_string(),
    );
    assert_eq!(ids("state=paused").await, vec![cid.clone()]);
    assert_eq!(ids("state=active").await, vec![oid.clone()]);
    assert!(ids("state=archived").await.is_empty());
    assert_eq!(
        ids("archived=false").await,
        vec![oid.clone(), cid.clone()],
        "a paused connector is not archived"
    );
    for bad in [
        "state=deleting",
        "state=PAUSED",
        "state=",
        "state=paused&state=active",
    ] {
        assert_invalid_request(
            s.get(&format!("{CONNECTORS}?{bad}"), &s.admin_key).await,
            "state",
            bad,
        )
        .await;
    }

    // Someone in the org sees the shared connector but may not pause it.
    let colleague = s.create_key("default", "colleague");
    assert_eq!(
        s.get(&connector_path(&c), &colleague).await.status(),
        200,
        "visible"
    );
    for op in [
        pause(&s, &colleague, &c).await,
        resume(&s, &colleague, &c).await,
    ] {
        assert_error(op, 404, "CONNECTOR_NOT_FOUND").await;
    }
    let stranger = s.create_key("elsewhere", "stranger");
    assert_error(pause(&s, &stranger, &c).await, 404, "CONNECTOR_NOT_FOUND").await;
    assert_error(
        s.post(&format!("{CONNECTORS}/not-a-uuid/pause"), &s.admin_key)
            .await,
        400,
        "INVALID_CONNECTOR_ID",
    )
    .await;
    assert_error(
        s.post(
            &format!("{CONNECTORS}/{}/resume", uuid::Uuid::now_v7()),
            &s.admin_key,
        )
        .await,
        404,
        "CONNECTOR_NOT_FOUND",
    )
    .await;
    assert_error(
        s.get(&format!("{}/pause", connector_path(&c)), &s.admin_key)
            .await,
        405,
        "METHOD_NOT_ALLOWED",
    )
    .await;

    let resumed: Value = resume(&s, &s.admin_key, &c).await.json().await.unwrap();
    assert_eq!(resumed["state"], "active");
    let again: Value = resume(&s, &s.admin_key, &c).await.json().await.unwrap();
    assert_eq!(
        again, resumed,
        "resuming an active connector changes nothing"
    );

    let log = s.connector_events(&colleague, &c).await;
    assert_eq!(
        types(&log),
        ["connector_resumed", "connector_paused"],
        "newest first, once each: {log:?}"
    );
    let metrics = s.metrics().await;
    assert!(
        metrics.contains("inlet_connectors{state=\"active\"} 2"),
        "{metrics}"
    );
}

/// Every operation from every state: pause, resume, archive (soft delete)
/// and hard delete.
#[tokio::test]
async fn the_state_machine_with_archive_and_hard_delete() {
    // Manual jobs: a hard-deleted connector stays `deleting`.
    let s = TestServer::builder().manual_jobs().start().await;
    #[derive(Clone, Copy, Debug)]
    enum Op {
        Pause,
        Resume,
        Archive,
        HardDelete,
    }
    let into = |s: &'static str| s;
    let cases: Vec<(&str, Op, Result<&str, &str>)> = vec![
        ("active", Op::Pause, Ok("paused")),
        ("active", Op::Resume, Ok("active")),
        ("active", Op::Archive, Ok("archived")),
        ("active", Op::HardDelete, Ok("deleting")),
        ("paused", Op::Pause, Ok("paused")),
        ("paused", Op::Resume, Ok("active")),
        ("paused", Op::Archive, Ok("archived")),
        ("paused", Op::HardDelete, Ok("deleting")),
        ("archived", Op::Pause, Err("CONNECTOR_ARCHIVED")),
        ("archived", Op::Resume, Err("CONNECTOR_ARCHIVED")),
        ("archived", Op::Archive, Ok("archived")),
        ("archived", Op::HardDelete, Ok("deleting")),
        ("deleting", Op::Pause, Err("CONNECTOR_DELETING")),
        ("deleting", Op::Resume, Err("CONNECTOR_DELETING")),
        ("deleting", Op::Archive, Ok("deleting")),
        ("deleting", Op::HardDelete, Ok("deleting")),
    ];
    for (from, op, expected) in cases {
        let c = s.create_email_connector(&s.admin_key, from, false).await;
        let path = connector_path(&c);
        let setup = match into(from) {
            "active" => None,
            "paused" => Some(pause(&s, &s.admin_key, &c).await),
            "archived" => Some(s.delete(&path, &s.admin_key).await),
            _ => Some(s.hard_delete(&s.admin_key, &c).await),
        };
        if let Some(r) = setup {
            assert_eq!(r.status(), 200, "into {from}");
        }
        assert_eq!(s.get_json(&path, &s.admin_key).await["state"], from);
        let resp = match op {
            Op::Pause => pause(&s, &s.admin_key, &c).await,
            Op::Resume => resume(&s, &s.admin_key, &c).await,
            Op::Archive => s.delete(&path, &s.admin_key).await,
            Op::HardDelete => s.hard_delete(&s.admin_key, &c).await,
        };
        match expected {
            Ok(state) => {
                assert_eq!(resp.status(), 200, "{from} {op:?}");
                let body: Value = resp.json().await.unwrap();
                assert_eq!(body["state"], state, "{from} {op:?} answers {body}");
                assert_eq!(
                    body["archived"],
                    ["archived", "deleting"].contains(&state),
                    "{from} {op:?}"
                );
                assert_eq!(
                    s.get_json(&path, &s.admin_key).await["state"],
                    state,
                    "{from} {op:?} is stored"
                );
            }
            Err(code) => {
                assert_error(resp, 409, code).await;
                assert_eq!(
                    s.get_json(&path, &s.admin_key).await["state"],
                    from,
                    "{from} {op:?} changed nothing"
                );
            }
        }
    }
}

/// A sender that retries as MTAs do (Python's smtplib in a loop): while the
/// inbox is paused it is told `451 4.2.1`, and after the resume its message
/// arrives, once.
#[tokio::test]
async fn a_paused_inbox_defers_mail_and_a_retrying_sender_delivers_once_after_resume() {
    let s = TestServer::start().await;
    let c = s.create_email_connector(&s.admin_key, "Desk", false).await;
    let inbox = inbox_address(&c);
    assert_eq!(pause(&s, &s.admin_key, &c).await.status(), 200);

    let (host, port) = s.smtp.rsplit_once(':').unwrap();
    let raw = String::from_utf8(message(
        DESK,
        &inbox,
        "Held note",
        "held-1@broker.example",
        "hi",
    ))
    .unwrap();
    let script = r#"
import smtplib, sys, time
host, port, sender, rcpt, raw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.stdin.read()
tries = 0
deadline = time.time() + 60
while time.time() < deadline:
    tries += 1
    try:
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            smtp.sendmail(sender, [rcpt], raw.encode())
        print("sent after", tries, "tries", flush=True)
        sys.exit(0)
    except smtplib.SMTPRecipientsRefused as e:
        code, text = list(e.recipients.values())[0]
        if code // 100 != 4:
            print("permanent", code, text, flush=True)
            sys.exit(3)
        print("deferred", code, text.decode(), flush=True)
    time.sleep(0.2)
sys.exit(2)
"#;
    let mut sender = std::process::Command::new("python3")
        .args(["-c", script, host, port, DESK, &inbox])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    {
        use std::io::Write;
        let mut stdin = sender.stdin.take().unwrap();
        stdin.write_all(raw.as_bytes()).unwrap();
    }
    let sender = tokio::task::spawn_blocking(move || sender.wait_with_output());
    // Deferred at least twice before the resume.
    let deferred = wait_until(
        Duration::from_secs(30),
        Duration::from_millis(50),
        || async {
            let log = s.connector_events(&s.admin_key, &c).await;
            let n: i64 = log
                .iter()
                .filter(|e| e["reason"] == "inbox_paused")
                .map(|e| e["count"].as_i64().unwrap())
                .sum();
            if n >= 2 {
                Ok(log)
            } else {
                Err(format!("{log:?}"))
            }
        },
    )
    .await;
    let refusal = deferred
        .iter()
        .find(|e| e["reason"] == "inbox_paused")
        .unwrap();
    assert_eq!(refusal["type"], "email_rejected");
    assert_eq!(refusal["smtp_code"], 451);
    assert_eq!(refusal["envelope_from"], DESK);
    assert_eq!(refusal["recipient"], inbox.as_str());
    assert!(
        s.list_documents(&s.admin_key, &format!("connector_id={}", connector_id(&c)))
            .await
            .is_empty(),
        "nothing stored while paused"
    );

    assert_eq!(resume(&s, &s.admin_key, &c).await.status(), 200);
    let out = tokio::time::timeout(Duration::from_secs(90), sender)
        .await
        .expect("the sender finishes")
        .unwrap()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("deferred 451 4.2.1 Inbox paused"), "{said}");

    let docs = s
        .list_documents(&s.admin_key, &format!("connector_id={}", connector_id(&c)))
        .await;
    assert_eq!(docs.len(), 1, "arrived once: {docs:?}");
    let log = s.connector_events(&s.admin_key, &c).await;
    let accepted: Vec<&Value> = log
        .iter()
        .filter(|e| e["type"] == "email_accepted")
        .collect();
    assert_eq!(accepted.len(), 1, "{log:?}");
    assert_eq!(accepted[0]["subject"], "Held note");
    assert_eq!(accepted[0]["header_from"], DESK);
    assert_eq!(accepted[0]["smtp_code"], 250);
    assert_eq!(accepted[0]["document_ids"], json!([docs[0]["id"]]));
    assert!(accepted[0]["reason"].is_null());
}

#[tokio::test]
async fn refusals_are_logged_coalesced_and_paged_and_bodies_are_never_kept() {
    let s = TestServer::builder()
        .config("[smtp]\nmax_message_bytes = 2048\n")
        .start()
        .await;
    let c = s.create_email_connector(&s.admin_key, "Desk", false).await;
    let inbox = inbox_address(&c);
    let secret_body = "TOP-SECRET-BODY-TEXT";
    for i in 0..5 {
        let note = message(
            "spam@elsewhere.example",
            &inbox,
            "Buy now",
            &format!("spam-{i}@elsewhere.example"),
            secret_body,
        );
        let (code, _) = s.deliver("spam@elsewhere.example", &[&inbox], &note).await;
        assert_eq!(code, 550);
    }
    // Too large: refused at DATA with 552.
    let big = message(DESK, &inbox, "Big", "big@broker.example", &"x".repeat(4096));
    let (code, _) = s.deliver(DESK, &[&inbox], &big).await;
    assert_eq!(code, 552);
    // Accepted, then redelivered.
    let note = message(DESK, &inbox, "Daily", "daily@broker.example", secret_body);
    assert_eq!(s.deliver(DESK, &[&inbox], &note).await.0, 250);
    assert_eq!(s.deliver(DESK, &[&inbox], &note).await.0, 250);

    let log = s.connector_events(&s.admin_key, &c).await;
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(secret_body), "no body in any event: {text}");
    let refused: Vec<&Value> = log
        .iter()
        .filter(|e| e["reason"] == "sender_not_allowed")
        .collect();
    // Five refusals within (at most) two minutes: one or two rows.
    let total: i64 = refused.iter().map(|e| e["count"].as_i64().unwrap()).sum();
    assert_eq!(total, 5, "{log:?}");
    assert!(refused.len() <= 2, "coalesced: {log:?}");
    assert_eq!(refused[0]["type"], "email_rejected");
    assert_eq!(refused[0]["smtp_code"], 550);
    assert_eq!(refused[0]["envelope_from"], "spam@elsewhere.example");
    assert_eq!(refused[0]["header_from"], "spam@elsewhere.example");
    assert_eq!(refused[0]["subject"], "Buy now");
    assert!(refused[0]["document_ids"].as_array().unwrap().is_empty());
    let reasons: Vec<&str> = log.iter().filter_map(|e| e["reason"].as_str()).collect();
    assert!(reasons.contains(&"too_large"), "{reasons:?}");
    let duplicate = log.iter().find(|e| e["reason"] == "duplicate").unwrap();
    assert_eq!(
        (duplicate["type"].as_str(), duplicate["smtp_code"].as_i64()),
        (Some("email_accepted"), Some(250))
    );
    let metrics = s.metrics().await;
    assert!(
        metrics
            .contains("inlet_connector_events_total{type=\"email_rejected\",coalesced=\"true\"}"),
        "{metrics}"
    );

    // Paging: newest first, a cursor, and the same events as one page.
    let path = format!("{}/events", connector_path(&c));
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}?limit=2&cursor={c}"),
            None => format!("{path}?limit=2"),
        };
        let page = s.get_json(&url, &s.admin_key).await;
        let results = page["results"].as_array().unwrap();
        assert!(results.len() <= 2);
        seen.extend(results.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, log);
    let ids: Vec<&str> = log
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "newest first");

    for bad in [
        "limit=0",
        "limit=501",
        "limit=x",
        "cursor=nope",
        "color=red",
    ] {
        let resp = s.get(&format!("{path}?{bad}"), &s.admin_key).await;
        assert_error(resp, 400, "INVALID_REQUEST").await;
    }
    // Visibility as the connector's: a private connector's log is 404 to others.
    let colleague = s.create_key("default", "colleague");
    assert_error(s.get(&path, &colleague).await, 404, "CONNECTOR_NOT_FOUND").await;
    assert_error(
        s.get(
            &format!("{CONNECTORS}/{}/events", uuid::Uuid::now_v7()),
            &s.admin_key,
        )
        .await,
        404,
        "CONNECTOR_NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn events_expire_after_the_retention_and_go_with_a_hard_delete() {
    let s = TestServer::builder()
        .config("[events]\nretention = \"2s\"\n\n[blobs]\nsweep_interval = \"1s\"\n")
        .start()
        .await;
    let c = s.create_email_connector(&s.admin_key, "Desk", false).await;
    assert_eq!(pause(&s, &s.admin_key, &c).await.status(), 200);
    assert_eq!(s.connector_events(&s.admin_key, &c).await.len(), 1);
    wait_until(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let log = s.connector_events(&s.admin_key, &c).await;
            if log.is_empty() {
                Ok(())
            } else {
                Err(format!("{log:?}"))
            }
        },
    )
    .await;

    // A hard delete's purge removes the connector's events with it.
    let c = s.create_email_connector(&s.admin_key, "Gone", false).await;
    assert_eq!(pause(&s, &s.admin_key, &c).await.status(), 200);
    assert_eq!(s.hard_delete(&s.admin_key, &c).await.status(), 200);
    s.wait_until_purged(&s.admin_key, &c, Duration::from_secs(30))
        .await;
    let state = s.open_state().await;
    let id = uuid::Uuid::parse_str(connector_id(&c)).unwrap();
    assert!(state.store.events(id, None, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn validate_lists_every_problem_with_its_field_and_creates_nothing() {
    let s = TestServer::start().await;
    let validate = |body: Value| {
        let s = &s;
        async move {
            let resp = s
                .post_json(&format!("{CONNECTORS}/validate"), &s.admin_key, &body)
                .await;
            assert_eq!(resp.status(), 200, "{body}");
            resp.json::<Value>().await.unwrap()
        }
    };
    let ok = validate(json!({"type": "email", "label": "x", "config": {"allowed_emails": [DESK]}}))
        .await;
    assert_eq!(ok, json!({"valid": true}));

    let bad = json!({"type": "email", "label": "  ", "description": 7, "colour": "red",
                     "config": {"allowed_emails": ["ok@x.example", "nope", 3, "also bad"],
                                "email_hash": "a1b2c3d4e5f6", "allowed_email": []}});
    let out = validate(bad.clone()).await;
    assert_eq!(out["valid"], false);
    let fields: Vec<&str> = out["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "label",
        "description",
        "colour",
        "config.email_hash",
        "config.allowed_email",
        "config.allowed_emails[1]",
        "config.allowed_emails[2]",
        "config.allowed_emails[3]",
    ] {
        assert!(fields.contains(&f), "{f} missing from {out}");
    }
    assert_eq!(fields.len(), 8, "{out}");
    // Create answers the first of the same list, with its 400.
    let first = &out["errors"][0];
    let resp = s.post_json(CONNECTORS, &s.admin_key, &bad).await;
    let err = assert_error(resp, 400, "INVALID_REQUEST").await;
    assert_eq!(
        err["message"],
        format!(
            "{}: {}",
            first["field"].as_str().unwrap(),
            first["message"].as_str().unwrap()
        )
    );

    let research = validate(json!({"type": "investment_research", "label": "r",
        "config": {"user_id": " ", "user_password": "", "portal": "nowhere"}}))
    .await;
    let fields: Vec<&str> = research["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["config.user_id", "config.user_password", "config.portal"],
        "{research}"
    );
    let typed = validate(
        json!({"type": "investment_research", "label": "r", "test_connection": "yes",
        "config": {"user_id": "u", "user_password": 987654321}}),
    )
    .await;
    let text = typed.to_string();
    assert!(!text.contains("987654321"), "{text}");
    assert!(
        text.contains("test_connection") && text.contains("config.user_password"),
        "{text}"
    );

    // What is not an object is refused as by create.
    for body in [json!([1]), json!("x")] {
        let resp = s
            .post_json(&format!("{CONNECTORS}/validate"), &s.admin_key, &body)
            .await;
        assert_error(resp, 400, "INVALID_REQUEST").await;
    }
    assert_error(
        s.get(&format!("{CONNECTORS}/validate"), &s.admin_key).await,
        405,
        "METHOD_NOT_ALLOWED",
    )
    .await;
    let list = s.get_json(CONNECTORS, &s.admin_key).await;
    assert_eq!(list["results"], json!([]), "nothing was created");
}
