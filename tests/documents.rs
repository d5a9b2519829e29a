//! Contract §4 through the real server: uploads through signed URLs,
//! processing, listing, tagging, sharing, deleting and downloading.

mod common;

use common::{
    assert_error, assert_invalid_request, connector_id, document_path, result_ids, tag_names,
    TestServer, DOCUMENTS, TAGS,
};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A server whose jobs run only when the test says so.
async fn server() -> TestServer {
    TestServer::builder().manual_jobs().start().await
}

fn pdf(body: &str) -> Vec<u8> {
    format!("%PDF-1.7\n{body}\n%%EOF\n").into_bytes()
}

#[tokio::test]
async fn upload_process_and_download_a_document() {
    let s = server().await;
    let key = &s.admin_key;
    let (id, url) = s
        .new_upload(
            key,
            &json!({"file_name": "Q3 Outlook – ACME.pdf", "tags": ["q3", "acme", "q3"],
                                 "published_ts": "2026-02-11T09:00:00Z"}),
        )
        .await;
    assert_eq!(id.len(), 32);
    assert!(id
        .chars()
        .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)));
    assert!(
        url.starts_with(&s.base) && url.contains(&format!("/uploads/{id}?")),
        "{url}"
    );

    let pending = s.get_document(key, &id).await;
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["request_origin"], "file_upload");
    assert!(pending["connector_id"].is_null() && pending["rp_collection_id"].is_null());
    assert_eq!(pending["shared_with_orgs"], json!([]));
    assert_eq!(pending["published_at"], "2026-02-11T09:00:00.000000Z");
    assert_eq!(tag_names(&pending), vec!["acme", "q3"]);
    assert_error(
        s.get(&format!("{}/original", document_path(&id)), key)
            .await,
        404,
        "PRIVATE_CONTENT_NOT_FOUND",
    )
    .await;

    let bytes = pdf(&"research ".repeat(1000));
    let resp = s
        .http
        .put(&url)
        .header("x-anything", "tolerated")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-request-id"));
    assert_eq!(resp.json::<Value>().await.unwrap()["status"], "processing");
    let processing = s.get_document(key, &id).await;
    assert_eq!(processing["status"], "processing");

    assert_eq!(s.run_jobs(), 1);
    assert_eq!(s.run_jobs(), 0, "nothing left");
    let done = s.get_document(key, &id).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["raw_size"], bytes.len());
    assert_eq!(done["content_type"], "application/pdf");
    assert_eq!(done["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert!(done["error_code"].is_null());
    assert!(done["updated_at"].as_str() > pending["updated_at"].as_str());

    let download = s.original_url(key, &id).await;
    for _ in 0..2 {
        let resp = s.http.get(&download).send().await.unwrap();
        assert_eq!(
            resp.status(),
            200,
            "download URLs work for their whole validity"
        );
        assert_eq!(resp.headers()["content-type"], "application/pdf");
        let disposition = resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            disposition.starts_with("attachment;")
                && disposition.contains("filename*=UTF-8''Q3%20Outlook%20%E2%80%93%20ACME.pdf"),
            "{disposition}"
        );
        assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }
}

