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
        ("/contents/v1/documents/{id}/annotated", vec!["get"]),
        ("/annotated/{id}", vec!["get"]),
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

const DOC_ID: &str = "019A9612BFAD758C884E37DD8C6AD2CB";
const A_UUID: &str = "019a9612-bfad-758c-884e-37dd8c6ad2cb";

async fn document(s: &TestServer) -> Value {
    s.get_without_key("/openapi.json")
        .await
        .json()
        .await
        .unwrap()
}

/// The path with example ids in place of its parameters.
fn concrete(template: &str) -> String {
    template
        .replace("{connector_id}", A_UUID)
        .replace("{sync_job_id}", A_UUID)
        .replace("{id}", DOC_ID)
}

#[tokio::test]
async fn every_operation_is_routed_and_every_method_of_a_path_is_documented() {
    let s = TestServer::start().await;
    let doc = document(&s).await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 15);
    for (template, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            let resp = s
                .request(
                    method.to_uppercase().parse().unwrap(),
                    &concrete(template),
                    Some(&s.admin_key),
                )
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            if item.get(method).is_some() {
                assert!(
                    status != 405 && body["errorCode"] != "ROUTE_NOT_FOUND",
                    "{method} {template} is documented but not routed: {status} {body}"
                );
            } else {
                assert_eq!(
                    status, 405,
                    "{method} {template} is routed but not documented"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_operation_documents_the_errors_and_headers_of_the_layers() {
    let s = TestServer::start().await;
    let doc = document(&s).await;
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let at = format!("{method} {template}");
            let responses = op["responses"].as_object().unwrap();
            let secured = op.get("security").is_some();
            for status in ["400", "431", "500"] {
                assert!(responses.contains_key(status), "{at}: no {status}");
            }
            if secured {
                for status in ["401", "408", "429"] {
                    assert!(responses.contains_key(status), "{at}: no {status}");
                }
                assert_eq!(
                    responses["429"]["headers"]["Retry-After"]["required"], true,
                    "{at}"
                );
            }
            if op
                .pointer("/requestBody/content/application~1json")
                .is_some()
            {
                for status in ["413", "415"] {
                    assert!(responses.contains_key(status), "{at}: no {status}");
                }
            }
            for (status, response) in responses {
                assert_eq!(
                    response["headers"]["X-Request-Id"]["required"], true,
                    "{at} {status}: X-Request-Id"
                );
                if secured && status.starts_with('2') {
                    for h in [
                        "X-RateLimit-Limit",
                        "X-RateLimit-Remaining",
                        "X-RateLimit-Reset",
                    ] {
                        assert_eq!(
                            response["headers"][h]["required"], true,
                            "{at} {status}: {h}"
                        );
                    }
                }
                if status.as_str() >= "400" {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{at} {status}"
                    );
                }
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" {
                    assert!(
                        p["schema"]["pattern"].is_string(),
                        "{at}: path parameter {} has no pattern",
                        p["name"]
                    );
                }
            }
        }
    }
}

/// What the document allows for one query parameter's text.
fn query_value_allowed(doc: &Value, op: &Value, name: &str, text: &str) -> bool {
    let Some(param) = op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name && p["in"] == "query")
    else {
        return false; // not documented: refused
    };
    let mut param_schema = param["schema"].clone();
    if param_schema["type"] == "array" {
        param_schema = param_schema["items"].clone();
    }
    let typed = match param_schema["type"].as_str() {
        Some("integer") => text.parse::<i64>().map_or(json!(text), |n| json!(n)),
        Some("boolean") => match text {
            "true" => json!(true),
            "false" => json!(false),
            _ => json!(text),
        },
        _ => json!(text),
    };
    schema::validate(doc, &param_schema, &typed, name).is_ok()
}

