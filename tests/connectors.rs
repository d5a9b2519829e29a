//! Contract §3 through the real server: create, list, get, update, delete.

mod common;

use common::{
    assert_error, assert_invalid_request, connector_id, connector_path, result_ids, TestServer,
    CONNECTORS, DESK, INBOX_DOMAIN,
};
use serde_json::{json, Value};
use uuid::Uuid;

fn is_timestamp(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    // 2026-02-11T11:01:09.574095Z
    s.len() == 27
        && s.ends_with('Z')
        && s.as_bytes()[19] == b'.'
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

#[tokio::test]
async fn create_email_connector_answers_201_with_location_and_the_whole_object() {
    let s = TestServer::start().await;
    let resp = s
        .post_json(
            CONNECTORS,
            &s.admin_key,
            &json!({"type": "email", "label": "  Broker Research - Daily  ",
                    "config": {"allowed_emails": [DESK]}}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let c: Value = resp.json().await.unwrap();

    let id = c["connector_id"].as_str().unwrap();
    let uuid = Uuid::parse_str(id).unwrap();
    assert_eq!(uuid.get_version_num(), 7);
    assert_eq!(id, uuid.hyphenated().to_string(), "lowercase, hyphenated");
    assert_eq!(location, format!("{CONNECTORS}/{id}"));
    assert_eq!(c["user_id"], "admin");
    assert_eq!(c["org_id"], "default");
    assert_eq!(c["type"], "email");
    assert_eq!(c["label"], "Broker Research - Daily");
    assert_eq!(c["description"], "");
    assert_eq!(c["share_with_org"], false);
    let hash = c["config"]["email_hash"].as_str().unwrap();
    assert_eq!(hash.len(), 12);
    assert!(hash
        .chars()
        .all(|ch| ch.is_ascii_digit() || ('a'..='f').contains(&ch)));
    assert_eq!(c["config"]["email"], format!("{hash}@{INBOX_DOMAIN}"));
    assert_eq!(c["config"]["allowed_emails"], json!([DESK]));
    assert_eq!(c["files_count"], 0);
    for f in [
        "last_sync_at",
        "last_sync_status",
        "last_sync_error_msg",
        "last_sync_count",
    ] {
        assert!(c[f].is_null(), "{f} is null until a first sync");
    }
    assert_eq!(c["archived"], false);
    assert_eq!(c["state"], "active");
    assert!(
        is_timestamp(&c["created_at"]) && is_timestamp(&c["updated_at"]),
        "{c}"
    );

    let got = s.get_json(&location, &s.admin_key).await;
    assert_eq!(got, c, "GET returns what create returned");
}

#[tokio::test]
async fn allowed_emails_are_validated_and_folded() {
    let s = TestServer::start().await;
    let create = |emails: Value| {
        s.post_json(
            CONNECTORS,
            &s.admin_key,
            &json!({"type": "email", "label": "x", "config": {"allowed_emails": emails}}),
        )
    };
    let c: Value = create(json!([
        "A@Broker.example",
        "b@broker.example",
        "a@BROKER.example"
    ]))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        c["config"]["allowed_emails"],
        json!(["A@Broker.example", "b@broker.example"])
    );

    let empty = create(json!([])).await;
    assert_eq!(empty.status(), 201, "an empty list is allowed");

    assert_invalid_request(
        create(json!(["ok@broker.example", "not-an-address"])).await,
        "config.allowed_emails[1]",
        "",
    )
    .await;

    let many: Vec<String> = (0..1001).map(|i| format!("u{i}@broker.example")).collect();
    assert_invalid_request(create(json!(many)).await, "config.allowed_emails", "").await;
    let thousand: Vec<String> = (0..1000).map(|i| format!("u{i}@broker.example")).collect();
    assert_eq!(create(json!(thousand)).await.status(), 201);

    let body = assert_error(
        create(json!("desk@broker.example")).await,
        400,
        "INVALID_REQUEST",
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("config.allowed_emails"),
        "{body}"
    );
}

#[tokio::test]
async fn create_rejects_bad_bodies_naming_the_field_and_stores_nothing() {
    let s = TestServer::start().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"type": "email", "label": "x", "config": {"allowed_email": []}}),
            "allowed_email",
        ),
        (
            json!({"type": "email", "label": "x", "config": {"allowed_emails": []}, "colour": 1}),
            "colour",
        ),
        (
            json!({"type": "email", "label": "x", "config": {"allowed_emails": [], "email_hash": "a1b2c3d4e5f6"}}),
            "config.email_hash",
        ),
        (
            json!({"type": "email", "label": "x", "config": {"allowed_emails": [], "email": "a@b.co"}}),
            "config.email",
        ),
        (
            json!({"type": "email", "config": {"allowed_emails": []}}),
            "label",
        ),
        (json!({"type": "email", "label": "x"}), "config"),
        (
            json!({"label": "x", "config": {"allowed_emails": []}}),
            "type",
        ),
        (json!({"type": "fax", "label": "x", "config": {}}), "type"),
        (
            json!({"type": "email", "label": 7, "config": {"allowed_emails": []}}),
            "label",
        ),
        (
            json!({"type": "email", "label": "   ", "config": {"allowed_emails": []}}),
            "label",
        ),
        (
            json!({"type": "email", "label": "x".repeat(257), "config": {"allowed_emails": []}}),
            "label",
        ),
        (
            json!({"type": "email", "label": "x", "description": "d".repeat(4097), "config": {"allowed_emails": []}}),
            "description",
        ),
        (
            json!({"type": "email", "label": "x", "share_with_org": "yes", "config": {"allowed_emails": []}}),
            "share_with_org",
        ),
        (
            json!({"type": "email", "label": "x", "config": null}),
            "config",
        ),
        (
            json!({"type": "investment_research", "label": "x", "config": {"user_id": "u"}}),
            "user_password",
        ),
        (
            json!({"type": "investment_research", "label": "x", "config": {"user_id": "u", "user_password": ""}}),
            "config.user_password",
        ),
        (
            json!({"type": "investment_research", "label": "x", "config": {"user_id": " ", "user_password": "p"}}),
            "config.user_id",
        ),
        (
            json!({"type": "investment_research", "label": "x", "config": {"user_id": "u", "user_password": "p", "portal": "nowhere"}}),
            "config.portal",
        ),
        (
            json!({"type": "investment_research", "label": "x", "config": {"user_id": "u", "user_password": "p", "token": "t"}}),
            "token",
        ),
        (json!(["not", "an", "object"]), "JSON object"),
    ];
    for (body, field) in cases {
        let err = assert_error(
            s.post_json(CONNECTORS, &s.admin_key, &body).await,
            400,
            "INVALID_REQUEST",
        )
        .await;
        let msg = err["message"].as_str().unwrap();
        assert!(
            msg.contains(field),
            "message {msg:?} should name {field:?} for {body}"
        );
    }
    // A malformed password is named, never echoed.
    let err = assert_error(
        s.post_json(
            CONNECTORS,
            &s.admin_key,
            &json!({"type": "investment_research", "label": "x",
                    "config": {"user_id": "u", "user_password": 987654321}}),
        )
        .await,
        400,
        "INVALID_REQUEST",
    )
    .await;
    let msg = err["message"].as_str().unwrap();
    assert!(
        msg.contains("config.user_password") && !msg.contains("987654321"),
        "{msg}"
    );
    let list = s.get_json(CONNECTORS, &s.admin_key).await;
    assert_eq!(list["results"], json!([]), "nothing was created");

    // Boundaries that are allowed.
    let ok = s
        .post_json(
            CONNECTORS,
            &s.admin_key,
            &json!({"type": "email", "label": "é".repeat(256), "description": "d".repeat(4096),
                    "share_with_org": true, "config": {"allowed_emails": []}}),
        )
        .await;
    assert_eq!(ok.status(), 201);
}

