//! `/openapi.json` documents every endpoint, and the server's real responses
//! conform to it: each status is documented and each body matches its schema.

mod common;

use common::{connector_path, schema, TestServer, CONNECTORS, SYNC_JOBS};
use reqwest::{Method, Response};
use serde_json::{json, Value};

const ONE: &str = "/contents/v1/connectors/{connector_id}";

async fn check(doc: &Value, method: &str, template: &str, resp: Response) -> Value {
    let status = resp.status().as_u16().to_string();
    let body: Value = resp.json().await.expect("JSON body");
    let op = &doc["paths"][template][method];
    assert!(op.is_object(), "{method} {template} is not documented");
    let response = &op["responses"][&status];
    assert!(
        response.is_object(),
        "{method} {template} answered {status}, which is not documented: {body}"
    );
    let media = &response["content"]["application/json"]["schema"];
    assert!(
        media.is_object(),
        "{method} {template} {status} has no documented body"
    );
    if let Err(e) = schema::validate(doc, media, &body, "$") {
        panic!("{method} {template} {status} does not match its schema: {e}\n{body}");
    }
    body
}

#[tokio::test]
async fn every_endpoint_is_documented() {
    let s = TestServer::start().await;
    let resp = s.get_without_key("/openapi.json").await;
    assert_eq!(resp.headers()["content-type"], "application/json");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, methods) in [
        (CONNECTORS, vec!["get", "post"]),
        (ONE, vec!["get", "put", "delete"]),
        ("/healthz", vec!["get"]),
        ("/readyz", vec!["get"]),
        ("/metrics", vec!["get"]),
        ("/contents/v1/connectors/{connector_id}/sync", vec!["post"]),
        (
            "/contents/v1/connectors/{connector_id}/sync_jobs",
            vec!["get"],
        ),
        ("/contents/v1/sync_jobs/{sync_job_id}", vec!["get"]),
        ("/contents/v1/sync_jobs/{sync_job_id}/cancel", vec!["post"]),
        ("/contents/v1/connectors/validate", vec!["post"]),
        ("/contents/v1/connectors/{connector_id}/pause", vec!["post"]),
        (
            "/contents/v1/connectors/{connector_id}/resume",
            vec!["post"],
        ),
        ("/contents/v1/connectors/{connector_id}/events", vec!["get"]),
        ("/contents/v1/documents", vec!["get", "post"]),
        (
            "/contents/v1/documents/{id}",
            vec!["get", "patch", "delete"],
        ),
        ("/contents/v1/documents/{id}/original", vec!["get"]),
        ("/contents/v1/tags", vec!["get", "post"]),
        ("/uploads/{id}", vec!["put"]),
        ("/downloads/{id}", vec!["get"]),
    ] {
        for m in methods {
            assert!(doc["paths"][path][m].is_object(), "{m} {path} missing");
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["ApiKeyAuth"]["name"],
        "X-API-KEY"
    );
    assert_eq!(
        doc["paths"][CONNECTORS]["get"]["security"],
        json!([{"ApiKeyAuth": []}])
    );
}

