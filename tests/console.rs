//! The web console (contract §14) over real HTTP: sessions and their
//! cookie, CSRF, CSP, escaping, tenancy and the sign-in rate limit.

mod common;

use common::console::{Console, SIGN_IN};
use common::smtp::Smtp;
use common::{connector_id, files_under, inbox_address, TestServer, CONNECTORS};
use serde_json::json;
use std::time::Duration;

const HOSTILE: &str = r#"<script>alert(1)</script>"><img src=x onerror=alert(1)>"#;

/// Raw markup that must never reach a page from user data.
fn assert_no_raw_markup(body: &str) {
    assert!(!body.contains("<script>alert"), "unescaped script: {body}");
    assert!(!body.contains("<img src=x"), "unescaped img: {body}");
    assert!(!body.contains(r#""><img"#), "attribute break-out: {body}");
}

fn session_id(console: &Console) -> String {
    console
        .cookie
        .as_deref()
        .and_then(|c| c.strip_prefix("inlet_session="))
        .expect("a session cookie")
        .to_string()
}

fn sha256_hex(s: &str) -> String {
    inlet::crypto::hash_secret(s)
}

#[tokio::test]
async fn sign_in_sets_a_strict_cookie_and_the_database_keeps_only_its_hash() {
    let s = TestServer::start().await;
    let mut console = Console::new(&s);
    let page = console.sign_in(&s.admin_key).await;
    assert_eq!(page.status, 303);
    let cookie = page.header("set-cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    let id = session_id(&console);
    assert_eq!(id.len(), 64, "256 bits, hex");

    let state = s.open_state().await;
    assert!(state
        .store
        .session(&sha256_hex(&id))
        .await
        .unwrap()
        .is_some());
    assert!(state.store.session(&id).await.unwrap().is_none());
    if s.database_url().is_none() {
        // Nothing on disk (database, WAL) holds the id itself, though the
        // hash is there: the scan reads the right files.
        let (mut raw_found, mut hash_found) = (false, false);
        for f in files_under(&s.data_dir()) {
            let bytes = std::fs::read(&f).unwrap_or_default();
            let has = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
            raw_found |= has(&id);
            hash_found |= has(&sha256_hex(&id));
        }
        assert!(hash_found, "the session's hash is stored");
        assert!(!raw_found, "the raw session id is stored nowhere");
    }
    assert_eq!(console.get("/console/connectors").await.status, 200);
}

#[tokio::test]
async fn the_cookie_is_secure_behind_an_https_public_url() {
    let s = TestServer::builder()
        .env("INLET_PUBLIC_URL", "https://inlet.example")
        .start()
        .await;
    let page = Console::new(&s).sign_in(&s.admin_key).await;
    assert!(page.header("set-cookie").contains("; Secure"));
}

#[tokio::test]
async fn every_page_sends_a_strict_content_security_policy() {
    let s = TestServer::start().await;
    let mut console = Console::new(&s);
    let mut pages = vec![
        console.get(SIGN_IN).await,
        console.get("/console/nope").await,
    ];
    let mut console = Console::signed_in(&s, &s.admin_key).await;
    for path in [
        "/console/connectors",
        "/console/connectors/new?type=email",
        "/console/documents",
        "/console/tags",
    ] {
        pages.push(console.get(path).await);
    }
    pages.push(console.post_raw("/console/tags", &[], &[]).await);
    for page in &pages {
        let csp = page.header("content-security-policy");
        for directive in [
            "script-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "default-src 'none'",
        ] {
            assert!(csp.contains(directive), "{directive} in {csp:?}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(page.header("x-content-type-options"), "nosniff");
        assert!(!page.header("referrer-policy").is_empty());
        assert!(page.header("content-type").starts_with("text/html"));
        // Scripts only from files: no inline code, no handlers.
        for script in page.body.split("<script").skip(1) {
            assert!(
                script.trim_start().starts_with("src=\"/console/assets/"),
                "{script}"
            );
        }
        assert!(!page.body.contains(" onclick="), "no inline handlers");
    }
    assert_eq!(pages[1].status, 404);
    assert_eq!(pages.last().unwrap().status, 403, "a form without a token");
    let css = console.get("/console/assets/console.css").await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").starts_with("text/css"));
}

#[tokio::test]
async fn signing_out_ends_the_session_at_once() {
    let s = TestServer::start().await;
    let mut console = Console::signed_in(&s, &s.admin_key).await;
    let old = console.cookie.clone();
    let out = console.post("/console/sign-out", &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), SIGN_IN);
    assert!(out.header("set-cookie").contains("Max-Age=0"));
    console.cookie = old;
    let after = console.get("/console/connectors").await;
    assert_eq!(after.status, 303, "the old cookie signs nobody in");
    assert_eq!(after.location(), SIGN_IN);
}

#[tokio::test]
async fn sessions_slide_and_expire_when_idle() {
    let s = TestServer::builder()
        .config("[console]\nsession_idle = \"2s\"")
        .start()
        .await;
    let mut console = Console::signed_in(&s, &s.admin_key).await;
    // Used within the idle limit, it stays alive past it.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(console.get("/console/connectors").await.status, 200);
    }
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let idle = console.get("/console/connectors").await;
    assert_eq!(idle.status, 303, "idle past the limit: signed out");
    assert_eq!(idle.location(), SIGN_IN);
    let state = s.open_state().await;
    assert!(
        state
            .store
            .session(&sha256_hex(&session_id(&console)))
            .await
            .unwrap()
            .is_none(),
        "the expired session is removed"
    );
}

#[tokio::test]
async fn a_revoked_key_ends_its_sessions() {
    let s = TestServer::start().await;
    let key = s.create_key("acme", "alice");
    let mut console = Console::signed_in(&s, &key).await;
    let key_id = s.key_id_of("alice");
    assert!(s.cli(&["admin", "revoke-key", &key_id]).status.success());
    let page = console.get("/console/connectors").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), SIGN_IN);
    let again = Console::new(&s).sign_in(&key).await;
    assert_eq!(again.status, 401, "a revoked key cannot sign in");
}

#[tokio::test]
async fn forged_cross_site_posts_are_refused() {
    let s = TestServer::start().await;
    let key = &s.admin_key;
    let connector = s.create_email_connector(key, "Desk", false).await;
    let pause = format!("/console/connectors/{}/pause", connector_id(&connector));
    let mut console = Console::signed_in(&s, key).await;
    let token = console.csrf.clone().unwrap();
    let wrong = "0".repeat(64);
    type Pairs<'a> = Vec<(&'a str, &'a str)>;
    let forged: Vec<(Pairs, Pairs)> = vec![
        (vec![], vec![]),
        (vec![("csrf", &wrong)], vec![]),
        (vec![("csrf", &token[..63])], vec![]),
        (
            vec![("csrf", &token)],
            vec![("sec-fetch-site", "cross-site")],
        ),
        (
            vec![("csrf", &token)],
            vec![("origin", "http://evil.example")],
        ),
    ];
    for (fields, headers) in &forged {
        let page = console.post_raw(&pause, fields, headers).await;
        assert_eq!(page.status, 403, "{fields:?} {headers:?}");
        assert!(page.body.contains("Request refused"));
    }
    let c = s.get_json(&common::connector_path(&connector), key).await;
    assert_eq!(c["state"], "active", "nothing forged took effect");

    let page = console.post(&pause, &[]).await;
    assert_eq!(page.status, 303);
    let c = s.get_json(&common::connector_path(&connector), key).await;
    assert_eq!(c["state"], "paused");

    // Another user's session token does not fit this session.
    let other = Console::signed_in(&s, &s.create_key("acme", "bob")).await;
    let resume = format!("/console/connectors/{}/resume", connector_id(&connector));
    let stolen = other.csrf.clone().unwrap();
    let page = console.post_raw(&resume, &[("csrf", &stolen)], &[]).await;
    assert_eq!(page.status, 403);
}

#[tokio::test]
async fn sign_in_forms_from_elsewhere_are_refused() {
    let s = TestServer::start().await;
    let key = s.admin_key.as_str();
    // The form's page hands the browser a nonce for the sign-in form alone.
    let mut console = Console::new(&s);
    let form = console.get(SIGN_IN).await;
    let cookie = form.header("set-cookie");
    for flag in [
        "inlet_sign_in=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console/sign-in",
    ] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    let token = console.csrf.clone().expect("the form carries its token");

    // What another site's page can send: no cookie, no token.
    let page = Console::new(&s)
        .post_raw(SIGN_IN, &[("api_key", key)], &[])
        .await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("Request refused"));
    // The token of this browser's page with another browser's cookie, and
    // a made-up token beside a real cookie.
    let mut other = Console::new(&s);
    other.get(SIGN_IN).await;
    let page = other
        .post_raw(SIGN_IN, &[("api_key", key), ("csrf", &token)], &[])
        .await;
    assert_eq!(page.status, 403, "a token fits its own cookie only");
    let made_up = "b".repeat(64);
    let page = other
        .post_raw(SIGN_IN, &[("api_key", key), ("csrf", &made_up)], &[])
        .await;
    assert_eq!(page.status, 403);
    // The right pair, sent from another site, or from a sibling subdomain
    // (which could plant a cookie of its own).
    for site in ["cross-site", "same-site"] {
        let page = console
            .post_raw(
                SIGN_IN,
                &[("api_key", key), ("csrf", &token)],
                &[("sec-fetch-site", site)],
            )
            .await;
        assert_eq!(page.status, 403, "{site}");
    }
    assert!(
        console.cookie.is_none(),
        "no forged request opened a session"
    );

    // From the console's own page it signs in, and the nonce is dropped.
    let page = console.post(SIGN_IN, &[("api_key", key)]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(console.cookie.is_some());
    assert!(console.sign_in_cookie.is_none(), "the nonce is cleared");
}

#[tokio::test]
async fn everything_shown_is_escaped() {
    let s = TestServer::start().await;
    let key = &s.admin_key;
    let label = format!("Desk {HOSTILE}");
    let connector = s
        .create_connector(
            key,
            &json!({"type": "email", "label": label, "description": HOSTILE,
                    "config": {"allowed_emails": [common::DESK]}}),
        )
        .await;
    let upload = s
        .upload(
            key,
            &format!("{HOSTILE}.txt"),
            format!("Quarterly note {HOSTILE} zebrafish").as_bytes(),
            json!({}),
        )
        .await;
    let mut smtp = Smtp::session(&s.smtp).await;
    let (code, _) = smtp
        .deliver_from_desk(
            &inbox_address(&connector),
            HOSTILE,
            "x1@broker.example",
            "body",
        )
        .await;
    assert_eq!(code, 250);
    s.run_jobs();

    let mut console = Console::signed_in(&s, key).await;
    let id = upload["id"].as_str().unwrap();
    let pages = [
        "/console/connectors".to_string(),
        format!("/console/connectors/{}", connector_id(&connector)),
        format!("/console/connectors/{}/edit", connector_id(&connector)),
        format!("/console/connectors/{}/delete", connector_id(&connector)),
        "/console/documents".to_string(),
        "/console/documents?q=zebrafish".to_string(),
        format!("/console/documents/{id}"),
        "/console/tags".to_string(),
    ];
    for path in &pages {
        let page = console.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_no_raw_markup(&page.body);
    }
    // The text is there, escaped: label, file name, subject, extracted text.
    let list = console.get("/console/connectors").await.body;
    assert!(list.contains("onerror=alert(1)"));
    let docs = console.get("/console/documents").await.body;
    assert!(docs.matches("onerror=alert(1)").count() >= 2, "{docs}");
    let doc = console.get(&format!("/console/documents/{id}")).await.body;
    assert!(doc.contains("Quarterly note"), "extracted text shown");
    assert!(doc.contains("zebrafish"));
    let found = console.get("/console/documents?q=zebrafish").await.body;
    assert!(
        found.contains("<mark>zebrafish</mark>"),
        "the match is marked"
    );

    // Hostile input in forms and queries is shown back escaped too.
    let page = console
        .post(
            "/console/connectors",
            &[
                ("type", "email"),
                ("label", HOSTILE),
                ("allowed_emails", HOSTILE),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert_no_raw_markup(&page.body);
    let page = console
        .get(&format!("/console/documents?q={}", urlencode(HOSTILE)))
        .await;
    assert_no_raw_markup(&page.body);
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn other_tenants_objects_are_not_found() {
    let s = TestServer::start().await;
    let theirs = s.create_key("globex", "gina");
    let connector = s
        .create_email_connector(&theirs, "Gina's desk", false)
        .await;
    let doc = s
        .upload(&theirs, "gina.txt", b"private words", json!({}))
        .await;
    let cid = connector_id(&connector).to_string();
    let did = doc["id"].as_str().unwrap().to_string();
    // Shared with their org, still not ours.
    let shared = s.create_email_connector(&theirs, "Shared desk", true).await;

    let mut console = Console::signed_in(&s, &s.admin_key).await;
    let absent = console
        .get(&format!("/console/connectors/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(absent.status, 404);
    for path in [
        format!("/console/connectors/{cid}"),
        format!("/console/connectors/{cid}/edit"),
        format!("/console/connectors/{cid}/delete"),
        format!("/console/connectors/{}", connector_id(&shared)),
        format!("/console/documents/{did}"),
        format!("/console/documents/{did}/original"),
        "/console/connectors/not-a-uuid".to_string(),
    ] {
        let page = console.get(&path).await;
        assert_eq!(page.status, 404, "{path}");
        assert_eq!(page.body, absent.body, "{path}: the same page as absent");
    }
    for action in ["pause", "archive", "delete"] {
        let page = console
            .post(&format!("/console/connectors/{cid}/{action}"), &[])
            .await;
        assert_eq!(page.status, 404, "{action}");
    }
    let c = s
        .get_json(&common::connector_path(&connector), &theirs)
        .await;
    assert_eq!(c["state"], "active");
    let list = console.get("/console/documents").await.body;
    assert!(!list.contains("gina.txt"));
    let list = console.get("/console/connectors").await.body;
    assert!(!list.contains("Gina"), "not listed");
    let filtered = console
        .get(&format!("/console/documents?connector={cid}"))
        .await;
    assert_eq!(filtered.status, 200);
    assert!(!filtered.body.contains("gina.txt"));
}

#[tokio::test]
async fn a_colleague_sees_a_shared_connector_and_changes_nothing() {
    let s = TestServer::start().await;
    let owner = &s.admin_key;
    let connector = s.create_email_connector(owner, "Team desk", true).await;
    let cid = connector_id(&connector).to_string();
    let colleague = s.create_key("default", "carol");
    let mut console = Console::signed_in(&s, &colleague).await;

    let page = console.get(&format!("/console/connectors/{cid}")).await;
    assert_eq!(page.status, 200, "shared with the org: visible");
    assert!(page.body.contains("Team desk"));
    for control in [
        r#"id="pause""#,
        r#"id="archive""#,
        r#"id="delete""#,
        "/edit\"",
    ] {
        assert!(
            !page.body.contains(control),
            "{control} offered to a non-owner"
        );
    }
    let absent = console
        .get(&format!("/console/connectors/{}", uuid::Uuid::now_v7()))
        .await;
    for path in [
        format!("/console/connectors/{cid}/edit"),
        format!("/console/connectors/{cid}/delete"),
    ] {
        let page = console.get(&path).await;
        assert_eq!(page.status, 404, "{path}");
        assert_eq!(page.body, absent.body, "{path}: as if absent");
    }
    for action in ["pause", "resume", "archive", "delete", "sync"] {
        let page = console
            .post(
                &format!("/console/connectors/{cid}/{action}"),
                &[("date_limit", "2026-01-01")],
            )
            .await;
        assert_eq!(page.status, 404, "{action}");
    }
    let page = console
        .post(
            &format!("/console/connectors/{cid}"),
            &[("label", "Carol's now"), ("allowed_emails", common::DESK)],
        )
        .await;
    assert_eq!(page.status, 404, "update");
    let api = s.get_json(&common::connector_path(&connector), owner).await;
    assert_eq!(api["label"], "Team desk");
    assert_eq!(api["state"], "active");
    assert_eq!(api["share_with_org"], true);
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited() {
    let s = TestServer::builder()
        .unauthenticated_per_minute(6)
        .start()
        .await;
    let mut statuses = vec![];
    for i in 0..4 {
        let page = Console::new(&s).sign_in(&format!("inlet_guess{i}")).await;
        if page.status == 429 {
            assert!(page.header("retry-after").parse::<u64>().unwrap() >= 1);
            assert!(page.body.contains("Too many sign-in attempts"));
        }
        statuses.push(page.status);
    }
    assert_eq!(statuses[0], 401);
    assert!(statuses.contains(&429), "{statuses:?}");
    let valid = Console::new(&s).sign_in(&s.admin_key).await;
    assert_eq!(
        valid.status, 429,
        "every attempt counts while over the limit"
    );
}

#[tokio::test]
async fn connector_flows_use_the_apis_rules() {
    let s = TestServer::start().await;
    let key = &s.admin_key;
    let mut console = Console::signed_in(&s, key).await;
    console.get("/console/connectors/new?type=email").await;
    // Every problem at once, beside its field, as the validate endpoint reports them.
    let page = console
        .post(
            "/console/connectors",
            &[
                ("type", "email"),
                ("label", "  "),
                ("allowed_emails", "ok@x.example\nnot-an-address"),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    let validate = s
        .post_json(
            &format!("{CONNECTORS}/validate"),
            key,
            &json!({"type": "email", "label": "  ", "config": {"allowed_emails": ["ok@x.example", "not-an-address"]}}),
        )
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    for e in validate["errors"].as_array().unwrap() {
        let message = e["message"].as_str().unwrap();
        let escaped = message.replace('"', "&#34;").replace('\'', "&#39;");
        assert!(
            page.body.contains(message) || page.body.contains(&escaped),
            "{message} shown: {}",
            page.body
        );
    }
    assert!(
        page.body.contains("not-an-address"),
        "the form keeps what was typed"
    );

    let page = console
        .post(
            "/console/connectors",
            &[
                ("type", "email"),
                ("label", "Morning notes"),
                ("allowed_emails", common::DESK),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let path = page.location().split('?').next().unwrap().to_string();
    let id = path.rsplit('/').next().unwrap().to_string();
    let api = s.get_json(&format!("{CONNECTORS}/{id}"), key).await;
    assert_eq!(api["label"], "Morning notes");
    assert_eq!(api["config"]["allowed_emails"], json!([common::DESK]));
    let shown = console.get(&path).await;
    assert!(shown
        .body
        .contains(api["config"]["email"].as_str().unwrap()));

    // Edit, then the state changes; what the API refuses is refused here.
    console.get(&format!("{path}/edit")).await;
    let page = console
        .post(&path, &[("label", " "), ("allowed_emails", common::DESK)])
        .await;
    assert_eq!(page.status, 400);
    assert!(
        page.body
            .contains(r#"aria-invalid="true" aria-describedby="label-error""#)
            && page
                .body
                .contains(r#"<div id="label-error"><p class="field-error" role="alert">"#),
        "the problem is tied to its field: {}",
        page.body
    );
    let page = console
        .post(
            &path,
            &[
                ("label", "Morning notes 2"),
                ("allowed_emails", "a@b.example"),
                ("share_with_org", "true"),
            ],
        )
        .await;
    assert_eq!(page.status, 303);
    let api = s.get_json(&format!("{CONNECTORS}/{id}"), key).await;
    assert_eq!(api["label"], "Morning notes 2");
    assert_eq!(api["share_with_org"], true);
    assert_eq!(
        console.post(&format!("{path}/archive"), &[]).await.status,
        303
    );
    let refused = console.post(&format!("{path}/pause"), &[]).await;
    assert_eq!(refused.status, 409, "archived connectors do not pause");
    assert!(refused.body.contains("Connector is archived"));

    let confirm = console.get(&format!("{path}/delete")).await;
    assert!(confirm.body.contains("Morning notes 2"));
    assert!(confirm.body.contains("0 documents"));
    assert_eq!(
        console.post(&format!("{path}/delete"), &[]).await.status,
        303
    );
    // The purge of an empty connector may already be over: either it is
    // being deleted, or it is gone.
    let api = s.get_json(&format!("{CONNECTORS}/{id}"), key).await;
    assert!(
        api["state"] == "deleting" || api["errorCode"] == "CONNECTOR_NOT_FOUND",
        "{api}"
    );
}

#[tokio::test]
async fn the_console_can_be_turned_off_and_is_not_in_the_openapi_document() {
    let on = TestServer::start().await;
    let doc = on
        .get_without_key("/openapi.json")
        .await
        .text()
        .await
        .unwrap();
    assert!(!doc.contains("/console"));
    let off = TestServer::builder()
        .config("[console]\nenabled = false")
        .start()
        .await;
    let resp = off.get_without_key("/console/sign-in").await;
    assert_eq!(resp.status(), 404);
    common::assert_error(resp, 404, "ROUTE_NOT_FOUND").await;
}

#[tokio::test]
async fn a_connectors_events_page_back_in_time() {
    let s = TestServer::start().await;
    let key = &s.admin_key;
    let connector = s.create_email_connector(key, "Busy desk", false).await;
    let path = common::connector_path(&connector);
    for _ in 0..26 {
        assert_eq!(s.post(&format!("{path}/pause"), key).await.status(), 200);
        assert_eq!(s.post(&format!("{path}/resume"), key).await.status(), 200);
    }
    let mut console = Console::signed_in(&s, key).await;
    let page = console
        .get(&format!("/console/connectors/{}", connector_id(&connector)))
        .await;
    let shown = |body: &str| body.matches("<span class=\"when\">").count();
    assert_eq!(shown(&page.body), 50, "the newest 50");
    let re = regex::Regex::new(r#"href="([^"]+)" id="older-events""#).unwrap();
    let older = re.captures(&page.body).expect("a link to older events")[1].to_string();
    let page = console.get(&older).await;
    assert_eq!(shown(&page.body), 2, "then the rest");
    assert!(!page.body.contains("older-events"), "and no further link");
}

#[tokio::test]
async fn research_syncs_are_created_started_and_canceled() {
    let s = TestServer::builder().manual_jobs().start().await;
    let key = &s.admin_key;
    let mut console = Console::signed_in(&s, key).await;
    let form = console
        .get("/console/connectors/new?type=investment_research")
        .await;
    assert!(form.body.contains(r#"<option value="broker-a" selected>"#));
    assert!(form.body.contains(r#"<option value="broker-b">"#));
    let missing = console
        .post(
            "/console/connectors",
            &[
                ("type", "investment_research"),
                ("label", "Broker B"),
                ("portal", "broker-b"),
            ],
        )
        .await;
    assert_eq!(missing.status, 400);
    assert_eq!(
        missing.body.matches("class=\"field-error\"").count(),
        2,
        "user and password"
    );
    let page = console
        .post(
            "/console/connectors",
            &[
                ("type", "investment_research"),
                ("label", "Broker B"),
                ("portal", "broker-b"),
                ("user_id", "analyst"),
                ("user_password", "s3cret-pass"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let path = page.location().split('?').next().unwrap().to_string();
    let id = path.rsplit('/').next().unwrap();
    let api = s.get_json(&format!("{CONNECTORS}/{id}"), key).await;
    assert_eq!(
        api["config"],
        json!({"user_id": "analyst", "portal": "broker-b"})
    );
    let shown = console.get(&path).await;
    assert!(!shown.body.contains("s3cret-pass"));

    let bad = console
        .post(&format!("{path}/sync"), &[("date_limit", "soon")])
        .await;
    assert_eq!(bad.status, 400);
    let started = console
        .post(&format!("{path}/sync"), &[("date_limit", "2026-01-01")])
        .await;
    assert_eq!(started.status, 303);
    let again = console
        .post(&format!("{path}/sync"), &[("date_limit", "2026-01-01")])
        .await;
    assert_eq!(again.status, 409, "one sync at a time, as in the API");
    let jobs = s
        .get_json(&format!("{CONNECTORS}/{id}/sync_jobs"), key)
        .await;
    let job = jobs["results"][0]["sync_job_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(jobs["results"][0]["status"], "pending");
    let page = console.get(&path).await;
    assert!(page
        .body
        .contains(&format!("/console/sync-jobs/{job}/cancel")));
    let canceled = console
        .post(&format!("/console/sync-jobs/{job}/cancel"), &[])
        .await;
    assert_eq!(canceled.status, 303);
    let job = s
        .get_json(&format!("{}/{job}", common::SYNC_JOBS), key)
        .await;
    assert_eq!(job["status"], "canceled");
}

/// The page's "Next page" link, as the browser would follow it.
fn next_page(page: &common::console::Page) -> Option<String> {
    let re = regex::Regex::new(r#"<a href="([^"]+)" rel="next" id="next-page">"#).unwrap();
    re.captures(&page.body)
        .map(|c| c[1].replace("&#38;", "&").replace("&amp;", "&"))
}

/// Follows "Next page" from `start` to the end; every name `found` picks
/// out of a page, in order.
async fn walk(console: &mut Console, start: &str, found: &regex::Regex) -> (Vec<String>, usize) {
    let (mut names, mut pages, mut at) = (vec![], 0, Some(start.to_string()));
    while let Some(path) = at {
        let page = console.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        names.extend(found.captures_iter(&page.body).map(|c| c[1].to_string()));
        pages += 1;
        at = next_page(&page);
        assert!(pages < 10, "the pages end");
    }
    (names, pages)
}

#[tokio::test]
async fn long_lists_page_without_skipping_or_repeating() {
    let s = TestServer::start().await;
    let key = &s.admin_key;
    for i in 0..52 {
        s.create_email_connector(key, &format!("Desk {i:02}"), false)
            .await;
        s.upload(key, &format!("note-{i:02}.txt"), b"words", json!({}))
            .await;
    }
    for i in 0..103 {
        let resp = s
            .post_json(
                "/contents/v1/tags",
                key,
                &json!({"tag_name": format!("t{i:03}")}),
            )
            .await;
        assert_eq!(resp.status(), 200);
    }
    let mut console = Console::signed_in(&s, key).await;
    let unique = |names: &[String]| {
        let mut sorted = names.to_vec();
        sorted.sort();
        sorted.dedup();
        sorted.len()
    };

    let labels = regex::Regex::new(r">(Desk \d\d)</a>").unwrap();
    let (names, pages) = walk(&mut console, "/console/connectors", &labels).await;
    assert_eq!(
        (names.len(), unique(&names), pages),
        (52, 52, 2),
        "{names:?}"
    );
    assert_eq!(names[0], "Desk 51", "newest first");
    let first = console.get("/console/connectors").await;
    let second = console.get(&next_page(&first).unwrap()).await;
    assert!(second.body.contains(r#"id="first-page""#), "a way back");

    let files = regex::Regex::new(r">(note-\d\d\.txt)</a>").unwrap();
    let (names, pages) = walk(&mut console, "/console/documents", &files).await;
    assert_eq!(
        (names.len(), unique(&names), pages),
        (52, 52, 2),
        "{names:?}"
    );

    let tags = regex::Regex::new(r">(t\d\d\d)</a>").unwrap();
    let (names, pages) = walk(&mut console, "/console/tags", &tags).await;
    assert_eq!((names.len(), unique(&names), pages), (103, 103, 2));
    // Narrowed by a prefix, the pages keep it.
    let (names, pages) = walk(&mut console, "/console/tags?prefix=t0", &tags).await;
    assert_eq!((names.len(), pages), (100, 1), "t000–t099 fit one page");
    let (names, _) = walk(&mut console, "/console/tags?prefix=t10", &tags).await;
    assert_eq!(names, ["t100", "t101", "t102"]);
    // A tag's documents, as the tags page links them, with the filter kept.
    s.upload(key, "tagged.txt", b"words", json!({"tags": ["t001"]}))
        .await;
    let page = console.get("/console/documents?tags=t000&tags=t001").await;
    let (names, _) = walk(&mut console, "/console/documents?tags=t001", &files).await;
    assert!(names.is_empty(), "{names:?}");
    assert!(page.body.contains(">tagged.txt</a>"), "{}", page.body);
    assert!(!page.body.contains(">note-00.txt</a>"));
    assert!(page
        .body
        .contains(r#"<input id="tags" name="tags" value="t000""#));
    assert!(page
        .body
        .contains(r#"<input type="checkbox" name="tags" value="t001" checked> or t001"#));
    let past = console.get("/console/tags?page=9").await;
    assert!(
        past.body.contains(r#"id="no-tags""#),
        "past the end: {}",
        past.body
    );
    for bad in ["0", "-1", "x", "99999999999999999999999"] {
        let page = console.get(&format!("/console/tags?page={bad}")).await;
        assert_eq!(page.status, 400, "page={bad}");
    }
}