#[tokio::test]
async fn upload_urls_are_single_use_and_tamper_proof() {
    let s = server().await;
    let (id, url) = s
        .new_upload(&s.admin_key, &json!({"file_name": "a.txt"}))
        .await;
    let (other_id, _) = s
        .new_upload(&s.admin_key, &json!({"file_name": "b.txt"}))
        .await;
    let put = |u: String| s.put_upload(&u, "hello");

    let flipped = {
        let last = url.chars().last().unwrap();
        format!(
            "{}{}",
            &url[..url.len() - 1],
            if last == '0' { '1' } else { '0' }
        )
    };
    let (path, query) = url.split_once('?').unwrap();
    let expires: i64 = query
        .split('&')
        .find_map(|p| p.strip_prefix("expires="))
        .unwrap()
        .parse()
        .unwrap();
    let signature = query
        .split('&')
        .find_map(|p| p.strip_prefix("signature="))
        .unwrap();
    for bad in [
        flipped,
        format!("{path}?expires={}&signature={signature}", expires + 3600),
        url.replace(&id, &other_id),
        path.to_string(),
        format!("{path}?expires={expires}"),
        format!("{path}?expires=soon&signature={signature}"),
        format!("{url}&extra=1"),
    ] {
        assert_error(put(bad).await, 403, "INVALID_SIGNATURE").await;
    }
    // A correctly signed URL whose time is up.
    let past = chrono::Utc::now().timestamp() - 60;
    let key_hex = std::fs::read_to_string(s.data_dir().join("secret.key")).unwrap();
    let expired = format!(
        "{path}?expires={past}&signature={}",
        sign(&key_hex, "PUT", &id, past)
    );
    let body = assert_error(put(expired).await, 403, "INVALID_SIGNATURE").await;
    assert!(
        body["message"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    let doc = s.get_document(&s.admin_key, &id).await;
    assert_eq!(doc["status"], "pending", "rejected uploads store nothing");

    assert_eq!(put(url.clone()).await.status(), 200);
    let body = assert_error(put(url.clone()).await, 403, "INVALID_SIGNATURE").await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("already been used"),
        "{body}"
    );
    // An upload signature does not open the download route.
    let download = url.replace("/uploads/", "/downloads/");
    assert_error(
        s.http.get(download).send().await.unwrap(),
        403,
        "INVALID_SIGNATURE",
    )
    .await;
    assert_eq!(
        s.blob_files().len(),
        1,
        "one blob, from the one accepted upload"
    );
}

/// The signed-URL format: HMAC-SHA256 under a key derived from the server key.
fn sign(key_hex: &str, method: &str, id: &str, expires: i64) -> String {
    use hmac::{Hmac, Mac};
    let key = hex::decode(key_hex.trim()).unwrap();
    let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    derive.update(b"inlet signed urls v1");
    let sub = derive.finalize().into_bytes();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&sub).unwrap();
    mac.update(format!("{method}\n{id}\n{expires}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn uploads_over_the_limit_are_413_and_leave_the_url_usable() {
    let s = TestServer::builder()
        .manual_jobs()
        .config("[documents]\nmax_upload_bytes = 1000")
        .start()
        .await;
    let (id, url) = s
        .new_upload(&s.admin_key, &json!({"file_name": "big.bin"}))
        .await;
    let resp = s.put_upload(&url, vec![b'x'; 2000]).await;
    assert_error(resp, 413, "PAYLOAD_TOO_LARGE").await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..4).map(|_| Ok(vec![b'y'; 400])).collect();
    let resp = s
        .put_upload(
            &url,
            reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)),
        )
        .await;
    assert_error(resp, 413, "PAYLOAD_TOO_LARGE").await;
    assert!(
        s.blob_files().is_empty(),
        "nothing of a rejected upload is kept"
    );
    assert_eq!(s.put_upload(&url, vec![b'z'; 1000]).await.status(), 200);
    s.run_jobs();
    let doc = s.get_document(&s.admin_key, &id).await;
    assert_eq!(
        (doc["status"].as_str(), doc["raw_size"].as_i64()),
        (Some("completed"), Some(1000))
    );
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The largest upload the default configuration takes
/// (`documents.max_upload_bytes`). It and its download may raise the
/// server's peak memory by at most half its size, where holding it whole
/// would take all of it. The rest is headroom: S3 keeps up to four 5 MiB
/// parts in memory, and the allocator keeps freed buffers
/// (`keep_freed_memory`). Seen: 14 MiB on local blobs, 22–28 on S3.
const BIG_UPLOAD_MIB: u64 = 100;

