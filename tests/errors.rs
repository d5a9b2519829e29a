//! Contract §2 and §6: every row of the error table this API can produce,
//! the order of checks, and request ids on every response.

mod common;

use common::{assert_error, connector_id, connector_path, TestServer, CONNECTORS};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn unknown_routes_are_404_with_or_without_a_key() {
    let s = TestServer::start().await;
    let id = uuid::Uuid::now_v7();
    for path in [
        "/".to_string(),
        "/contents/v1".to_string(),
        "/contents/v1/nope".to_string(),
        format!("{CONNECTORS}/{id}/unknown"),
        "/contents/v2/connectors".to_string(),
    ] {
        for key in [None, Some(s.admin_key.as_str()), Some("wrong")] {
            let resp = s.request(Method::GET, &path, key).send().await.unwrap();
            assert_error(resp, 404, "ROUTE_NOT_FOUND").await;
        }
    }
}

#[tokio::test]
async fn wrong_methods_are_405() {
    let s = TestServer::start().await;
    let id = uuid::Uuid::now_v7();
    for (method, path) in [
        (Method::PATCH, CONNECTORS.to_string()),
        (Method::DELETE, CONNECTORS.to_string()),
        (Method::POST, format!("{CONNECTORS}/{id}")),
        (Method::POST, "/healthz".to_string()),
    ] {
        let resp = s
            .request(method.clone(), &path, Some(&s.admin_key))
            .send()
            .await
            .unwrap();
        assert!(resp.headers().contains_key("allow"), "{method} {path}");
        assert_error(resp, 405, "METHOD_NOT_ALLOWED").await;
    }
}

