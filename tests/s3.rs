//! Blobs on S3 (contract §9) against `s3s-fs`, a server that checks SigV4
//! signatures: the configuration rules, multipart uploads and downloads,
//! the store going down and coming back, presigned direct downloads,
//! purge and sweep with batched deletes, and `inlet admin migrate-blobs`.

mod common;

use common::s3::{S3Kind, S3Server, SECRET_KEY, SIGNED_PAYLOADS, UNSIGNED_PAYLOADS};
use common::{assert_error, connector_path, document_path, inbox_address, TestServer, DESK};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// A SigV4-checking S3 server of this test's own; `None` (and a note)
/// when it is not installed outside CI.
fn sigv4_server() -> Option<S3Server> {
    S3Kind::S3sFs
        .available()
        .then(|| S3Server::start(S3Kind::S3sFs))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Bytes that do not repeat within a part (a bug that reorders or drops
/// parts changes the digest).
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn bad_s3_configuration_stops_start_up_naming_the_key_and_no_secret() {
    let secret = "do-not-print-this-secret";
    for (blobs, key) in [
        ("backend = \"s3\"\n", "blobs.bucket"),
        ("backend = \"s3\"\nbucket = \"No_Such\"\n", "blobs.bucket"),
        (
            "backend = \"s3\"\nbucket = \"b-1\"\nendpoint = \"ftp://x\"\n",
            "blobs.endpoint",
        ),
        (
            "backend = \"s3\"\nbucket = \"b-1\"\nendpoint = \"http://127.0.0.1:9\"\n",
            "blobs.allow_http",
        ),
        (
            "backend = \"s3\"\nbucket = \"b-1\"\nregion = \"\"\n",
            "blobs.region",
        ),
        (
            "backend = \"s3\"\nbucket = \"b-1\"\nprefix = \"/abs/\"\n",
            "blobs.prefix",
        ),
        ("backend = \"s4\"\n", "backend"),
        ("bucket = \"b-1\"\n", "blobs.bucket"),
        (
            "backend = \"s3\"\nbucket = \"b-1\"\nbukcet = \"x\"\n",
            "bukcet",
        ),
    ] {
        let out = TestServer::builder()
            .minimal()
            .config(&format!(
                "[blobs]\n{blobs}secret_access_key = \"{secret}\"\naccess_key_id = \"AKID\"\n"
            ))
            .start_and_exit();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{blobs}: {stderr}");
        assert!(stderr.contains(key), "{blobs}: should name {key}: {stderr}");
        assert!(
            !stderr.contains(secret),
            "{blobs}: printed the secret: {stderr}"
        );
    }
    // Half the credentials: named, and the half given is not printed.
    let out = TestServer::builder()
        .minimal()
        .config(&format!(
            "[blobs]\nbackend = \"s3\"\nbucket = \"b-1\"\nsecret_access_key = \"{secret}\"\n"
        ))
        .env("AWS_ACCESS_KEY_ID", "")
        .start_and_exit();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("blobs.access_key_id"), "{stderr}");
    assert!(!stderr.contains(secret), "{stderr}");
}

#[tokio::test]
async fn uploads_stream_in_parts_and_download_from_a_sigv4_checking_store() {
    let Some(s3) = sigv4_server() else { return };
    // Signed payloads (the default over http://) and `UNSIGNED-PAYLOAD`
    // (the default over https://, where uploads of a known length stream
    // in one PUT) must both pass the server's signature check.
    for signing in [SIGNED_PAYLOADS, UNSIGNED_PAYLOADS] {
        let keys = s3
            .blobs_keys(&s3.bucket())
            .replace(UNSIGNED_PAYLOADS, signing);
        let s = TestServer::builder()
            .manual_jobs()
            .blobs_keys(&keys)
            .start()
            .await;
        uploads_stream_in_parts_and_download(&s3, &s).await;
    }
}

async fn uploads_stream_in_parts_and_download(s3: &S3Server, s: &TestServer) {
    let bucket = bucket_of(s);
    // 12 MiB sent chunked (no length declared): three parts of a multipart
    // upload.
    let big = pseudo_random(12 * 1024 * 1024 + 17);
    let (id, url) = s
        .new_upload(&s.admin_key, &json!({"file_name": "big.bin"}))
        .await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(1 << 20).map(|c| Ok(c.to_vec())).collect();
    let chunked = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let resp = s.http.put(&url).body(chunked).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    s.run_jobs();
    let doc = s.get_document(&s.admin_key, &id).await;
    assert_eq!(doc["status"], "completed", "{doc}");
    assert_eq!(doc["sha256"], sha256_hex(&big));
    assert_eq!(doc["raw_size"], big.len());
    let id = id.as_str();
    assert_eq!(s.download(&s.admin_key, id).await, big);
    // The same size with its length declared: one streamed PUT.
    let sized = pseudo_random(12 * 1024 * 1024 + 18);
    let doc = s.upload(&s.admin_key, "sized.bin", &sized, json!({})).await;
    assert_eq!(doc["sha256"], sha256_hex(&sized), "{doc}");
    let sized_id = doc["id"].as_str().unwrap();
    assert_eq!(s.download(&s.admin_key, sized_id).await, sized);
    // The object is in the bucket, not in the data dir.
    let objects = s3.object_files(&bucket);
    assert!(
        objects.iter().any(|p| p.to_string_lossy().contains(id)),
        "{objects:?}"
    );
    assert!(!s.data_dir().join("blobs").exists(), "no local blob dir");
    // A small one: a single PUT.
    let small = s
        .upload(&s.admin_key, "note.txt", b"hello s3", json!({}))
        .await;
    let small_id = small["id"].as_str().unwrap();
    assert_eq!(s.download(&s.admin_key, small_id).await, b"hello s3");
    // Delete: object and row gone.
    assert_eq!(
        s.delete(&document_path(id), &s.admin_key).await.status(),
        200
    );
    let objects = s3.object_files(&bucket);
    assert!(
        !objects.iter().any(|p| p.to_string_lossy().contains(id)),
        "{objects:?}"
    );
    assert_eq!(s.get(&document_path(id), &s.admin_key).await.status(), 404);
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_store_and_nothing_is_acknowledged() {
    let Some(s3) = sigv4_server() else { return };
    let bucket = s3.bucket();
    let keys = s3
        .blobs_keys(&bucket)
        .replace(SECRET_KEY, "not-the-secret-at-all");
    let s = TestServer::builder()
        .manual_jobs()
        .blobs_keys(&keys)
        .start()
        .await;
    let body = assert_error(
        s.get_without_key("/readyz").await,
        503,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("blob store"),
        "{body}"
    );
    let (_, url) = s
        .new_upload(&s.admin_key, &json!({"file_name": "x.txt"}))
        .await;
    let resp = s.put_upload(&url, "refused").await;
    assert!(resp.headers().contains_key("retry-after"));
    assert_error(resp, 503, "STORAGE_UNAVAILABLE").await;
    assert!(s3.object_files(&bucket).is_empty());
}

#[tokio::test]
async fn the_store_going_down_answers_503_and_451_and_recovers_without_a_restart() {
    let Some(mut s3) = sigv4_server() else { return };
    let s = TestServer::builder().manual_jobs().s3(&s3).start().await;
    let bucket = bucket_of(&s);
    let c = s.create_email_connector(&s.admin_key, "desk", false).await;
    let address = inbox_address(&c);
    assert_eq!(s.get_without_key("/readyz").await.status(), 200);
    let (id, url) = s
        .new_upload(&s.admin_key, &json!({"file_name": "later.txt"}))
        .await;

    s3.stop();
    let resp = s.put_upload(&url, "while the store is down").await;
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0);
    assert_error(resp, 503, "STORAGE_UNAVAILABLE").await;
    // A streamed upload fails the same way, and so does a multipart one
    // (sent chunked), after its first part.
    let resp = s.put_upload(&url, pseudo_random(7 * 1024 * 1024)).await;
    assert_error(resp, 503, "STORAGE_UNAVAILABLE").await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(pseudo_random(7 * 1024 * 1024))];
    let chunked = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let resp = s.http.put(&url).body(chunked).send().await.unwrap();
    assert_error(resp, 503, "STORAGE_UNAVAILABLE").await;
    // A client still sending when the store fails reads the 503: the
    // server takes the rest of the body instead of resetting its writes.
    let status = raw_upload_status(&url, 12 * 1024 * 1024).await;
    assert!(status.starts_with("HTTP/1.1 503"), "{status}");
    let msg = common::smtp::message(DESK, &address, "down", "down@x", "hello");
    let (code, text) = s.deliver(DESK, &[&address], &msg).await;
    assert_eq!((code, &text[..5]), (451, "4.3.0"), "{text}");
    let body = assert_error(
        s.get_without_key("/readyz").await,
        503,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("blob store"));
    // Nothing half-stored: the document still waits for its bytes.
    assert_eq!(s.get_document(&s.admin_key, &id).await["status"], "pending");

    s3.resume();
    assert_eq!(s.get_without_key("/readyz").await.status(), 200);
    // The same URL works: it was never used.
    assert_eq!(s.put_upload(&url, "after").await.status(), 200);
    // A used URL is refused before its body is read, and answered alike.
    let status = raw_upload_status(&url, 12 * 1024 * 1024).await;
    assert!(status.starts_with("HTTP/1.1 403"), "{status}");
    let (code, text) = s.deliver(DESK, &[&address], &msg).await;
    assert_eq!(code, 250, "{text}");
    s.run_jobs();
    assert_eq!(s.download(&s.admin_key, &id).await, b"after");
    let docs = s.list_documents(&s.admin_key, "").await;
    assert_eq!(docs.len(), 2, "the upload and the message: {docs:?}");
    let objects = s3.object_files(&bucket);
    assert_eq!(
        objects
            .iter()
            .filter(|p| p.to_string_lossy().contains("documents"))
            .count(),
        2,
        "no object without a row: {objects:?}"
    );
}