/// Sends each request and compares the server's verdict (400 or not) with
/// the document's; every disagreement is listed.
#[tokio::test]
async fn the_document_refuses_exactly_what_the_server_refuses() {
    let s = TestServer::start().await;
    let doc = document(&s).await;
    let key = s.admin_key.as_str();
    let x = |n: usize| "x".repeat(n);
    let mut disagreements = Vec::new();

    let research = s
        .post_json(
            CONNECTORS,
            key,
            &json!({"type": "investment_research", "label": "r", "config": {"user_id": "u", "user_password": "p"}}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    let email = s.create_email_connector(key, "e", false).await;
    let (document_id, _) = s.new_upload(key, &json!({"file_name": "a.txt"})).await;
    let tag = s
        .post_json("/contents/v1/tags", key, &json!({"tag_name": "t"}))
        .await
        .json::<Value>()
        .await
        .unwrap();

    let ok_config = json!({"allowed_emails": ["a@b.example"]});
    let create =
        |label: Value, config: Value| json!({"type": "email", "label": label, "config": config});
    let research_with =
        |config: Value| json!({"type": "investment_research", "label": "r", "config": config});
    let sync = format!("{}/sync", connector_path(&research));
    let new = |body: Value| ("post", CONNECTORS, CONNECTORS.to_string(), body);
    let upload = |body: Value| {
        let path = "/contents/v1/documents";
        ("post", path, path.to_string(), body)
    };
    let tag_body = |body: Value| {
        let path = "/contents/v1/tags";
        ("post", path, path.to_string(), body)
    };
    let bodies: Vec<(&str, &str, String, Value)> = vec![
        new(create(json!("a"), ok_config.clone())),
        new(create(json!("   "), ok_config.clone())),
        new(create(json!("\u{3000}\t"), ok_config.clone())),
        new(create(json!("\u{1c}"), ok_config.clone())),
        new(create(json!(x(256)), ok_config.clone())),
        new(create(json!(x(257)), ok_config.clone())),
        new(create(json!(format!(" {}", x(256))), ok_config.clone())),
        new(json!({"type": "email", "label": "d", "description": x(4096), "config": ok_config})),
        new(json!({"type": "email", "label": "d", "description": x(4097), "config": ok_config})),
        new(
            json!({"type": "email", "label": "d", "description": null, "share_with_org": null, "config": ok_config}),
        ),
        new(json!({"type": "email", "label": "d", "surprise": 1, "config": ok_config})),
        new(json!({"type": "fax", "label": "d", "config": ok_config})),
        new(create(json!("a"), json!({"allowed_emails": []}))),
        new(create(json!("a"), json!({"allowed_emails": ["a@b"]}))),
        new(create(
            json!("a"),
            json!({"allowed_emails": ["a..b@c.example"]}),
        )),
        new(create(
            json!("a"),
            json!({"allowed_emails": ["a@-c.example"]}),
        )),
        new(create(
            json!("a"),
            json!({"allowed_emails": ["o'brien+x@mail.c-d.example"]}),
        )),
        new(create(
            json!("a"),
            json!({"allowed_emails": vec!["a@b.example"; 1001]}),
        )),
        new(create(
            json!("a"),
            json!({"allowed_emails": [], "email_hash": "a1b2c3d4e5f6"}),
        )),
        new(create(
            json!("a"),
            json!({"user_id": "u", "user_password": "p"}),
        )),
        new(research_with(
            json!({"user_id": "u", "user_password": "p", "portal": "broker-b"}),
        )),
        new(research_with(
            json!({"user_id": "u", "user_password": "p", "portal": null}),
        )),
        new(research_with(
            json!({"user_id": "u", "user_password": "p", "portal": "nope"}),
        )),
        new(research_with(json!({"user_id": " ", "user_password": "p"}))),
        new(research_with(json!({"user_id": "u", "user_password": ""}))),
        new(research_with(json!({"allowed_emails": []}))),
        ("put", ONE, connector_path(&email), json!({"label": " "})),
        (
            "put",
            ONE,
            connector_path(&email),
            json!({"label": "x", "surprise": 1}),
        ),
        (
            "put",
            ONE,
            connector_path(&email),
            json!({"label": "x", "config": {"allowed_emails": []}}),
        ),
        (
            "put",
            ONE,
            connector_path(&email),
            json!({"label": "x", "config": {"allowed_emails": ["bad"]}}),
        ),
        ("put", ONE, connector_path(&email), json!({"label": x(257)})),
        (
            "post",
            "/contents/v1/connectors/{connector_id}/sync",
            sync.clone(),
            json!({"date_limit": "2026-02-30"}),
        ),
        (
            "post",
            "/contents/v1/connectors/{connector_id}/sync",
            sync.clone(),
            json!({"date_limit": "2026-2-1"}),
        ),
        (
            "post",
            "/contents/v1/connectors/{connector_id}/sync",
            sync.clone(),
            json!({"date_limit": "2026-02-01", "x": 1}),
        ),
        (
            "post",
            "/contents/v1/connectors/{connector_id}/sync",
            sync,
            json!({"date_limit": "2026-02-01"}),
        ),
        upload(json!({"file_name": "a.pdf"})),
        upload(json!({"file_name": ""})),
        upload(json!({"file_name": " \u{a0}"})),
        upload(json!({"file_name": "a\u{7}b"})),
        upload(json!({"file_name": "a\u{85}b"})),
        upload(json!({"file_name": x(1024)})),
        upload(json!({"file_name": x(1025)})),
        upload(json!({"file_name": format!("{} ", x(1024))})),
        upload(json!({"file_name": "a", "published_ts": "2024-05-01T12:00:00"})),
        upload(json!({"file_name": "a", "published_ts": "2024-05-01T12:00:00.123"})),
        upload(json!({"file_name": "a", "published_ts": "2024-05-01"})),
        upload(json!({"file_name": "a", "published_ts": "2024-05-01T12:00:00+02:00"})),
        upload(json!({"file_name": "a", "published_ts": "2024-02-30"})),
        upload(json!({"file_name": "a", "published_ts": "yesterday"})),
        upload(
            json!({"file_name": "a", "tags": (0..100).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
        ),
        upload(
            json!({"file_name": "a", "tags": (0..101).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
        ),
        upload(json!({"file_name": "a", "tags": ["a\u{1}"]})),
        upload(json!({"file_name": "a", "tags": [""]})),
        upload(json!({"file_name": "a", "sha256": "x"})),
        (
            "patch",
            "/contents/v1/documents/{id}",
            format!("/contents/v1/documents/{document_id}"),
            json!({"tags": ["not-a-uuid"]}),
        ),
        (
            "patch",
            "/contents/v1/documents/{id}",
            format!("/contents/v1/documents/{document_id}"),
            json!({"tags": [tag["id"]], "share_with_org": true}),
        ),
        (
            "patch",
            "/contents/v1/documents/{id}",
            format!("/contents/v1/documents/{document_id}"),
            json!({"status": "completed"}),
        ),
        tag_body(json!({"tag_name": ""})),
        tag_body(json!({"tag_name": x(256)})),
        tag_body(json!({"tag_name": x(257)})),
        tag_body(json!({"tag_name": "a\tb"})),
    ];
    for (method, template, path, body) in bodies {
        let body_schema =
            &doc["paths"][template][method]["requestBody"]["content"]["application/json"]["schema"];
        let allowed = schema::validate(&doc, body_schema, &body, "$").is_ok();
        let resp = s
            .request(method.to_uppercase().parse().unwrap(), &path, Some(key))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        if allowed == (status == 400) {
            let shown = body.to_string().chars().take(160).collect::<String>();
            disagreements.push(format!(
                "{method} {template} {shown}: document {}, server {status} {}",
                if allowed { "allows" } else { "refuses" },
                resp.text().await.unwrap_or_default()
            ));
        }
    }

    let cursor_id = uuid::Uuid::now_v7();
    let upper_id = A_UUID.to_uppercase();
    let simple_id = A_UUID.replace('-', "");
    let queries: Vec<(&str, &str, String)> = vec![
        (CONNECTORS, "limit", "0".into()),
        (CONNECTORS, "limit", "1".into()),
        (CONNECTORS, "limit", "500".into()),
        (CONNECTORS, "limit", "501".into()),
        (CONNECTORS, "type", "fax".into()),
        (CONNECTORS, "type", "investment_research".into()),
        (CONNECTORS, "ownership", "mine".into()),
        (CONNECTORS, "ownership", "owned".into()),
        (CONNECTORS, "archived", "yes".into()),
        (CONNECTORS, "archived", "false".into()),
        (CONNECTORS, "cursor", "garbage".into()),
        (CONNECTORS, "cursor", format!("123.{cursor_id}")),
        (CONNECTORS, "cursor", format!("0123.{cursor_id}")),
        (
            CONNECTORS,
            "cursor",
            format!("123.{}", cursor_id.to_string().to_uppercase()),
        ),
        (CONNECTORS, "surprise", "1".into()),
        ("/contents/v1/documents", "connector_id", A_UUID.into()),
        ("/contents/v1/documents", "connector_id", upper_id.clone()),
        ("/contents/v1/documents", "connector_id", simple_id.clone()),
        ("/contents/v1/documents", "page", "1000000".into()),
        ("/contents/v1/documents", "page", "1000001".into()),
        ("/contents/v1/documents", "page_size", "100".into()),
        ("/contents/v1/documents", "page_size", "101".into()),
        ("/contents/v1/documents", "sort_by", "raw_size".into()),
        ("/contents/v1/documents", "sort_by", "size".into()),
        ("/contents/v1/documents", "sort_order", "up".into()),
        ("/contents/v1/documents", "origin", "fax".into()),
        ("/contents/v1/documents", "origin", "file_upload".into()),
        ("/contents/v1/documents", "from_date", "2024-02-30".into()),
        (
            "/contents/v1/documents",
            "from_date",
            "2024-05-01T12:00:00".into(),
        ),
        (
            "/contents/v1/documents",
            "from_date",
            "2024-05-01T12:00:00Z".into(),
        ),
        ("/contents/v1/documents", "owner", "".into()),
        ("/contents/v1/documents", "file_name", "".into()),
        ("/contents/v1/documents", "q", "lithium prices".into()),
        ("/contents/v1/documents", "q", "".into()),
        ("/contents/v1/documents", "q", "   ".into()),
        // 1,000 characters: 32 words of 30 letters, spaces after.
        (
            "/contents/v1/documents",
            "q",
            format!("{:<1000}", "abcdefghijklmnopqrstuvwxyzabcd ".repeat(32)),
        ),
        ("/contents/v1/documents", "q", "x".repeat(1001)),
        ("/contents/v1/documents", "sort_by", "relevance".into()),
        ("/contents/v1/documents", "tags", "".into()),
        ("/contents/v1/documents", "tags", "t".into()),
        ("/contents/v1/tags", "prefix", "".into()),
        ("/contents/v1/tags", "prefix", "x".into()),
    ];
    for (template, name, value) in queries {
        let op = &doc["paths"][template]["get"];
        let allowed = query_value_allowed(&doc, op, name, &value);
        let url = reqwest::Url::parse_with_params("http://h/", [(name, value.as_str())]).unwrap();
        let resp = s
            .get(&format!("{template}?{}", url.query().unwrap()), key)
            .await;
        let status = resp.status().as_u16();
        if allowed == (status == 400) {
            disagreements.push(format!(
                "GET {template}?{name}={value}: document {}, server {status}",
                if allowed { "allows" } else { "refuses" },
            ));
        }
    }

    let path_ids: Vec<(&str, String)> = vec![
        (ONE, A_UUID.into()),
        (ONE, upper_id),
        (ONE, simple_id),
        (ONE, format!("{{{A_UUID}}}")),
        ("/contents/v1/sync_jobs/{sync_job_id}", A_UUID.into()),
        ("/contents/v1/sync_jobs/{sync_job_id}", "x".into()),
        ("/contents/v1/documents/{id}", DOC_ID.into()),
        ("/contents/v1/documents/{id}", DOC_ID.to_lowercase()),
        ("/contents/v1/documents/{id}", format!("{DOC_ID}0")),
    ];
    for (template, value) in path_ids {
        let op = &doc["paths"][template]["get"];
        let param = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["in"] == "path")
            .unwrap();
        let allowed = schema::validate(&doc, &param["schema"], &json!(value), "path").is_ok();
        let name = param["name"].as_str().unwrap();
        let path = template.replace(&format!("{{{name}}}"), &value);
        let status = s.get(&path, key).await.status().as_u16();
        if allowed == (status == 400) {
            disagreements.push(format!(
                "GET {path}: document {}, server {status}",
                if allowed { "allows" } else { "refuses" },
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "the document and the server disagree:\n{}",
        disagreements.join("\n")
    );
}