#[tokio::test]
async fn missing_bad_and_revoked_keys_are_401_before_any_validation() {
    let s = TestServer::start().await;
    let good = s.create_email_connector(&s.admin_key, "x", false).await;
    let good_path = connector_path(&good);
    let requests = [
        (Method::GET, CONNECTORS.to_string(), None),
        (Method::GET, format!("{CONNECTORS}?limit=0"), None),
        (Method::POST, CONNECTORS.to_string(), Some("{not json")),
        (Method::GET, format!("{CONNECTORS}/not-a-uuid"), None),
        (Method::PUT, format!("{CONNECTORS}/not-a-uuid"), Some("{}")),
        (
            Method::DELETE,
            format!("{good_path}?force_delete=maybe"),
            None,
        ),
        (Method::GET, good_path.clone(), None),
    ];
    for key in [None, Some("inlet_0000"), Some("")] {
        for (method, path, body) in &requests {
            let mut req = s.request(method.clone(), path, key);
            if let Some(b) = body {
                req = req
                    .header("content-type", "application/json")
                    .body(b.to_string());
            }
            assert_error(req.send().await.unwrap(), 401, "UNAUTHORIZED").await;
        }
    }
    // A non-ASCII header value is a bad key too, not a crash.
    let resp = s
        .request(Method::GET, CONNECTORS, None)
        .header(
            "X-API-KEY",
            reqwest::header::HeaderValue::from_bytes(b"\xffkey").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_error(resp, 401, "UNAUTHORIZED").await;
    let still = s.get_json(&good_path, &s.admin_key).await;
    assert_eq!(still["state"], "active");
}

#[tokio::test]
async fn malformed_ids_are_400_invalid_connector_id() {
    let s = TestServer::start().await;
    for id in [
        "not-a-uuid",
        "019a9612bfad758c884e37dd8c6ad2cb",
        "019a9612-bfad-758c-884e-37dd8c6ad2c",
        "019a9612-bfad-758c-884e-37dd8c6ad2cz",
        "%F0%9F%92%A9",
    ] {
        let path = format!("{CONNECTORS}/{id}");
        assert_error(
            s.get(&path, &s.admin_key).await,
            400,
            "INVALID_CONNECTOR_ID",
        )
        .await;
        assert_error(
            s.delete(&path, &s.admin_key).await,
            400,
            "INVALID_CONNECTOR_ID",
        )
        .await;
        assert_error(
            s.put_json(&path, &s.admin_key, &json!({"label": "x"}))
                .await,
            400,
            "INVALID_CONNECTOR_ID",
        )
        .await;
    }
    // Case does not matter: an uppercase id names the same connector.
    let c = s.create_email_connector(&s.admin_key, "x", false).await;
    let upper = connector_id(&c).to_uppercase();
    assert_eq!(
        s.get(&format!("{CONNECTORS}/{upper}"), &s.admin_key)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn absent_connectors_are_404_connector_not_found() {
    let s = TestServer::start().await;
    let path = format!("{CONNECTORS}/{}", uuid::Uuid::now_v7());
    let body = assert_error(s.get(&path, &s.admin_key).await, 404, "CONNECTOR_NOT_FOUND").await;
    assert_eq!(body["message"], "Connector not found");
    assert_error(
        s.put_json(&path, &s.admin_key, &json!({"label": "x"}))
            .await,
        404,
        "CONNECTOR_NOT_FOUND",
    )
    .await;
    assert_error(
        s.delete(&path, &s.admin_key).await,
        404,
        "CONNECTOR_NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn bodies_must_be_json_within_the_size_limit() {
    let s = TestServer::builder()
        .config("[http]\nmax_body_bytes = 4096")
        .start()
        .await;
    let post = |content_type: Option<&str>, body: Vec<u8>| {
        let mut req = s
            .request(Method::POST, CONNECTORS, Some(&s.admin_key))
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    let valid = br#"{"type":"email","label":"x","config":{"allowed_emails":[]}}"#.to_vec();

    assert_error(
        post(Some("text/plain"), valid.clone()).await.unwrap(),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    assert_error(
        post(None, valid.clone()).await.unwrap(),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    assert_error(
        post(Some("application/x-www-form-urlencoded"), b"a=b".to_vec())
            .await
            .unwrap(),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    assert_error(
        post(None, Vec::new()).await.unwrap(),
        400,
        "INVALID_REQUEST",
    )
    .await;
    assert_error(
        post(Some("application/json"), Vec::new()).await.unwrap(),
        400,
        "INVALID_REQUEST",
    )
    .await;
    assert_error(
        post(Some("application/json"), b"{\"type\":".to_vec())
            .await
            .unwrap(),
        400,
        "INVALID_REQUEST",
    )
    .await;

    let mut big = br#"{"type":"email","label":"x","description":""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 5000));
    big.extend(br#"","config":{"allowed_emails":[]}}"#);
    let resp = post(Some("application/json"), big.clone()).await.unwrap();
    assert_eq!(
        resp.headers()["connection"],
        "close",
        "the unread body leaves the connection unusable"
    );
    assert_error(resp, 413, "PAYLOAD_TOO_LARGE").await;

    // Without Content-Length (chunked), the limit still holds. The server
    // answers and closes while the client may still be sending, so the
    // client can see the connection reset before it reads the 413.
    let stream = futures_stream(big);
    let sent = s
        .request(Method::POST, CONNECTORS, Some(&s.admin_key))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    match sent {
        Ok(resp) => {
            assert_error(resp, 413, "PAYLOAD_TOO_LARGE").await;
        }
        Err(e) => assert!(e.is_request(), "{e:?}"),
    }

    assert_eq!(
        post(Some("application/json; charset=utf-8"), valid)
            .await
            .unwrap()
            .status(),
        201
    );
    let list = s.get_json(CONNECTORS, &s.admin_key).await;
    assert_eq!(
        list["results"].as_array().unwrap().len(),
        1,
        "only the valid body created anything"
    );
}

fn futures_stream(
    bytes: Vec<u8>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let chunks: Vec<Vec<u8>> = bytes.chunks(1000).map(<[u8]>::to_vec).collect();
    futures_util::stream::iter(chunks.into_iter().map(Ok))
}

#[tokio::test]
async fn the_default_body_limit_is_one_mebibyte() {
    let s = TestServer::start().await;
    let mut big = br#"{"type":"email","label":"x","description":""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    big.extend(br#"","config":{"allowed_emails":[]}}"#);
    let resp = s
        .request(Method::POST, CONNECTORS, Some(&s.admin_key))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_error(resp, 413, "PAYLOAD_TOO_LARGE").await;
}

#[tokio::test]
async fn request_ids_are_echoed_when_safe_and_generated_otherwise() {
    let s = TestServer::start().await;
    let with_id = |id: &str| {
        s.request(
            Method::GET,
            &format!("{CONNECTORS}/not-a-uuid"),
            Some(&s.admin_key),
        )
        .header("X-Request-Id", id)
        .send()
    };
    let resp = with_id("client-trace_1.2").await.unwrap();
    assert_eq!(resp.headers()["x-request-id"], "client-trace_1.2");
    let body = assert_error(resp, 400, "INVALID_CONNECTOR_ID").await;
    assert_eq!(body["requestId"], "client-trace_1.2");

    for unsafe_id in ["has space", "semi;colon", &"a".repeat(129)] {
        let resp = with_id(unsafe_id).await.unwrap();
        let generated = resp.headers()["x-request-id"].to_str().unwrap().to_string();
        let uuid = uuid::Uuid::parse_str(&generated).expect("a generated UUID");
        assert_eq!(uuid.get_version_num(), 7);
        assert_error(resp, 400, "INVALID_CONNECTOR_ID").await;
    }
    assert_eq!(
        with_id(&"a".repeat(128)).await.unwrap().headers()["x-request-id"],
        "a".repeat(128).as_str()
    );

    // Every response carries one: success, health, documents, errors.
    let mut seen = std::collections::HashSet::new();
    for path in [
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/missing",
        CONNECTORS,
    ] {
        let resp = s
            .request(Method::GET, path, Some(&s.admin_key))
            .send()
            .await
            .unwrap();
        let id = resp
            .headers()
            .get("x-request-id")
            .unwrap_or_else(|| panic!("{path}"))
            .to_str()
            .unwrap()
            .to_string();
        assert!(seen.insert(id), "ids are unique per request");
    }
}

#[tokio::test]
async fn health_endpoints_need_no_key() {
    let s = TestServer::start().await;
    let health: Value = s.get_without_key("/healthz").await.json().await.unwrap();
    assert_eq!(health, json!({"status": "ok"}));
    let ready = s.get_without_key("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<Value>().await.unwrap(),
        json!({"status": "ready"})
    );
}