/// A socket to the server of `url` on which a `PUT` of `len` bytes to it
/// has begun: its head is written, none of its body.
async fn raw_put(url: &str, len: usize) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let parsed = reqwest::Url::parse(url).unwrap();
    let host = format!("{}:{}", parsed.host_str().unwrap(), parsed.port().unwrap());
    let mut tcp = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "PUT {}?{} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len}\r\n\r\n",
        parsed.path(),
        parsed.query().unwrap()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp
}

/// The status line answering an upload of `len` bytes written whole to
/// `url` over a plain socket, before anything is read; a failed write
/// panics.
async fn raw_upload_status(url: &str, len: usize) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut tcp = raw_put(url, len).await;
    for chunk in pseudo_random(len).chunks(64 * 1024) {
        tcp.write_all(chunk)
            .await
            .expect("the server takes the whole body");
    }
    let mut status = String::new();
    BufReader::new(tcp).read_line(&mut status).await.unwrap();
    status
}

#[tokio::test]
async fn an_upload_cut_midway_stores_nothing_and_its_url_stays_valid() {
    use tokio::io::AsyncWriteExt;
    let Some(s3) = sigv4_server() else { return };
    let s = TestServer::builder().manual_jobs().s3(&s3).start().await;
    let bucket = bucket_of(&s);
    let (id, url) = s
        .new_upload(&s.admin_key, &json!({"file_name": "cut.bin"}))
        .await;
    let declared = 10 * 1024 * 1024;
    let mut tcp = raw_put(&url, declared).await;
    tcp.write_all(&pseudo_random(3 * 1024 * 1024))
        .await
        .unwrap();
    // The first bytes are on their way to the store when the client goes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(tcp);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let objects: Vec<_> = s3
        .object_files(&bucket)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("documents"))
        .collect();
    assert!(objects.is_empty(), "a cut upload was stored: {objects:?}");
    assert_eq!(s.get_document(&s.admin_key, &id).await["status"], "pending");
    // The URL was never used: the whole upload goes through it.
    let whole = pseudo_random(declared);
    assert_eq!(s.put_upload(&url, whole.clone()).await.status(), 200);
    s.run_jobs();
    assert_eq!(s.download(&s.admin_key, &id).await, whole);
}