#[tokio::test]
async fn research_connectors_pick_a_portal_and_never_reveal_the_password() {
    let s = TestServer::start().await;
    let password = "correct-horse-battery-staple-42";
    let resp = s
        .post_json(
            CONNECTORS,
            &s.admin_key,
            &json!({"type": "investment_research", "label": "Research",
                    "config": {"user_id": "analyst@fund.example", "user_password": password}}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let text = resp.text().await.unwrap();
    assert!(!text.contains(password));
    let c: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(c["type"], "investment_research");
    assert_eq!(
        c["config"],
        json!({"user_id": "analyst@fund.example", "portal": "broker-a"}),
        "default portal"
    );

    let named: Value = s
        .post_json(
            CONNECTORS,
            &s.admin_key,
            &json!({"type": "investment_research", "label": "B",
                    "config": {"user_id": "u", "user_password": password, "portal": "broker-b"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(named["config"]["portal"], "broker-b");

    for p in [connector_path(&c), CONNECTORS.to_string()] {
        let body = s.get(&p, &s.admin_key).await.text().await.unwrap();
        assert!(
            !body.contains(password) && !body.contains("user_password"),
            "{body}"
        );
    }

    // Encrypted at rest: the plain password is in no database file.
    for entry in std::fs::read_dir(s.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue;
        }
        let bytes = std::fs::read(path).unwrap();
        assert!(!bytes
            .windows(password.len())
            .any(|w| w == password.as_bytes()));
    }
}

#[tokio::test]
async fn research_connectors_need_a_configured_portal() {
    let s = TestServer::builder().without_portals().start().await;
    assert_invalid_request(
        s.post_json(
            CONNECTORS,
            &s.admin_key,
            &json!({"type": "investment_research", "label": "R",
                    "config": {"user_id": "u", "user_password": "p"}}),
        )
        .await,
        "config.portal",
        "",
    )
    .await;
}

#[tokio::test]
async fn list_is_newest_first_and_pages_with_a_cursor() {
    let s = TestServer::start().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let c = s
            .create_email_connector(&s.admin_key, &format!("c{i}"), false)
            .await;
        ids.push(connector_id(&c).to_string());
    }
    ids.reverse();

    let all = s.get_json(CONNECTORS, &s.admin_key).await;
    assert_eq!(result_ids(&all, "connector_id"), ids, "newest first");
    assert!(all["next_cursor"].is_null());

    let mut seen = Vec::new();
    let mut url = format!("{CONNECTORS}?limit=3");
    let mut pages = 0;
    loop {
        let page = s.get_json(&url, &s.admin_key).await;
        pages += 1;
        assert!(page["results"].as_array().unwrap().len() <= 3);
        seen.extend(result_ids(&page, "connector_id"));
        match page["next_cursor"].as_str() {
            Some(cursor) => url = format!("{CONNECTORS}?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids, "every connector exactly once, in order");

    // A page that ends exactly at the last row says so.
    let page = s
        .get_json(&format!("{CONNECTORS}?limit=7"), &s.admin_key)
        .await;
    assert_eq!(page["results"].as_array().unwrap().len(), 7);
    assert!(page["next_cursor"].is_null());
}

#[tokio::test]
async fn list_filters_by_type_archived_and_ownership() {
    let s = TestServer::start().await;
    let bob = s.create_key("default", "bob");
    let email = s.create_email_connector(&s.admin_key, "mine", false).await;
    let research = s
        .create_research_connector(&s.admin_key, "r", "u", "p")
        .await;
    let bobs = s.create_email_connector(&bob, "bob's shared", true).await;
    let _bobs_private = s.create_email_connector(&bob, "bob's private", false).await;
    assert_eq!(
        s.delete(&connector_path(&email), &s.admin_key)
            .await
            .status(),
        200
    );

    let ids = |v: Value| result_ids(&v, "connector_id");
    let id = |c: &Value| connector_id(c).to_string();
    let q = |query: &str| s.get(&format!("{CONNECTORS}?{query}"), &s.admin_key);

    assert_eq!(
        ids(q("").await.json().await.unwrap()),
        vec![id(&bobs), id(&research), id(&email)]
    );
    assert_eq!(
        ids(q("type=email").await.json().await.unwrap()),
        vec![id(&bobs), id(&email)]
    );
    assert_eq!(
        ids(q("type=investment_research").await.json().await.unwrap()),
        vec![id(&research)]
    );
    assert_eq!(
        ids(q("archived=true").await.json().await.unwrap()),
        vec![id(&email)]
    );
    assert_eq!(
        ids(q("archived=false").await.json().await.unwrap()),
        vec![id(&bobs), id(&research)]
    );
    assert_eq!(
        ids(q("ownership=owned").await.json().await.unwrap()),
        vec![id(&research), id(&email)]
    );
    assert_eq!(
        ids(q("ownership=shared").await.json().await.unwrap()),
        vec![id(&bobs)]
    );
    assert_eq!(
        ids(q("ownership=all&type=email&archived=false")
            .await
            .json()
            .await
            .unwrap()),
        vec![id(&bobs)]
    );

    let listed: Value = q("archived=true").await.json().await.unwrap();
    assert_eq!(listed["results"][0]["archived"], true);
}

#[tokio::test]
async fn list_rejects_invalid_query_values() {
    let s = TestServer::start().await;
    for (query, name) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("type=fax", "type"),
        ("archived=yes", "archived"),
        ("ownership=mine", "ownership"),
        ("cursor=garbage", "cursor"),
        ("sort=asc", "sort"),
        ("limit=1&limit=2", "limit"),
    ] {
        assert_invalid_request(
            s.get(&format!("{CONNECTORS}?{query}"), &s.admin_key).await,
            name,
            query,
        )
        .await;
    }
    assert_eq!(
        s.get(&format!("{CONNECTORS}?limit=500"), &s.admin_key)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn put_applies_put_semantics_and_moves_updated_at() {
    let s = TestServer::start().await;
    let created = s
        .create_connector(
            &s.admin_key,
            &json!({"type": "email", "label": "old", "description": "about", "share_with_org": true,
                    "config": {"allowed_emails": ["a@broker.example"]}}),
        )
        .await;
    let p = connector_path(&created);

    let resp = s.put_json(&p, &s.admin_key, &json!({"label": "new"})).await;
    assert_eq!(resp.status(), 200);
    let updated: Value = resp.json().await.unwrap();
    assert_eq!(updated["label"], "new");
    assert_eq!(
        updated["description"], "",
        "omitted description becomes empty"
    );
    assert_eq!(
        updated["share_with_org"], false,
        "omitted share_with_org becomes false"
    );
    assert_eq!(
        updated["config"], created["config"],
        "omitted config is unchanged"
    );
    assert_eq!(updated["created_at"], created["created_at"]);
    assert!(updated["updated_at"].as_str().unwrap() > created["updated_at"].as_str().unwrap());
    assert_eq!(s.get_json(&p, &s.admin_key).await, updated);

    let resp = s
        .put_json(&p, &s.admin_key, &json!({"label": "new", "config": {"allowed_emails": ["B@broker.example", "c@broker.example", "b@broker.example"]}}))
        .await;
    let replaced: Value = resp.json().await.unwrap();
    assert_eq!(
        replaced["config"]["allowed_emails"],
        json!(["B@broker.example", "c@broker.example"])
    );
    assert_eq!(
        replaced["config"]["email_hash"],
        created["config"]["email_hash"]
    );

    let resp = s
        .put_json(&p, &s.admin_key, &json!({"label": "n", "config": null}))
        .await;
    assert_eq!(
        resp.json::<Value>().await.unwrap()["config"],
        replaced["config"],
        "null config is unchanged"
    );
}

#[tokio::test]
async fn get_edit_put_round_trip_works_and_read_only_fields_are_guarded() {
    let s = TestServer::start().await;
    let created = s
        .create_email_connector(&s.admin_key, "round trip", false)
        .await;
    let p = connector_path(&created);

    let mut edited = s.get_json(&p, &s.admin_key).await;
    edited["label"] = json!("edited");
    edited["share_with_org"] = json!(true);
    edited["config"]["allowed_emails"] = json!(["x@broker.example"]);
    let resp = s.put_json(&p, &s.admin_key, &edited).await;
    assert_eq!(resp.status(), 200);
    let after: Value = resp.json().await.unwrap();
    assert_eq!(after["label"], "edited");
    assert_eq!(after["share_with_org"], true);
    assert_eq!(
        after["config"]["allowed_emails"],
        json!(["x@broker.example"])
    );

    let base = after.clone();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "type",
            json!("investment_research"),
            "type: cannot be changed",
        ),
        (
            "connector_id",
            json!(Uuid::now_v7().to_string()),
            "connector_id",
        ),
        ("user_id", json!("mallory"), "user_id"),
        ("org_id", json!("other"), "org_id"),
        (
            "created_at",
            json!("2020-01-01T00:00:00.000000Z"),
            "created_at",
        ),
        ("archived", json!(true), "archived"),
        ("state", json!("archived"), "state"),
        ("files_count", json!(99), "files_count"),
        ("last_sync_status", json!("SUCCESS"), "last_sync_status"),
        ("colour", json!("blue"), "colour"),
    ];
    for (field, value, expected) in cases {
        let mut body = base.clone();
        body[field] = value;
        assert_invalid_request(s.put_json(&p, &s.admin_key, &body).await, expected, field).await;
    }
    for (field, value) in [
        ("email_hash", json!("000000000000")),
        ("email", json!("x@elsewhere.example")),
    ] {
        let mut body = base.clone();
        body["config"][field] = value;
        assert_invalid_request(
            s.put_json(&p, &s.admin_key, &body).await,
            &format!("config.{field}"),
            "",
        )
        .await;
    }
    for (body, field) in [
        (json!({"description": "no label"}), "label"),
        (json!({"label": ""}), "label"),
        (
            json!({"label": "x", "config": {"allowed_emails": ["bad"]}}),
            "config.allowed_emails[0]",
        ),
        (
            json!({"label": "x", "config": {"allowed_emails": [], "extra": 1}}),
            "extra",
        ),
        (json!({"label": "x", "description": 5}), "description"),
        (json!("just a string"), "object"),
    ] {
        assert_invalid_request(
            s.put_json(&p, &s.admin_key, &body).await,
            field,
            &body.to_string(),
        )
        .await;
    }
    let unchanged = s.get_json(&p, &s.admin_key).await;
    assert_eq!(unchanged, after, "rejected updates change nothing");
}

#[tokio::test]
async fn research_credentials_are_fixed_at_creation() {
    let s = TestServer::start().await;
    let c = s
        .create_research_connector(&s.admin_key, "r", "u", "p")
        .await;
    let p = connector_path(&c);
    for config in [Value::Null, c["config"].clone()] {
        let resp = s
            .put_json(&p, &s.admin_key, &json!({"label": "r2", "config": config}))
            .await;
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(
        s.put_json(&p, &s.admin_key, &json!({"label": "r3"}))
            .await
            .status(),
        200
    );
    for config in [
        json!({"user_id": "u", "user_password": "new"}),
        json!({"user_id": "someone-else", "portal": "broker-a"}),
        json!({"user_id": "u", "portal": "broker-b"}),
        json!({"allowed_emails": []}),
    ] {
        assert_invalid_request(
            s.put_json(&p, &s.admin_key, &json!({"label": "r", "config": config}))
                .await,
            "broker credentials are fixed at creation",
            "",
        )
        .await;
    }
}

#[tokio::test]
async fn soft_delete_archives_idempotently_and_keeps_the_connector_editable() {
    let s = TestServer::start().await;
    let c = s
        .create_email_connector(&s.admin_key, "to archive", false)
        .await;
    let p = connector_path(&c);

    let resp = s.delete(&p, &s.admin_key).await;
    assert_eq!(resp.status(), 200);
    let archived: Value = resp.json().await.unwrap();
    assert_eq!(archived["archived"], true);
    assert_eq!(archived["state"], "archived");
    assert!(archived["updated_at"].as_str().unwrap() >= c["updated_at"].as_str().unwrap());

    let again = s.delete_json(&p, &s.admin_key).await;
    assert_eq!(
        again, archived,
        "deleting an archived connector again changes nothing"
    );
    assert_eq!(s.get_json(&p, &s.admin_key).await, archived);

    let with_jobs = s
        .delete(
            &format!("{p}?delete_sync_jobs=true&force_delete=false"),
            &s.admin_key,
        )
        .await;
    assert_eq!(with_jobs.status(), 200);

    let updated: Value = s
        .put_json(&p, &s.admin_key, &json!({"label": "still archived"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(updated["label"], "still archived");
    assert_eq!(
        updated["archived"], true,
        "archived connectors stay archived when updated"
    );
    assert_eq!(updated["state"], "archived");
}

#[tokio::test]
async fn delete_validates_its_query() {
    let s = TestServer::start().await;
    let c = s.create_email_connector(&s.admin_key, "q", false).await;
    let p = connector_path(&c);
    for query in [
        "force_delete=yes",
        "hard=1",
        "delete_sync_jobs=TRUE",
        "purge=true",
        "force_delete=true&hard=false",
    ] {
        assert_error(
            s.delete(&format!("{p}?{query}"), &s.admin_key).await,
            400,
            "INVALID_REQUEST",
        )
        .await;
    }
    let still = s.get_json(&p, &s.admin_key).await;
    assert_eq!(still["state"], "active", "a rejected delete does nothing");
}

/// A read asked again is answered from what was kept only while nothing
/// was written: a change through the API, one by another process on the
/// same database, and a revoked key all show on the next request, and what
/// one caller was answered is never another's.
#[tokio::test]
async fn a_repeated_read_sees_every_write_before_it_and_only_its_callers_rows() {
    let s = TestServer::start().await;
    let alice = s.create_key("acme", "alice");
    let bob = s.create_key("acme", "bob");
    let created = s.create_email_connector(&alice, "first", false).await;
    let path = connector_path(&created);
    let list = format!("{CONNECTORS}?limit=10");
    let labels = |list: Value| result_ids(&list, "label");
    for _ in 0..3 {
        assert_eq!(s.get_json(&path, &alice).await["label"], "first");
        assert_eq!(labels(s.get_json(&list, &alice).await), ["first"]);
        assert_error(s.get(&path, &bob).await, 404, "CONNECTOR_NOT_FOUND").await;
        assert!(labels(s.get_json(&list, &bob).await).is_empty());
    }

    let resp = s
        .put_json(
            &path,
            &alice,
            &json!({"label": "second", "share_with_org": true}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    for key in [&alice, &bob] {
        assert_eq!(s.get_json(&path, key).await["label"], "second");
        assert_eq!(labels(s.get_json(&list, key).await), ["second"]);
    }

    let other_process = s.open_state().await;
    let mut stored = other_process
        .store
        .connector(connector_id(&created).parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    stored.label = inlet::domain::Label::parse("third").unwrap();
    assert!(other_process.store.update_connector(&stored).await.unwrap());
    for key in [&alice, &bob] {
        assert_eq!(s.get_json(&path, key).await["label"], "third");
        assert_eq!(labels(s.get_json(&list, key).await), ["third"]);
    }

    let key_id = s.key_id_of("alice");
    assert!(s.cli(&["admin", "revoke-key", &key_id]).status.success());
    assert_error(s.get(&path, &alice).await, 401, "UNAUTHORIZED").await;
    assert_error(s.get(&list, &alice).await, 401, "UNAUTHORIZED").await;
    assert_eq!(labels(s.get_json(&list, &bob).await), ["third"]);
}

/// Two servers on one database: what one writes, the other answers at once,
/// even for a read it has answered before (and kept).
#[tokio::test]
async fn a_kept_read_on_one_server_sees_a_write_through_another_at_once() {
    let a = TestServer::builder().workers(0).start().await;
    let b = a.replica();
    let key = &a.admin_key;
    let created = a.create_email_connector(key, "first", false).await;
    let path = connector_path(&created);
    let list = format!("{CONNECTORS}?limit=5");
    for _ in 0..3 {
        assert_eq!(b.get_json(&path, key).await["label"], "first");
        assert_eq!(b.get_json(&list, key).await["results"][0]["label"], "first");
    }
    for n in 0..5 {
        let label = format!("label {n}");
        let resp = a.put_json(&path, key, &json!({ "label": label })).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(b.get_json(&path, key).await["label"], label);
        assert_eq!(b.get_json(&list, key).await["results"][0]["label"], label);
        assert_eq!(b.get_json(&path, key).await["label"], label);
    }
}
