//! Edges a hostile test round found (contract §15): private files, admin
//! commands that must not invent a data dir, operator-facing output.

mod common;

use common::{TestServer, BIN, CONNECTORS, DESK, DOCUMENTS};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// Every directory under `dir` is 0700 and every file 0600 (nothing for
/// group or others), with the offenders named.
fn assert_private(dir: &Path) {
    let mut open = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mode = std::fs::metadata(&d).unwrap().permissions().mode();
        if mode & 0o077 != 0 {
            open.push(format!("{} {:o}", d.display(), mode & 0o777));
        }
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else if meta.permissions().mode() & 0o077 != 0 {
                open.push(format!(
                    "{} {:o}",
                    path.display(),
                    meta.permissions().mode() & 0o777
                ));
            }
        }
    }
    assert!(open.is_empty(), "readable by others: {open:#?}");
}

#[tokio::test]
async fn data_dir_files_are_private_whatever_the_umask() {
    // The most permissive umask a service is commonly started with; the
    // server inherits it.
    // SAFETY: only this process's file-creation mask changes.
    unsafe { libc::umask(0o000) };
    let s = TestServer::start().await;
    let doc = s
        .upload(&s.admin_key, "q3.txt", b"private research", json!({}))
        .await;
    assert_eq!(doc["status"], "completed");
    s.create_email_connector(&s.admin_key, "inbox", false).await;
    assert!(!s.blob_files().is_empty());
    assert_private(&s.data_dir());
}

#[test]
fn admin_refuses_a_data_dir_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-the-servers");
    let out = Command::new(BIN)
        .args(["admin", "list-keys", "--data-dir"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&missing.display().to_string()),
        "names the path: {stderr}"
    );
    assert!(!missing.exists(), "nothing was created");

    let init = Command::new(BIN)
        .args(["admin", "--init", "create-key", "--org", "o", "--user", "u"])
        .arg("--data-dir")
        .arg(&missing)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    assert!(missing.is_dir());
    let keys = Command::new(BIN)
        .args(["admin", "list-keys", "--data-dir"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(keys.status.success());
    assert!(String::from_utf8_lossy(&keys.stdout).contains("\tu\t"));
}

#[tokio::test]
async fn admin_takes_the_servers_data_dir_flag() {
    let s = TestServer::start().await;
    let mut admin = Command::new(BIN);
    admin
        .args(["admin", "create-key", "--org", "default", "--user", "bob"])
        .arg("--data-dir")
        .arg(s.data_dir());
    // The data dir holds the server's data only on SQLite.
    if let Some(url) = s.database_url() {
        admin.env("INLET_DATABASE_URL", url);
    }
    let key = admin.output().unwrap();
    assert!(
        key.status.success(),
        "{}",
        String::from_utf8_lossy(&key.stderr)
    );
    let key = String::from_utf8(key.stdout).unwrap().trim().to_string();
    assert_eq!(s.get(CONNECTORS, &key).await.status(), 200);
}

#[tokio::test]
async fn list_jobs_says_a_purge_has_no_attempt_limit() {
    let s = TestServer::builder().manual_jobs().start().await;
    let c = s
        .create_email_connector(&s.admin_key, "to purge", false)
        .await;
    assert_eq!(s.hard_delete(&s.admin_key, &c).await.status(), 200);
    let list = s.list_jobs();
    let purge = list
        .lines()
        .find(|l| l.contains("purge_connector"))
        .unwrap_or_else(|| panic!("a purge job is listed: {list}"));
    assert!(purge.contains("\t0/unlimited\t"), "{purge}");
}

#[tokio::test]
async fn logs_to_a_file_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["admin", "--init", "create-key", "--org", "o", "--user", "u"])
        .arg("--data-dir")
        .arg(dir.path().join("d"))
        .env("INLET_LOG_FORMAT", "text")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("API key created"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no ANSI escapes: {stderr:?}");
}

#[tokio::test]
async fn two_api_keys_are_refused_not_resolved() {
    let s = TestServer::start().await;
    let other = s.create_key("default", "bob");
    for pair in [[&s.admin_key, &other], [&s.admin_key, &s.admin_key]] {
        let resp = s
            .http
            .get(format!("{}{CONNECTORS}", s.base))
            .header("X-API-KEY", pair[0].as_str())
            .header("X-API-KEY", pair[1].as_str())
            .send()
            .await
            .unwrap();
        let body = common::assert_error(resp, 401, "UNAUTHORIZED").await;
        assert!(body["message"].as_str().unwrap().contains("one X-API-KEY"));
    }
}