#[tokio::test]
async fn direct_downloads_answer_a_presigned_url_of_the_store() {
    let Some(s3) = sigv4_server() else { return };
    let s = TestServer::builder()
        .manual_jobs()
        .s3(&s3)
        .config("[blobs]\ndirect_downloads = true\nprefix = \"tenant-a/inlet\"\n[documents]\ndownload_url_ttl = \"10m\"")
        .start()
        .await;
    let bucket = bucket_of(&s);
    let pdf = b"%PDF-1.7\nquarterly numbers\n%%EOF\n".to_vec();
    let doc = s
        .upload(&s.admin_key, "Q3 résumé.pdf", &pdf, json!({}))
        .await;
    let id = doc["id"].as_str().unwrap();
    // Keys live under the prefix.
    let objects = s3.object_files(&bucket);
    assert!(
        objects.iter().any(|p| p
            .to_string_lossy()
            .contains(&format!("{bucket}/tenant-a/inlet/documents/"))),
        "{objects:?}"
    );
    let url = s.original_url(&s.admin_key, id).await;
    assert!(
        url.starts_with(&format!(
            "{}/{bucket}/tenant-a/inlet/documents/",
            s3.endpoint()
        )),
        "{url}"
    );
    assert!(url.contains("X-Amz-Signature="), "{url}");
    assert!(url.contains("X-Amz-Expires=600"), "{url}");
    // A plain HTTP client, no credentials.
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    let disposition = resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''Q3%20r%C3%A9sum%C3%A9.pdf"),
        "{disposition}"
    );
    assert_eq!(resp.bytes().await.unwrap().to_vec(), pdf);
    // The store checks the signature: a tampered URL is refused.
    let tampered = url.replace("X-Amz-Expires=600", "X-Amz-Expires=6000");
    assert_eq!(reqwest::get(&tampered).await.unwrap().status(), 403);
}