#[tokio::test]
async fn a_big_upload_streams_with_bounded_memory() {
    let s = server().await;
    let (id, url) = s
        .new_upload(&s.admin_key, &json!({"file_name": "big.bin"}))
        .await;
    let before = peak_rss_kib(s.pid());
    // Chunks made as they are sent: the test holds one at a time.
    let chunk = |i: u64| vec![i as u8; 1024 * 1024];
    let mut hasher = Sha256::new();
    (0..BIG_UPLOAD_MIB).for_each(|i| hasher.update(chunk(i)));
    let digest = hex::encode(hasher.finalize());
    let chunks = futures_util::stream::iter(
        (0..BIG_UPLOAD_MIB).map(move |i| Ok::<_, std::io::Error>(chunk(i))),
    );
    let resp = s.put_upload(&url, reqwest::Body::wrap_stream(chunks)).await;
    assert_eq!(resp.status(), 200);
    s.run_jobs();
    let doc = s.get_document(&s.admin_key, &id).await;
    assert_eq!(doc["raw_size"], BIG_UPLOAD_MIB * 1024 * 1024);
    assert_eq!(doc["sha256"], digest);
    let url = s.original_url(&s.admin_key, &id).await;
    let mut download = s.http.get(url).send().await.unwrap();
    let mut check = Sha256::new();
    while let Some(chunk) = download.chunk().await.unwrap() {
        check.update(&chunk);
    }
    assert_eq!(hex::encode(check.finalize()), digest);
    let grown_mib = (peak_rss_kib(s.pid()) - before) / 1024;
    let report = format!(
        "peak memory grew by {grown_mib} MiB for a {BIG_UPLOAD_MIB} MiB upload and download"
    );
    eprintln!("{report}");
    assert!(grown_mib < BIG_UPLOAD_MIB / 2, "{report}");
}