#[tokio::test]
async fn real_responses_conform_to_the_document() {
    let s = TestServer::start().await;
    let doc: Value = s
        .get_without_key("/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let key = s.admin_key.as_str();

    let email = check(
        &doc,
        "post",
        CONNECTORS,
        s.post_json(
            CONNECTORS,
            key,
            &json!({"type": "email", "label": "e", "config": {"allowed_emails": ["a@b.example"]}}),
        )
        .await,
    )
    .await;
    let research = check(&doc, "post", CONNECTORS, s.post_json(CONNECTORS, key, &json!({"type": "investment_research", "label": "r", "config": {"user_id": "u", "user_password": "p"}})).await).await;
    check(
        &doc,
        "post",
        CONNECTORS,
        s.post_json(CONNECTORS, key, &json!({"type": "email"}))
            .await,
    )
    .await;
    check(
        &doc,
        "post",
        CONNECTORS,
        s.request(Method::POST, CONNECTORS, None)
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    check(
        &doc,
        "post",
        CONNECTORS,
        s.request(Method::POST, CONNECTORS, Some(key))
            .body("x")
            .header("content-type", "text/plain")
            .send()
            .await
            .unwrap(),
    )
    .await;

    let list = check(
        &doc,
        "get",
        CONNECTORS,
        s.get(&format!("{CONNECTORS}?limit=1"), key).await,
    )
    .await;
    assert!(list["next_cursor"].is_string());
    check(&doc, "get", CONNECTORS, s.get(CONNECTORS, key).await).await;
    check(
        &doc,
        "get",
        CONNECTORS,
        s.get(&format!("{CONNECTORS}?limit=0"), key).await,
    )
    .await;

    // §13: validate, pause, resume, events.
    let validate = "/contents/v1/connectors/validate";
    for body in [
        json!({"type": "email", "label": "v", "config": {"allowed_emails": []}}),
        json!({"type": "email", "label": "", "config": {"allowed_emails": ["x"]}, "extra": 1}),
        json!([]),
    ] {
        check(
            &doc,
            "post",
            validate,
            s.post_json(validate, key, &body).await,
        )
        .await;
    }
    for c in [&email, &research] {
        let p = connector_path(c);
        for (op, template) in [
            ("pause", "/contents/v1/connectors/{connector_id}/pause"),
            ("pause", "/contents/v1/connectors/{connector_id}/pause"),
            ("resume", "/contents/v1/connectors/{connector_id}/resume"),
        ] {
            check(
                &doc,
                "post",
                template,
                s.post(&format!("{p}/{op}"), key).await,
            )
            .await;
        }
        let events = "/contents/v1/connectors/{connector_id}/events";
        let page = check(
            &doc,
            "get",
            events,
            s.get(&format!("{p}/events"), key).await,
        )
        .await;
        assert_eq!(page["results"].as_array().unwrap().len(), 2, "{page}");
        check(
            &doc,
            "get",
            events,
            s.get(&format!("{p}/events?limit=0"), key).await,
        )
        .await;
    }
    let missing_events = format!("{CONNECTORS}/{}/events", uuid::Uuid::now_v7());
    check(
        &doc,
        "get",
        "/contents/v1/connectors/{connector_id}/events",
        s.get(&missing_events, key).await,
    )
    .await;

    for c in [&email, &research] {
        let p = connector_path(c);
        check(&doc, "get", ONE, s.get(&p, key).await).await;
        check(
            &doc,
            "put",
            ONE,
            s.put_json(&p, key, &json!({"label": "renamed"})).await,
        )
        .await;
        check(
            &doc,
            "put",
            ONE,
            s.put_json(&p, key, &json!({"label": ""})).await,
        )
        .await;
        check(&doc, "delete", ONE, s.delete(&p, key).await).await;
        check(
            &doc,
            "delete",
            ONE,
            s.delete(&format!("{p}?force_delete=true"), key).await,
        )
        .await;
    }
    let missing = format!("{CONNECTORS}/{}", uuid::Uuid::now_v7());
    check(&doc, "get", ONE, s.get(&missing, key).await).await;
    check(
        &doc,
        "get",
        ONE,
        s.get(&format!("{CONNECTORS}/bad"), key).await,
    )
    .await;
    check(
        &doc,
        "put",
        ONE,
        s.put_json(&missing, key, &json!({"label": "x"})).await,
    )
    .await;
    check(&doc, "delete", ONE, s.delete(&missing, key).await).await;
    check(&doc, "get", ONE, s.get_without_key(&missing).await).await;

    let sync = "/contents/v1/connectors/{connector_id}/sync";
    let doc_ref = &doc;
    let check_sync = |c: &Value| {
        let resp = s.request_sync(key, c, "2026-01-01");
        async move { check(doc_ref, "post", sync, resp.await).await }
    };
    let mail = s.create_email_connector(key, "mail", false).await;
    check_sync(&mail).await;
    check_sync(&research).await;
    let fresh = check(&doc, "post", CONNECTORS, s.post_json(CONNECTORS, key, &json!({"type": "investment_research", "label": "r2", "config": {"user_id": "u", "user_password": "p"}})).await).await;
    let fresh_path = connector_path(&fresh);
    let accepted = check_sync(&fresh).await;
    check_sync(&fresh).await;
    check(
        &doc,
        "get",
        "/contents/v1/connectors/{connector_id}/sync_jobs",
        s.get(&format!("{fresh_path}/sync_jobs"), key).await,
    )
    .await;
    let job_path = format!("{SYNC_JOBS}/{}", accepted["sync_job_id"].as_str().unwrap());
    check(
        &doc,
        "get",
        "/contents/v1/sync_jobs/{sync_job_id}",
        s.get(&job_path, key).await,
    )
    .await;
    check(
        &doc,
        "get",
        "/contents/v1/sync_jobs/{sync_job_id}",
        s.get(&format!("{SYNC_JOBS}/x"), key).await,
    )
    .await;
    let cancel = "/contents/v1/sync_jobs/{sync_job_id}/cancel";
    check(
        &doc,
        "post",
        cancel,
        s.post(&format!("{job_path}/cancel"), key).await,
    )
    .await;
    check(
        &doc,
        "post",
        cancel,
        s.post(&format!("{job_path}/cancel"), key).await,
    )
    .await;

    check(&doc, "get", "/healthz", s.get_without_key("/healthz").await).await;
    check(&doc, "get", "/readyz", s.get_without_key("/readyz").await).await;
}

#[tokio::test]
async fn the_conformance_check_catches_drift() {
    let s = TestServer::start().await;
    let doc: Value = s
        .get_without_key("/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let c = s.create_email_connector(&s.admin_key, "x", false).await;
    let connector = json!({"$ref": "#/components/schemas/ConnectorView"});
    schema::validate(&doc, &connector, &c, "$").unwrap();
    for (pointer, value) in [
        ("/surprise", json!(1)),
        ("/files_count", json!("ten")),
        ("/state", json!("frozen")),
        ("/config/allowed_emails", json!("a@b.example")),
        ("/last_sync_at", json!(5)),
    ] {
        let mut drifted = c.clone();
        let (parent, field) = pointer.rsplit_once('/').unwrap();
        drifted
            .pointer_mut(if parent.is_empty() { "" } else { parent })
            .unwrap()[field] = value;
        assert!(
            schema::validate(&doc, &connector, &drifted, "$").is_err(),
            "{pointer} drift not caught"
        );
    }
    let mut missing = c.clone();
    missing.as_object_mut().unwrap().remove("label");
    assert!(schema::validate(&doc, &connector, &missing, "$").is_err());
}