#[tokio::test]
async fn purge_and_sweep_delete_in_batches_and_leave_no_orphan() {
    let Some(s3) = sigv4_server() else { return };
    let s = TestServer::builder()
        .manual_jobs()
        .s3(&s3)
        .config("[blobs]\norphan_grace = \"1s\"")
        .start()
        .await;
    let bucket = bucket_of(&s);
    let c = s
        .create_email_connector(&s.admin_key, "purged", false)
        .await;
    s.seed_connector_documents(&c, 1500, &["label:purged"])
        .await;
    let kept = s
        .upload(&s.admin_key, "kept.txt", b"referenced", json!({}))
        .await;
    assert_eq!(s3.object_files(&bucket).len(), 1501);
    assert_eq!(s.hard_delete(&s.admin_key, &c).await.status(), 200);
    s.run_jobs();
    assert_eq!(s.get(&connector_path(&c), &s.admin_key).await.status(), 404);
    let left = s3.object_files(&bucket);
    assert_eq!(left.len(), 1, "only the kept upload: {left:?}");
    // An object without a row (a crash between store and commit) goes
    // once it is older than the grace; the referenced one stays.
    let app = s.open_state().await;
    let orphan = inlet::blobs::document_key(inlet::domain::DocumentId::new().as_str());
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
        b"left by a crash",
    ))]);
    app.blobs.put_stream(&orphan, body, 100).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let out = s.cli(&["admin", "sweep-blobs"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    let left = s3.object_files(&bucket);
    assert_eq!(left.len(), 1, "{left:?}");
    let kept_id = kept["id"].as_str().unwrap();
    assert_eq!(s.download(&s.admin_key, kept_id).await, b"referenced");
}

#[tokio::test]
async fn migrate_blobs_copies_verifies_resumes_and_is_idempotent() {
    let Some(s3) = sigv4_server() else { return };
    let mut s = TestServer::builder()
        .manual_jobs()
        .local_blobs()
        .start()
        .await;
    let mut docs = vec![];
    for (name, bytes) in [
        ("a.txt", b"first".to_vec()),
        ("b.bin", pseudo_random(6 * 1024 * 1024)),
        ("c.txt", b"third".to_vec()),
    ] {
        let doc = s.upload(&s.admin_key, name, &bytes, json!({})).await;
        docs.push((doc["id"].as_str().unwrap().to_string(), bytes));
    }
    let bucket = s3.bucket();
    let keys = s3.blobs_keys(&bucket);
    let config = std::fs::read_to_string(s.config_path()).unwrap();
    std::fs::write(s.config_path(), format!("{config}\n[blobs]\n{keys}")).unwrap();

    // A run killed part-way: one blob already copied, another half-done
    // (a different object under its key).
    let app = s.open_state().await;
    let local = inlet::blobs::BlobStore::local(&s.data_dir().join("blobs")).unwrap();
    let blob_keys: Vec<String> = {
        use futures_util::TryStreamExt;
        let listed: Vec<inlet::blobs::BlobInfo> =
            local.list("documents").try_collect().await.unwrap();
        listed.into_iter().map(|b| b.key).collect()
    };
    assert_eq!(blob_keys.len(), 3);
    let (_, first) = local.get(&blob_keys[0]).await.unwrap();
    app.blobs
        .put_stream(&blob_keys[0], Box::pin(first), u64::MAX)
        .await
        .unwrap();
    let wrong = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
        b"partial",
    ))]);
    app.blobs
        .put_stream(&blob_keys[1], wrong, u64::MAX)
        .await
        .unwrap();

    let out = s.cli(&["admin", "migrate-blobs"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("migrate-blobs: 3/3 blobs"),
        "progress on stderr: {stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "3 blobs in the bucket: 2 copied, 1 already there"
    );
    let again = s.cli(&["admin", "migrate-blobs"]);
    assert!(again.status.success());
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "3 blobs in the bucket: 0 copied, 3 already there"
    );
    // The server on S3, with the local directory gone: every document reads.
    std::fs::remove_dir_all(s.data_dir().join("blobs")).unwrap();
    s.restart();
    for (id, bytes) in &docs {
        assert_eq!(&s.download(&s.admin_key, id).await, bytes, "{id}");
    }
    // Without S3 configured it refuses, naming what is missing.
    let local_only = TestServer::builder().local_blobs().start().await;
    let out = local_only.cli(&["admin", "migrate-blobs"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("backend = \"s3\""));
}