#[tokio::test]
async fn empty_uploads_fail_with_an_error_code() {
    let s = server().await;
    let doc = s.upload(&s.admin_key, "empty.txt", b"", json!({})).await;
    assert_eq!(doc["status"], "failed");
    assert_eq!(doc["error_code"], "EMPTY_FILE");
    assert_error(
        s.get(
            &format!("{}/original", document_path(doc["id"].as_str().unwrap())),
            &s.admin_key,
        )
        .await,
        404,
        "PRIVATE_CONTENT_NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn create_validates_its_body() {
    let s = server().await;
    for (body, field) in [
        (json!({}), "file_name"),
        (json!({"file_name": "  "}), "file_name"),
        (json!({"file_name": "a\u{0}b"}), "file_name"),
        (json!({"file_name": "x".repeat(1025)}), "file_name"),
        (
            json!({"file_name": "a", "published_ts": "yesterday"}),
            "published_ts",
        ),
        (json!({"file_name": "a", "tags": ["ok", ""]}), "tags[1]"),
        (json!({"file_name": "a", "tags": "q3"}), "tags"),
        (
            json!({"file_name": "a", "share_with_org": 1}),
            "share_with_org",
        ),
        (json!({"file_name": "a", "colour": "red"}), "colour"),
    ] {
        assert_invalid_request(
            s.post_json(DOCUMENTS, &s.admin_key, &body).await,
            field,
            &body.to_string(),
        )
        .await;
    }
    let list = s.get_json(DOCUMENTS, &s.admin_key).await;
    assert_eq!(list["results"], json!([]));
}

#[tokio::test]
async fn list_filters_sorts_and_pages() {
    let s = server().await;
    let key = &s.admin_key;
    let member = s.create_key("default", "bob");
    let a = s
        .upload(
            key,
            "Alpha Report.pdf",
            &pdf("a"),
            json!({"tags": ["macro"]}),
        )
        .await;
    let b = s
        .upload(
            key,
            "beta notes.txt",
            b"plain text, longer than the others",
            json!({"tags": ["rates", "macro"], "share_with_org": true}),
        )
        .await;
    let c = s
        .upload(key, "Gamma.txt", b"g", json!({"tags": ["fx"]}))
        .await;
    let bobs = s
        .upload(
            &member,
            "bob alpha.txt",
            b"bob",
            json!({"share_with_org": true}),
        )
        .await;
    let ids = |v: &Value| result_ids(v, "id");
    let id = |d: &Value| d["id"].as_str().unwrap().to_string();
    let list = |q: &str| s.get(&format!("{DOCUMENTS}?{q}"), key);
    let server = &s;
    let listed = |q: &str| {
        let path = format!("{DOCUMENTS}?{q}");
        async move { server.get_json(&path, key).await }
    };

    let all = listed("").await;
    assert_eq!(
        ids(&all),
        vec![id(&bobs), id(&c), id(&b), id(&a)],
        "newest first"
    );
    assert_eq!(
        (
            all["page"].as_u64(),
            all["page_size"].as_u64(),
            all["has_more"].as_bool()
        ),
        (Some(1), Some(50), Some(false))
    );

    assert_eq!(
        ids(&listed("file_name=ALPHA").await),
        vec![id(&bobs), id(&a)]
    );
    assert_eq!(
        ids(&listed("file_name=%25").await),
        Vec::<String>::new(),
        "% is literal"
    );
    assert_eq!(
        ids(&listed("tags=rates&tags=fx").await),
        vec![id(&c), id(&b)]
    );
    let macro_id = a["tags"][0]["id"].as_str().unwrap();
    assert_eq!(
        ids(&listed(&format!("tags={macro_id}")).await),
        vec![id(&b), id(&a)],
        "tags by id too"
    );
    assert_eq!(
        ids(&listed("ownership=owned").await),
        vec![id(&c), id(&b), id(&a)]
    );
    assert_eq!(ids(&listed("ownership=shared").await), vec![id(&bobs)]);
    assert_eq!(ids(&listed("owner=bob").await), vec![id(&bobs)]);
    assert_eq!(
        ids(&listed("origin=file_upload&page_size=1").await),
        vec![id(&bobs)]
    );
    assert_eq!(ids(&listed("origin=email").await), Vec::<String>::new());
    assert_eq!(
        ids(&listed("from_date=2999-01-01").await),
        Vec::<String>::new()
    );
    assert_eq!(ids(&listed("from_date=2000-01-01").await).len(), 4);
    assert_eq!(
        ids(&listed("sort_by=file_name&sort_order=asc").await),
        vec![id(&a), id(&b), id(&bobs), id(&c)]
    );
    assert_eq!(
        ids(&listed("sort_by=raw_size&sort_order=desc&ownership=owned").await),
        vec![id(&b), id(&a), id(&c)]
    );
    for q in [
        "sort_by=updated_at",
        "sort_by=content_type",
        "sort_by=status",
    ] {
        assert_eq!(ids(&listed(q).await).len(), 4, "{q}");
    }

    let p1: Value = listed("page_size=3").await;
    let p2: Value = listed("page_size=3&page=2").await;
    assert_eq!(
        (p1["has_more"].as_bool(), p2["has_more"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!([ids(&p1), ids(&p2)].concat(), ids(&all));
    assert_eq!(
        ids(&listed("page=3&page_size=3").await),
        Vec::<String>::new()
    );

    // A connector the caller cannot see filters to nothing, exactly like one without documents.
    let hidden = s
        .create_email_connector(&s.create_key("globex", "carol"), "hidden", false)
        .await;
    for q in [
        format!("connector_id={}", connector_id(&hidden)),
        format!("connector={}", uuid::Uuid::now_v7()),
    ] {
        let r = listed(&q).await;
        assert_eq!(r["results"], json!([]));
    }
    for (q, name) in [
        ("page=0", "page"),
        ("page_size=101", "page_size"),
        ("sort_by=size", "sort_by"),
        ("sort_order=up", "sort_order"),
        ("origin=fax", "origin"),
        ("from_date=soon", "from_date"),
        ("connector_id=nope", "connector_id"),
        ("ownership=mine", "ownership"),
        ("limit=5", "limit"),
    ] {
        assert_invalid_request(list(q).await, name, q).await;
    }
}

#[tokio::test]
async fn tenancy_over_every_document_endpoint() {
    let s = server().await;
    let owner = s.create_key("acme", "alice");
    let member = s.create_key("acme", "bob");
    let outsider = s.create_key("globex", "carol");
    let shared = s
        .upload(
            &owner,
            "shared.txt",
            b"shared",
            json!({"share_with_org": true}),
        )
        .await;
    let private = s.upload(&owner, "private.txt", b"private", json!({})).await;
    assert_eq!(shared["shared_with_orgs"], json!(["acme"]));
    let p = |d: &Value| document_path(d["id"].as_str().unwrap());

    for d in [&shared, &private] {
        assert_eq!(s.get(&p(d), &owner).await.status(), 200);
        assert_error(s.get_without_key(&p(d)).await, 401, "UNAUTHORIZED").await;
        for call in [Method::GET, Method::PATCH, Method::DELETE] {
            let resp = s
                .request(call.clone(), &p(d), Some(&outsider))
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_error(resp, 404, "PRIVATE_CONTENT_NOT_FOUND").await;
        }
        assert_error(
            s.get(&format!("{}/original", p(d)), &outsider).await,
            404,
            "PRIVATE_CONTENT_NOT_FOUND",
        )
        .await;
    }
    // The org member sees the shared document, may download it, but not change it.
    let seen = s.get_json(&p(&shared), &member).await;
    assert_eq!(seen["id"], shared["id"]);
    assert_eq!(
        s.get(&format!("{}/original", p(&shared)), &member)
            .await
            .status(),
        200
    );
    assert_error(
        s.patch_json(&p(&shared), &member, &json!({"share_with_org": false}))
            .await,
        403,
        "FORBIDDEN",
    )
    .await;
    assert_error(s.delete(&p(&shared), &member).await, 403, "FORBIDDEN").await;
    assert_error(
        s.get(&p(&private), &member).await,
        404,
        "PRIVATE_CONTENT_NOT_FOUND",
    )
    .await;
    assert_error(
        s.delete(&p(&private), &member).await,
        404,
        "PRIVATE_CONTENT_NOT_FOUND",
    )
    .await;

    let member_list = s.get_json(DOCUMENTS, &member).await;
    assert_eq!(member_list["results"].as_array().unwrap().len(), 1);
    let outsider_list = s.get_json(DOCUMENTS, &outsider).await;
    assert_eq!(outsider_list["results"], json!([]));
    for id in [
        "abc",
        "019a9612bfad758c884e37dd8c6ad2cb",
        "019A9612BFAD758C884E37DD8C6AD2CG",
    ] {
        assert_error(
            s.get(&document_path(id), &owner).await,
            400,
            "INVALID_DOCUMENT_ID",
        )
        .await;
        assert_error(
            s.get_without_key(&document_path(id)).await,
            401,
            "UNAUTHORIZED",
        )
        .await;
    }
}

#[tokio::test]
async fn patch_replaces_tags_and_sharing() {
    let s = server().await;
    let key = &s.admin_key;
    let doc = s.upload(key, "r.txt", b"r", json!({"tags": ["old"]})).await;
    let p = document_path(doc["id"].as_str().unwrap());
    let t1 = create_tag(&s, key, "one").await;
    let t2 = create_tag(&s, key, "two").await;
    let patch = |body: Value| s.patch_json(&p, key, &body);

    let updated: Value = patch(json!({"tags": [t2["id"], t1["id"]], "share_with_org": true}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tag_names(&updated), vec!["one", "two"]);
    assert_eq!(updated["shared_with_orgs"], json!(["default"]));
    let only_sharing: Value = patch(json!({"share_with_org": false}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        only_sharing["tags"], updated["tags"],
        "omitted tags are unchanged"
    );
    assert_eq!(only_sharing["shared_with_orgs"], json!([]));
    let cleared: Value = patch(json!({"tags": []})).await.json().await.unwrap();
    assert_eq!(cleared["tags"], json!([]));

    let foreign = create_tag(&s, &s.create_key("default", "bob"), "bobs").await;
    for tags in [
        json!(["not-a-uuid"]),
        json!([uuid::Uuid::now_v7().to_string()]),
        json!([foreign["id"]]),
        json!([t1["id"], "x"]),
    ] {
        assert_error(
            patch(json!({"tags": tags})).await,
            400,
            "INVALID_TAGS_ERROR",
        )
        .await;
    }
    assert_error(patch(json!({"tags": "one"})).await, 400, "INVALID_REQUEST").await;
    assert_error(patch(json!({"label": "x"})).await, 400, "INVALID_REQUEST").await;
    let after = s.get_json(&p, key).await;
    assert_eq!(after["tags"], json!([]), "rejected patches change nothing");
}

#[tokio::test]
async fn delete_removes_blob_and_row() {
    let s = server().await;
    let key = &s.admin_key;
    let doc = s
        .upload(key, "gone.txt", b"soon gone", json!({"tags": ["tmp"]}))
        .await;
    let keep = s
        .upload(key, "kept.txt", b"kept", json!({"tags": ["tmp"]}))
        .await;
    let p = document_path(doc["id"].as_str().unwrap());
    let original_url = s.original_url(key, doc["id"].as_str().unwrap()).await;
    assert_eq!(s.blob_files().len(), 2);

    let resp = s.delete(&p, key).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["id"], doc["id"]);
    assert_eq!(s.blob_files().len(), 1, "the blob is gone");
    assert_error(s.get(&p, key).await, 404, "PRIVATE_CONTENT_NOT_FOUND").await;
    assert_error(s.delete(&p, key).await, 404, "PRIVATE_CONTENT_NOT_FOUND").await;
    assert_error(
        s.http.get(&original_url).send().await.unwrap(),
        404,
        "PRIVATE_CONTENT_NOT_FOUND",
    )
    .await;
    let tags = s.get_json(&format!("{TAGS}?prefix=tmp"), key).await;
    assert_eq!(tags["results"][0]["file_count"], 1);
    assert_eq!(
        s.get(&document_path(keep["id"].as_str().unwrap()), key)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn tags_are_per_user_idempotent_and_counted() {
    let s = server().await;
    let key = &s.admin_key;
    let first = create_tag(&s, key, " broker:acme ").await;
    let again = create_tag(&s, key, "broker:acme").await;
    assert_eq!(first["id"], again["id"]);
    assert_eq!(first["name"], "broker:acme");
    assert_eq!(first["file_count"], 0);
    uuid::Uuid::parse_str(first["id"].as_str().unwrap()).unwrap();
    s.upload(
        key,
        "x.txt",
        b"x",
        json!({"tags": ["broker:acme", "macro"]}),
    )
    .await;

    let all = s.get_json(TAGS, key).await;
    let listed: Vec<(&str, i64)> = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap(),
                t["file_count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, vec![("broker:acme", 1), ("macro", 1)]);
    let prefixed = s.get_json(&format!("{TAGS}?prefix=broker%3A"), key).await;
    assert_eq!(prefixed["results"].as_array().unwrap().len(), 1);
    let other = s.get_json(TAGS, &s.create_key("default", "bob")).await;
    assert_eq!(other["results"], json!([]), "tags belong to their user");

    for body in [
        json!({}),
        json!({"tag_name": ""}),
        json!({"tag_name": 5}),
        json!({"tag_name": "x", "extra": 1}),
    ] {
        assert_error(s.post_json(TAGS, key, &body).await, 400, "INVALID_REQUEST").await;
    }
    assert_error(
        s.get(&format!("{TAGS}?starts=x"), key).await,
        400,
        "INVALID_REQUEST",
    )
    .await;
    assert_error(s.get_without_key(TAGS).await, 401, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn the_servers_own_workers_process_uploads() {
    let s = TestServer::start().await;
    let (id, url) = s
        .new_upload(&s.admin_key, &json!({"file_name": "auto.txt"}))
        .await;
    assert_eq!(s.put_upload(&url, "hello").await.status(), 200);
    let doc = s.wait_until_completed(&s.admin_key, &id).await;
    assert_eq!(doc["content_type"], "text/plain");
}

#[tokio::test]
async fn the_sweep_removes_old_orphan_blobs_only() {
    // Files a crash left in the local directory (on S3: tests/s3.rs).
    let s = TestServer::builder()
        .manual_jobs()
        .local_blobs()
        .start()
        .await;
    let doc = s
        .upload(&s.admin_key, "kept.txt", b"referenced", json!({}))
        .await;
    let blobs = s.data_dir().join("blobs/documents/ZZ/ORPHANS");
    std::fs::create_dir_all(&blobs).unwrap();
    let old = blobs.join("crashed-before-commit");
    let young = blobs.join("upload-in-flight");
    std::fs::write(&old, b"left by a crash").unwrap();
    std::fs::write(&young, b"still being committed").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    for f in std::iter::once(old.clone()).chain(
        s.blob_files()
            .into_iter()
            .filter(|p| !p.starts_with(&blobs)),
    ) {
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
    }

    // A staged upload a crash left behind (listings do not show it).
    let staged = blobs.join("interrupted-upload#1");
    std::fs::write(&staged, b"half an upload").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&staged)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let out = s.cli(&["admin", "sweep-blobs"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "2");
    assert!(!old.exists(), "an old unreferenced blob is removed");
    assert!(!staged.exists(), "so is an old staged upload");
    assert!(young.exists(), "a young one is within the grace period");
    assert_eq!(
        s.download(&s.admin_key, doc["id"].as_str().unwrap()).await,
        b"referenced",
        "referenced blobs stay, however old"
    );
}

#[tokio::test]
async fn filtering_by_a_hidden_connector_finds_nothing_even_for_shared_documents() {
    let s = server().await;
    let owner = s.create_key("acme", "alice");
    let member = s.create_key("acme", "bob");
    let private = s.create_email_connector(&owner, "private", false).await;
    let ids = s.seed_connector_documents(&private, 1, &[]).await;
    let resp = s
        .patch_json(
            &document_path(&ids[0]),
            &owner,
            &json!({"share_with_org": true}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let all = s.get_json(DOCUMENTS, &member).await;
    assert_eq!(
        all["results"].as_array().unwrap().len(),
        1,
        "the document itself is shared"
    );
    let filtered = s
        .get_json(
            &format!("{DOCUMENTS}?connector_id={}", connector_id(&private)),
            &member,
        )
        .await;
    assert_eq!(
        filtered["results"],
        json!([]),
        "but the connector is not visible"
    );
}

async fn create_tag(s: &TestServer, key: &str, name: &str) -> Value {
    s.post_json(TAGS, key, &json!({"tag_name": name}))
        .await
        .json()
        .await
        .unwrap()
}

/// A tag filter walks the tags' own links (their owners' documents,
/// newest first): what it lists is what a check of every visible document
/// would list, in either order and across pages, whoever made the tag.
#[tokio::test]
async fn a_tag_filter_lists_own_and_shared_documents_in_order_across_pages() {
    let s = server().await;
    let key = &s.admin_key;
    let bob = s.create_key("default", "bob");
    let outsider = s.create_key("globex", "carol");
    // (id, whether bob's shared document), oldest first.
    let mut tagged: Vec<(String, bool)> = vec![];
    for n in 0..7 {
        // One carries "rates" too, so two walks meet on it.
        let tags = if n == 3 {
            json!(["macro", "rates"])
        } else {
            json!(["macro"])
        };
        let bobs = n % 2 == 1;
        let doc = s
            .upload(
                if bobs { &bob } else { key },
                &format!("note {n}.txt"),
                b"n",
                json!({"tags": tags, "share_with_org": bobs}),
            )
            .await;
        tagged.push((doc["id"].as_str().unwrap().to_string(), bobs));
    }
    // Not to be listed: bob's unshared "macro", another org's shared one.
    s.upload(&bob, "private.txt", b"p", json!({"tags": ["macro"]}))
        .await;
    s.upload(
        &outsider,
        "other org.txt",
        b"o",
        json!({"tags": ["macro"], "share_with_org": true}),
    )
    .await;
    // Tagged by PATCH after upload: that link is walked in its place too.
    let retagged = s.upload(key, "retagged.txt", b"r", json!({})).await;
    let macro_tag = create_tag(&s, key, "macro").await;
    let retagged_id = retagged["id"].as_str().unwrap().to_string();
    let patched = s
        .patch_json(
            &document_path(&retagged_id),
            key,
            &json!({"tags": [macro_tag["id"]]}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    tagged.push((retagged_id, false));
    tagged.reverse();
    let ids = |keep: &dyn Fn(bool) -> bool| -> Vec<String> {
        tagged
            .iter()
            .filter(|(_, bobs)| keep(*bobs))
            .map(|(id, _)| id.clone())
            .collect()
    };
    let (all, own, shared) = (ids(&|_| true), ids(&|b| !b), ids(&|b| b));

    let listed = |q: String| {
        let s = &s;
        async move { result_ids(&s.get_json(&format!("{DOCUMENTS}?{q}"), key).await, "id") }
    };
    assert_eq!(listed("tags=macro".into()).await, all, "newest first");
    assert_eq!(
        listed("tags=macro&tags=rates".into()).await,
        all,
        "a document with both tags comes once"
    );
    let oldest_first: Vec<String> = all.iter().rev().cloned().collect();
    assert_eq!(
        listed("tags=macro&sort_order=asc".into()).await,
        oldest_first
    );
    let mut paged = vec![];
    for page in 1..=4 {
        paged.extend(listed(format!("tags=macro&page_size=3&page={page}")).await);
    }
    assert_eq!(paged, all, "pages neither skip nor repeat");
    assert_eq!(listed("tags=macro&ownership=shared".into()).await, shared);
    assert_eq!(listed("tags=macro&ownership=owned".into()).await, own);
    assert_eq!(
        listed(format!("tags={}", macro_tag["id"].as_str().unwrap())).await,
        own,
        "by id: the caller's own tag"
    );
    assert_eq!(
        listed("tags=macro&file_name=note%203".into()).await,
        listed("file_name=note%203".into()).await,
        "other filters apply along the walk"
    );
    assert_eq!(
        listed("tags=nothing-has-it".into()).await,
        Vec::<String>::new()
    );
}

/// A client walking `page=1, 2, …` while documents arrive and go: each page
/// starts after the last row of the page before it, so a document added
/// in front does not push a row seen already onto the next page, and one
/// deleted from a page seen already does not pull an unseen row back past
/// the boundary.
#[tokio::test]
async fn keyset_pages_neither_skip_nor_repeat_while_documents_are_added() {
    let s = server().await;
    let key = &s.admin_key;
    let mut originals = vec![];
    for n in 0..10 {
        let body = json!({"file_name": format!("note {n:02}.txt"), "tags": ["walked"]});
        originals.push(s.new_upload(key, &body).await.0);
    }
    let newest_first: Vec<String> = originals.iter().rev().cloned().collect();
    // (query, the originals in its order)
    let orders = [
        ("page_size=3", &newest_first),
        ("sort_order=asc&page_size=3", &originals),
        ("sort_by=file_name&page_size=3", &newest_first),
        ("sort_by=updated_at&page_size=3", &newest_first),
        ("tags=walked&page_size=3", &newest_first),
        (
            "ownership=owned&origin=file_upload&page_size=3",
            &newest_first,
        ),
    ];
    let mut added = 0;
    for (query, expected) in orders {
        let mut seen: Vec<String> = vec![];
        for page in 1.. {
            let list = s
                .get_json(&format!("{DOCUMENTS}?{query}&page={page}"), key)
                .await;
            let ids = result_ids(&list, "id");
            assert!(ids.len() <= 3, "{query}: page {page}");
            seen.extend(ids);
            if list["has_more"] != json!(true) {
                break;
            }
            // In front of every order above but the oldest first.
            added += 1;
            let body = json!({"file_name": format!("zz added {added:02}.txt"), "tags": ["walked"]});
            s.new_upload(key, &body).await;
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            seen.len(),
            "{query}: a row repeated: {seen:?}"
        );
        let listed: Vec<&String> = seen.iter().filter(|id| originals.contains(id)).collect();
        assert_eq!(
            listed,
            expected.iter().collect::<Vec<_>>(),
            "{query}: every original once, in order"
        );
    }

    // A document seen on page 1 deleted before page 2: nothing is skipped.
    let page1 = result_ids(
        &s.get_json(&format!("{DOCUMENTS}?page_size=3&page=1"), key)
            .await,
        "id",
    );
    let everything = result_ids(
        &s.get_json(&format!("{DOCUMENTS}?page_size=100"), key).await,
        "id",
    );
    assert_eq!(page1, everything[..3]);
    let gone = s.delete(&document_path(&page1[0]), key).await;
    assert_eq!(gone.status(), 200);
    let page2 = result_ids(
        &s.get_json(&format!("{DOCUMENTS}?page_size=3&page=2"), key)
            .await,
        "id",
    );
    assert_eq!(
        page2,
        everything[3..6],
        "page 2 starts after page 1's last row"
    );
    // Page 1 read again is the list as it is now, and page 2 follows it.
    let page1 = result_ids(
        &s.get_json(&format!("{DOCUMENTS}?page_size=3&page=1"), key)
            .await,
        "id",
    );
    assert_eq!(page1, everything[1..4]);
    let page2 = result_ids(
        &s.get_json(&format!("{DOCUMENTS}?page_size=3&page=2"), key)
            .await,
        "id",
    );
    assert_eq!(page2, everything[4..7]);
    // A page jumped to lies by offset from the nearest page seen.
    let page5 = result_ids(
        &s.get_json(&format!("{DOCUMENTS}?page_size=3&page=5"), key)
            .await,
        "id",
    );
    assert_eq!(page5, everything[13..16]);
}