/// Sends `request` as raw bytes and returns the response's head and body.
async fn raw(addr: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        conn.read_to_end(&mut out),
    )
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_host_that_is_not_host_and_port_is_400_with_the_error_body() {
    let s = TestServer::start().await;
    let addr = s.base.trim_start_matches("http://");
    let key = &s.admin_key;
    for host in ["a@evil.example/x?", "evil.example/x", "host:notaport"] {
        let resp = raw(
            addr,
            format!(
                "POST /contents/v1/documents HTTP/1.1\r\nHost: {host}\r\nX-API-KEY: {key}\r\n\
                 Content-Type: application/json\r\nContent-Length: 21\r\nConnection: close\r\n\r\n\
                 {{\"file_name\": \"a.pdf\"}}"
            )
            .as_bytes(),
        )
        .await;
        assert!(resp.starts_with("HTTP/1.1 400"), "{host}: {resp}");
        assert!(resp.contains("\"errorCode\":\"INVALID_REQUEST\""), "{resp}");
        assert!(
            resp.to_ascii_lowercase().contains("x-request-id:"),
            "{resp}"
        );
        assert!(!resp.contains("evil.example"), "{resp}");
    }
    let missing = raw(
        addr,
        format!(
            "GET /contents/v1/connectors HTTP/1.1\r\nX-API-KEY: {key}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert!(missing.starts_with("HTTP/1.1 400"), "{missing}");
    assert!(missing.contains("Host"), "{missing}");
    // HTTP/1.0 has no Host requirement; a valid one is served.
    let old = raw(
        addr,
        format!("GET /contents/v1/connectors HTTP/1.0\r\nX-API-KEY: {key}\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(
        old.starts_with("HTTP/1.0 200") || old.starts_with("HTTP/1.1 200"),
        "{old}"
    );
    let ok = raw(
        addr,
        format!("GET /contents/v1/connectors HTTP/1.1\r\nHost: inlet.example:8080\r\nX-API-KEY: {key}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}

#[tokio::test]
async fn query_values_that_are_not_utf8_are_refused() {
    let s = TestServer::start().await;
    s.upload(&s.admin_key, "latin1 \u{fffd}\u{fffd}.eml", b"x", json!({}))
        .await;
    let resp = s
        .get(&format!("{DOCUMENTS}?file_name=%ff%fe"), &s.admin_key)
        .await;
    let body = common::assert_error(resp, 400, "INVALID_REQUEST").await;
    assert!(body["message"].as_str().unwrap().contains("file_name"));
    // Valid percent-encoded UTF-8 and `+` still decode.
    let resp = s
        .get(
            &format!("{DOCUMENTS}?file_name=latin1+%EF%BF%BD"),
            &s.admin_key,
        )
        .await;
    assert_eq!(resp.status(), 200);
    let list: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(list["results"].as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn naive_iso_published_ts_is_read_as_utc() {
    let s = TestServer::start().await;
    let doc = s
        .upload(
            &s.admin_key,
            "naive.txt",
            b"text",
            json!({"published_ts": "2024-05-01T12:00:00"}),
        )
        .await;
    assert_eq!(doc["published_at"], "2024-05-01T12:00:00.000000Z");
    let resp = s
        .post_json(
            DOCUMENTS,
            &s.admin_key,
            &json!({"file_name": "x.txt", "published_ts": "2024-05-01 noon"}),
        )
        .await;
    common::assert_error(resp, 400, "INVALID_REQUEST").await;
}

/// Reads until the peer closes the connection (or `limit` passes): true
/// when it closed.
async fn closed_within(conn: &mut tokio::net::TcpStream, limit: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut sink = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match conn.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn slow_clients_are_cut_off_while_others_are_served() {
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;
    let s = TestServer::builder()
        .config("[http]\nheader_timeout = \"1s\"\nidle_timeout = \"30s\"")
        .start()
        .await;
    let addr = s.base.trim_start_matches("http://").to_string();
    // Silent connections, and ones that trickle a header line at a time.
    let mut silent = vec![];
    let mut trickling = vec![];
    for _ in 0..40 {
        silent.push(TcpStream::connect(&addr).await.unwrap());
        let mut t = TcpStream::connect(&addr).await.unwrap();
        t.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        trickling.push(t);
    }
    let tricklers = tokio::spawn(async move {
        let mut open = trickling;
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let mut still = vec![];
            for mut t in open {
                if t.write_all(b"X-Slow: 1\r\n").await.is_ok() {
                    still.push(t);
                }
            }
            open = still;
        }
        open
    });
    // Everyone else is answered meanwhile.
    for _ in 0..20 {
        let resp = s.get(CONNECTORS, &s.admin_key).await;
        assert_eq!(resp.status(), 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for mut conn in silent {
        assert!(
            closed_within(&mut conn, Duration::from_secs(10)).await,
            "a silent connection stays open"
        );
    }
    let mut left = tricklers.await.unwrap();
    for conn in &mut left {
        assert!(
            closed_within(conn, Duration::from_secs(10)).await,
            "a trickling connection stays open"
        );
    }
    // A kept-alive connection may wait longer than a head may take.
    let mut kept = TcpStream::connect(&addr).await.unwrap();
    for _ in 0..2 {
        kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = tokio::io::AsyncReadExt::read(&mut kept, &mut buf)
            .await
            .unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
}

#[tokio::test]
async fn what_the_http_parser_refuses_still_has_the_error_body() {
    let s = TestServer::start().await;
    let addr = s.base.trim_start_matches("http://");
    let many_headers: String = (0..120).map(|i| format!("X-H{i}: v\r\n")).collect();
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            b"GET /contents/v1/connectors/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            "400",
            "INVALID_REQUEST",
        ),
        (
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").into_bytes(),
            "431",
            "HEADERS_TOO_LARGE",
        ),
        (
            b"POST /contents/v1/tags HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}"
                .to_vec(),
            "400",
            "INVALID_REQUEST",
        ),
    ];
    for (request, status, code) in cases {
        let resp = raw(addr, &request).await;
        assert!(resp.starts_with(&format!("HTTP/1.1 {status} ")), "{resp}");
        assert!(resp.contains("x-request-id: "), "{resp}");
        let body: serde_json::Value =
            serde_json::from_str(resp.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert_eq!(body["errorCode"], code, "{resp}");
        assert_eq!(body["statusCode"].to_string(), status);
    }
    // The server is unharmed.
    assert_eq!(s.get(CONNECTORS, &s.admin_key).await.status(), 200);
}

/// Connects to SMTP from `source` (any 127.0.0.0/8 address) and reads
/// the first reply line.
async fn smtp_greeting(server: &str, source: &str) -> (tokio::net::TcpStream, String) {
    use tokio::io::AsyncReadExt;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let mut conn = socket.connect(server.parse().unwrap()).await.unwrap();
    let mut buf = vec![0u8; 256];
    let n = conn.read(&mut buf).await.unwrap();
    (conn, String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[tokio::test]
async fn one_address_cannot_take_every_smtp_session() {
    let s = TestServer::builder()
        .config("[smtp]\nmax_sessions = 10\nmax_sessions_per_ip = 3")
        .start()
        .await;
    let mut held = vec![];
    for _ in 0..3 {
        let (conn, greeting) = smtp_greeting(&s.smtp, "127.0.0.1").await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        held.push(conn);
    }
    let (_, refused) = smtp_greeting(&s.smtp, "127.0.0.1").await;
    assert!(refused.starts_with("421 4.7.0 "), "{refused}");
    // Another address still gets in, and the refused one does once a
    // session of its own ends.
    let (_other, greeting) = smtp_greeting(&s.smtp, "127.0.0.2").await;
    assert!(greeting.starts_with("220 "), "{greeting}");
    drop(held.pop());
    let mut again = String::new();
    for _ in 0..50 {
        let (_, greeting) = smtp_greeting(&s.smtp, "127.0.0.1").await;
        again = greeting;
        if again.starts_with("220 ") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(again.starts_with("220 "), "{again}");
}

#[tokio::test]
async fn idle_sessions_are_closed_sooner_when_the_server_is_busy() {
    use std::time::Duration;
    use tokio::io::AsyncReadExt;
    let s = TestServer::builder()
        .config("[smtp]\nmax_sessions = 4\nmax_sessions_per_ip = 4\nbusy_idle_timeout = \"1s\"")
        .start()
        .await;
    // One of four in use: not busy, so an idle session keeps its
    // command_timeout (5 minutes) and is still open after the busy timeout.
    let (mut alone, _) = smtp_greeting(&s.smtp, "127.0.0.1").await;
    let mut buf = vec![0u8; 256];
    let early = tokio::time::timeout(Duration::from_secs(3), alone.read(&mut buf)).await;
    assert!(early.is_err(), "closed while the server was quiet");
    // Three of four: more than half. Idle sessions are cut after the busy
    // timeout (once one goes, the server may no longer be busy, so only
    // the first is certain to be cut).
    let (second, _) = smtp_greeting(&s.smtp, "127.0.0.1").await;
    let (third, _) = smtp_greeting(&s.smtp, "127.0.0.1").await;
    let mut reads: Vec<_> = [alone, second, third]
        .into_iter()
        .map(|mut conn| {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 256];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                String::from_utf8_lossy(&buf[..n]).into_owned()
            })
        })
        .collect();
    let (first, ..) = tokio::time::timeout(
        Duration::from_secs(20),
        futures_util::future::select_all(reads.iter_mut()),
    )
    .await
    .expect("an idle session is closed well before command_timeout");
    let reply = first.unwrap();
    assert!(reply.starts_with("421 4.4.2 "), "{reply}");
}

#[tokio::test]
async fn a_message_needs_exactly_one_from_mailbox() {
    let s = TestServer::start().await;
    let c = s.create_email_connector(&s.admin_key, "inbox", false).await;
    let to = common::inbox_address(&c);
    let blobs_before = s.blob_files().len();
    for from in [
        format!("From: {DESK}\r\nFrom: {DESK}\r\n"),
        format!("From: {DESK}, other@evil.example\r\n"),
        format!("From: Desk: {DESK};\r\n"),
    ] {
        let message = format!("{from}To: {to}\r\nSubject: forged?\r\n\r\nbody\r\n");
        let (code, text) = s.deliver(DESK, &[&to], message.as_bytes()).await;
        assert_eq!(code, 550, "{from:?}: {text}");
        assert!(text.starts_with("5.7.1 "), "{text}");
    }
    assert!(s.list_documents(&s.admin_key, "").await.is_empty());
    assert_eq!(s.blob_files().len(), blobs_before, "nothing left on disk");
    // One mailbox is delivered as before.
    let message = format!("From: Desk <{DESK}>\r\nTo: {to}\r\nSubject: fine\r\n\r\nbody\r\n");
    assert_eq!(s.deliver(DESK, &[&to], message.as_bytes()).await.0, 250);
}

#[tokio::test]
async fn smtputf8_is_refused_not_silently_accepted() {
    let s = TestServer::start().await;
    let mut smtp = common::smtp::Smtp::session(&s.smtp).await;
    let (code, text) = smtp.cmd(&format!("MAIL FROM:<{DESK}> SMTPUTF8")).await;
    assert_eq!(code, 555, "{text}");
    let (ehlo, caps) = smtp.cmd("EHLO c").await;
    assert_eq!(ehlo, 250);
    assert!(!caps.contains("SMTPUTF8"), "{caps}");
    assert_eq!(smtp.cmd(&format!("MAIL FROM:<{DESK}>")).await.0, 250);
}

#[tokio::test]
async fn office_files_and_csv_get_their_own_content_types() {
    let s = TestServer::start().await;
    let zip = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml";
    let cases: [(&str, &[u8], &str); 5] = [
        (
            "Q3 Outlook.docx",
            zip,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            "model.XLSX",
            zip,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        ("bundle.zip", zip, "application/zip"),
        ("prices.csv", b"ticker,price\nAAPL,190.1\n", "text/csv"),
        // The bytes win over a misleading name.
        (
            "not-really.csv",
            b"%PDF-1.7\n%\xe2\xe3\n",
            "application/pdf",
        ),
    ];
    for (name, bytes, expected) in cases {
        let doc = s.upload(&s.admin_key, name, bytes, json!({})).await;
        assert_eq!(doc["content_type"], expected, "{name}");
        let downloaded = s.download(&s.admin_key, doc["id"].as_str().unwrap()).await;
        assert_eq!(downloaded, bytes, "{name}");
    }
}

#[tokio::test]
async fn an_upload_that_never_comes_expires() {
    let s = TestServer::builder()
        .config("[documents]\nupload_url_ttl = \"1s\"\n[blobs]\nsweep_interval = \"1s\"")
        .start()
        .await;
    let (stale, url) = s
        .new_upload(&s.admin_key, &json!({"file_name": "never.pdf"}))
        .await;
    let failed = common::wait_until(
        std::time::Duration::from_secs(20),
        std::time::Duration::from_millis(100),
        || async {
            let doc = s.get_document(&s.admin_key, &stale).await;
            if doc["status"] == "failed" {
                Ok(doc)
            } else {
                Err(doc.to_string())
            }
        },
    )
    .await;
    assert_eq!(failed["error_code"], "UPLOAD_EXPIRED");
    // Its URL is dead, and a new registration works as usual.
    let late = s.http.put(&url).body("late bytes").send().await.unwrap();
    assert!(late.status().is_client_error(), "{}", late.status());
    assert_eq!(
        s.get_document(&s.admin_key, &stale).await["status"],
        "failed"
    );
    let (fresh, url) = s
        .new_upload(&s.admin_key, &json!({"file_name": "now.pdf"}))
        .await;
    let resp = s
        .http
        .put(&url)
        .body("%PDF-1.7 bytes")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let done = s.wait_until_completed(&s.admin_key, &fresh).await;
    assert_eq!(done["status"], "completed");
}