#[tokio::test]
async fn uploads_killed_midway_keep_every_acknowledged_one_and_leave_no_orphan() {
    let Some(s3) = sigv4_server() else { return };
    let mut s = TestServer::builder()
        .s3(&s3)
        .job_lease("2s")
        .config("[blobs]\norphan_grace = \"1s\"")
        .start()
        .await;
    let bucket = bucket_of(&s);
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let mut clients = vec![];
    for client in 0..6 {
        let (base, key, http) = (s.base.clone(), s.admin_key.clone(), s.http.clone());
        let acked = acked.clone();
        clients.push(tokio::spawn(async move {
            for n in 0..200 {
                // Every third upload is a multipart one.
                let body = if n % 3 == 0 {
                    pseudo_random(5 * 1024 * 1024 + client * 1000 + n)
                } else {
                    format!("upload {client}-{n}").into_bytes()
                };
                let Ok(resp) = http
                    .post(format!("{base}{}", common::DOCUMENTS))
                    .header("x-api-key", &key)
                    .json(&json!({"file_name": format!("f{client}-{n}.bin")}))
                    .send()
                    .await
                else {
                    return;
                };
                let Ok(ticket) = resp.json::<Value>().await else {
                    return;
                };
                let url = ticket["url"].as_str().unwrap().to_string();
                let digest = sha256_hex(&body);
                match http.put(&url).body(body).send().await {
                    Ok(r) if r.status() == 200 => acked
                        .lock()
                        .unwrap()
                        .push((ticket["id"].as_str().unwrap().to_string(), digest)),
                    _ => return,
                }
            }
        }));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 30 {
        assert!(std::time::Instant::now() < deadline, "uploads too slow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    s.kill();
    for c in clients {
        let _ = c.await;
    }
    let acked = acked.lock().unwrap().clone();
    eprintln!("{} uploads acknowledged before SIGKILL", acked.len());

    s.restart();
    for (id, digest) in &acked {
        let doc = s.wait_until_completed(&s.admin_key, id).await;
        assert_eq!(doc["sha256"], digest.as_str(), "{id}");
        assert_eq!(&sha256_hex(&s.download(&s.admin_key, id).await), digest);
    }
    // What the kill cut short (an object stored, its row not yet committed)
    // goes with the sweep; every object left belongs to a row.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let out = s.cli(&["admin", "sweep-blobs"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app = s.open_state().await;
    let keys: Vec<String> = s3
        .object_files(&bucket)
        .iter()
        .filter_map(|p| {
            let p = p.to_string_lossy();
            p.find("documents/").map(|i| p[i..].to_string())
        })
        .collect();
    let referenced = app.store.referenced_blob_keys(&keys).await.unwrap();
    for key in &keys {
        assert!(referenced.contains(key), "object without a row: {key}");
    }
    // Every upload that got as far as its row has its object (pending ones
    // never had bytes).
    let stored = s
        .list_documents(&s.admin_key, "")
        .await
        .into_iter()
        .filter(|d| d["status"] != "pending")
        .count();
    assert_eq!(keys.len(), stored, "one object per stored document");
}

/// The bucket named in a server's `[blobs]` keys.
fn bucket_of(s: &TestServer) -> String {
    let keys = s.blobs_keys().expect("blobs on S3");
    let line = keys
        .lines()
        .find(|l| l.starts_with("bucket = "))
        .expect("a bucket");
    serde_json::from_str::<Value>(line.trim_start_matches("bucket = "))
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}
