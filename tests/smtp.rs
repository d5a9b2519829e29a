//! Contract §5, email connectors: the built-in SMTP receiver through real
//! sockets (a raw client, lettre, and swaks), down to the stored documents.

mod common;

use common::smtp::{dot_stuff, message, Smtp};
use common::{
    connector_path, document_path, inbox_address, swaks, tag_names, TestServer, DESK, INBOX_DOMAIN,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A server whose jobs run only when the test says so.
async fn server() -> TestServer {
    TestServer::builder().manual_jobs().start().await
}

/// An email connector accepting `allowed`, and its inbox address.
async fn inbox(s: &TestServer, key: &str, allowed: &[&str]) -> (Value, String) {
    let c = s
        .create_connector(
            key,
            &json!({"type": "email", "label": "Broker mail", "config": {"allowed_emails": allowed}}),
        )
        .await;
    let address = inbox_address(&c);
    (c, address)
}

#[tokio::test]
async fn a_message_with_an_attachment_becomes_a_collection_of_documents() {
    let s = server().await;
    let key = &s.admin_key;
    let (c, address) = inbox(&s, key, &["Desk@Broker.Example"]).await;
    let raw = format!(
        "From: Research Desk <{DESK}>\r\nTo: {address}\r\nSubject: Q3 Outlook\r\nMessage-ID: <q3@broker.example>\r\n\
         Date: Wed, 11 Feb 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached – réport.\r\n\
         --b\r\nContent-Type: application/pdf; name=\"q3.pdf\"\r\nContent-Disposition: attachment; filename=\"q3.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjcKcmVzZWFyY2gK\r\n--b--\r\n"
    );
    let (mut smtp, code, greeting) = Smtp::connect(&s.smtp).await;
    assert_eq!(code, 220, "{greeting}");
    let (code, ehlo) = smtp.cmd("EHLO client.example").await;
    assert_eq!(code, 250);
    for ext in [
        "PIPELINING",
        "SIZE 26214400",
        "8BITMIME",
        "ENHANCEDSTATUSCODES",
    ] {
        assert!(ehlo.lines().any(|l| l == ext), "{ext} in {ehlo}");
    }
    assert!(
        !ehlo.contains("STARTTLS"),
        "no STARTTLS without a certificate"
    );
    let (code, text) = smtp
        .deliver(
            "bounce@broker.example",
            &[&address.to_uppercase()],
            raw.as_bytes(),
        )
        .await;
    assert_eq!((code, text.as_str()), (250, "2.0.0 Message stored"));
    assert_eq!(smtp.cmd("QUIT").await.0, 221);

    // The .eml exists as soon as 250 was sent.
    let docs = s.list_documents(key, "").await;
    assert_eq!(docs.len(), 1);
    let eml = &docs[0];
    assert_eq!(eml["content_type"], "message/rfc822");
    assert_eq!(eml["file_name"], "Q3 Outlook.eml");
    assert_eq!(eml["request_origin"], "email");
    // Stored, then processed by a durable job before it is `completed`:
    // the message's processing and its attachments, then the attachment's.
    assert_eq!(eml["status"], "processing");
    assert_eq!(eml["connector_id"], c["connector_id"]);
    assert_eq!(s.run_jobs(), 3);
    let stored = s.download(key, eml["id"].as_str().unwrap()).await;
    // The harness runs with `sender_auth = "off"`: nothing was checked.
    let trace = "Authentication-Results: inlet; none\r\nReturn-Path: <bounce@broker.example>\r\nReceived: from client.example ([127.0.0.1])\r\n\tby inlet (Inlet) with ESMTP id ";
    assert!(
        stored.starts_with(trace.as_bytes()),
        "trace headers first: {}",
        String::from_utf8_lossy(&stored[..200])
    );
    assert!(
        stored.ends_with(raw.as_bytes()),
        "then the message, byte for byte"
    );
    assert_eq!(eml["raw_size"], stored.len());
    assert_eq!(eml["sha256"], hex::encode(Sha256::digest(&stored)));
    assert_eq!(eml["published_at"], "2026-02-11T09:00:00.000000Z");
    let meta = &eml["file_metadata"];
    assert_eq!(
        (
            meta["subject"].as_str(),
            meta["from"].as_str(),
            meta["message_id"].as_str()
        ),
        (Some("Q3 Outlook"), Some(DESK), Some("q3@broker.example"))
    );
    assert_eq!(meta["to"], json!([address]));
    assert_eq!(meta["date"], "2026-02-11T09:00:00.000000Z");
    assert_eq!(meta["envelope_from"], "bounce@broker.example");
    assert_eq!(
        meta["authentication"],
        json!({"spf": "none", "dkim": "none", "dmarc": "none", "arc": "none"})
    );
    assert_eq!(
        tag_names(eml),
        vec![
            format!("from:{DESK}").as_str(),
            "label:Broker mail",
            format!("to:{address}").as_str()
        ]
    );

    let eml = &s.get_document(key, eml["id"].as_str().unwrap()).await;
    assert_eq!(eml["status"], "completed");
    assert_eq!(
        eml["file_metadata"]["extraction"],
        json!({"status": "ok", "error": null})
    );
    let annotated = s
        .get_json(
            &format!("{}/annotated", document_path(eml["id"].as_str().unwrap())),
            key,
        )
        .await;
    assert_eq!(annotated["profiling"]["extractor"], "email");
    assert_eq!(annotated["content"]["title"], "Q3 Outlook");
    assert_eq!(annotated["content"]["body"][0]["type"], "header");
    let docs = s
        .list_documents(
            key,
            &format!(
                "rp_collection_id={}",
                eml["rp_collection_id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(docs.len(), 2);
    let pdf = docs
        .iter()
        .find(|d| d["file_name"] == "q3.pdf")
        .expect("the attachment");
    assert_eq!(pdf["content_type"], "application/pdf");
    assert_eq!(pdf["status"], "completed");
    assert_eq!(pdf["request_origin"], "email");
    assert_eq!(pdf["tags"], eml["tags"]);
    assert_eq!(
        s.download(key, pdf["id"].as_str().unwrap()).await,
        b"%PDF-1.7\nresearch\n"
    );
    let connector = s.get_json(&connector_path(&c), key).await;
    assert_eq!(connector["files_count"], 2);
    assert!(
        connector["last_sync_at"].is_null(),
        "email connectors keep last_sync_* null"
    );
}

#[tokio::test]
async fn pipelining_rset_and_several_transactions_per_session() {
    let s = server().await;
    let (_, address) = inbox(&s, &s.admin_key, &[DESK]).await;
    let mut smtp = Smtp::session(&s.smtp).await;
    // All commands of a transaction in one write.
    smtp.send(format!("MAIL FROM:<{DESK}>\r\nRCPT TO:<{address}>\r\nDATA\r\n").as_bytes())
        .await;
    assert_eq!(smtp.reply().await.0, 250);
    assert_eq!(smtp.reply().await.0, 250);
    assert_eq!(smtp.reply().await.0, 354);
    smtp.send(&dot_stuff(&message(DESK, &address, "one", "1@x", "first")))
        .await;
    smtp.send(b".\r\n").await;
    assert_eq!(smtp.reply().await.0, 250);
    // RSET forgets the transaction.
    assert_eq!(smtp.cmd(&format!("MAIL FROM:<{DESK}>")).await.0, 250);
    assert_eq!(smtp.cmd("RSET").await.0, 250);
    assert_eq!(
        smtp.cmd(&format!("RCPT TO:<{address}>")).await.0,
        503,
        "no MAIL after RSET"
    );
    // A second and third message in the same session.
    for (subject, id) in [("two", "2@x"), ("three", "3@x")] {
        let (code, _) = smtp.deliver_from_desk(&address, subject, id, "body").await;
        assert_eq!(code, 250);
    }
    assert_eq!(s.list_documents(&s.admin_key, "").await.len(), 3);
}

#[tokio::test]
async fn recipients_and_senders_are_checked() {
    let s = server().await;
    let key = &s.admin_key;
    let (c, address) = inbox(&s, key, &[DESK]).await;
    let mut smtp = Smtp::session(&s.smtp).await;
    assert_eq!(
        smtp.cmd("RCPT TO:<x@y.example>").await.0,
        503,
        "RCPT before MAIL"
    );
    assert_eq!(
        smtp.cmd("MAIL FROM:<stranger@elsewhere.example>").await.0,
        250
    );
    for unknown in [
        &format!("000000000000@{INBOX_DOMAIN}"),
        &address.replace(INBOX_DOMAIN, "other.test"),
        &format!("postmaster@{INBOX_DOMAIN}"),
    ] {
        let (code, text) = smtp.cmd(&format!("RCPT TO:<{unknown}>")).await;
        assert_eq!((code, &text[..5]), (550, "5.1.1"), "{unknown}");
    }
    assert_eq!(smtp.cmd("DATA").await.0, 554, "no valid recipient");
    assert_eq!(smtp.cmd(&format!("RCPT TO:<{address}>")).await.0, 250);
    assert_eq!(smtp.cmd("DATA").await.0, 354);
    smtp.send(&dot_stuff(&message(
        "stranger@elsewhere.example",
        &address,
        "spam",
        "s@x",
        "no",
    )))
    .await;
    smtp.send(b".\r\n").await;
    let (code, text) = smtp.reply().await;
    assert_eq!(
        (code, &text[..5]),
        (550, "5.7.1"),
        "sender not allowed: {text}"
    );
    assert!(s.list_documents(key, "").await.is_empty(), "nothing stored");
    assert!(s.blob_files().is_empty(), "no blob kept");

    // The header From alone is enough.
    let (code, _) = smtp
        .deliver(
            "bounces@mailer.example",
            &[&address],
            &message(DESK, &address, "ok", "ok@x", "fine"),
        )
        .await;
    assert_eq!(code, 250);
    // A new allowed sender applies to the very next message.
    let path = connector_path(&c);
    let mut update = s.get_json(&path, key).await;
    update["config"]["allowed_emails"] = json!(["new@broker.example"]);
    assert_eq!(s.put_json(&path, key, &update).await.status(), 200);
    let (code, _) = smtp
        .deliver_from_desk(&address, "late", "late@x", "no longer")
        .await;
    assert_eq!(code, 550);
    let (code, _) = smtp
        .deliver(
            "new@broker.example",
            &[&address],
            &message("new@broker.example", &address, "new", "new@x", "yes"),
        )
        .await;
    assert_eq!(code, 250);
    assert_eq!(s.list_documents(key, "").await.len(), 2);
}

#[tokio::test]
async fn archived_connectors_reject_mail_at_once() {
    let s = server().await;
    let key = &s.admin_key;
    let (c, address) = inbox(&s, key, &[DESK]).await;
    let path = connector_path(&c);
    let mut smtp = Smtp::session(&s.smtp).await;
    assert_eq!(smtp.cmd(&format!("MAIL FROM:<{DESK}>")).await.0, 250);
    assert_eq!(smtp.cmd(&format!("RCPT TO:<{address}>")).await.0, 250);
    // Archived between RCPT and the end of DATA: the message is refused.
    assert_eq!(s.delete(&path, key).await.status(), 200);
    assert_eq!(smtp.cmd("DATA").await.0, 354);
    smtp.send(&dot_stuff(&message(
        DESK, &address, "late", "late@x", "too late",
    )))
    .await;
    smtp.send(b".\r\n").await;
    let (code, text) = smtp.reply().await;
    assert_eq!((code, &text[..5]), (550, "5.7.1"), "{text}");
    assert_eq!(smtp.cmd(&format!("MAIL FROM:<{DESK}>")).await.0, 250);
    let (code, text) = smtp.cmd(&format!("RCPT TO:<{address}>")).await;
    assert_eq!((code, &text[..5]), (550, "5.7.1"));
    assert!(s.list_documents(key, "").await.is_empty());
    assert!(s.blob_files().is_empty());
}

#[tokio::test]
async fn hard_delete_while_a_delivery_is_under_way_accepts_nothing_after_the_response() {
    let s = server().await;
    let key = &s.admin_key;
    let (c, address) = inbox(&s, key, &[DESK]).await;
    let mut smtp = Smtp::session(&s.smtp).await;
    assert_eq!(
        smtp.deliver_from_desk(&address, "before", "b@x", "kept until purge")
            .await
            .0,
        250
    );
    assert_eq!(smtp.cmd(&format!("MAIL FROM:<{DESK}>")).await.0, 250);
    assert_eq!(smtp.cmd(&format!("RCPT TO:<{address}>")).await.0, 250);
    assert_eq!(smtp.cmd("DATA").await.0, 354);
    smtp.send(b"From: desk@broker.example\r\nSubject: half\r\n\r\nfirst half\r\n")
        .await;
    let deleting: Value = s.hard_delete(key, &c).await.json().await.unwrap();
    assert_eq!(deleting["state"], "deleting");
    smtp.send(b"second half\r\n.\r\n").await;
    let (code, text) = smtp.reply().await;
    assert_eq!((code, &text[..5]), (550, "5.7.1"), "{text}");
    s.run_jobs();
    s.assert_connector_gone(key, &c).await;
    assert!(s.list_documents(key, "").await.is_empty());
    assert!(s.blob_files().is_empty(), "{:?}", s.blob_files());
}

#[tokio::test]
async fn redeliveries_are_acknowledged_and_stored_once() {
    let s = server().await;
    let (_, address) = inbox(&s, &s.admin_key, &[DESK]).await;
    let mut smtp = Smtp::session(&s.smtp).await;
    let msg = message(DESK, &address, "same", "same@broker.example", "one");
    let resent = message(
        DESK,
        &address,
        "same",
        "same@broker.example",
        "resent with other bytes",
    );
    let no_id = format!("From: {DESK}\r\nSubject: no id\r\n\r\nbody\r\n").into_bytes();
    for m in [&msg, &msg, &resent, &no_id, &no_id] {
        assert_eq!(smtp.deliver(DESK, &[&address], m).await.0, 250);
    }
    assert_eq!(
        s.list_documents(&s.admin_key, "").await.len(),
        2,
        "one per Message-ID, one per identical body without one"
    );
    assert_eq!(s.blob_files().len(), 2);
}

#[tokio::test]
async fn several_recipients_each_get_their_own_copy() {
    let s = server().await;
    let bob = s.create_key("other-org", "bob");
    let (_, mine) = inbox(&s, &s.admin_key, &[DESK]).await;
    let (_, his) = inbox(&s, &bob, &[DESK]).await;
    let (_, not_for_desk) = inbox(&s, &bob, &["someone@else.example"]).await;
    let mut smtp = Smtp::session(&s.smtp).await;
    let (code, _) = smtp
        .deliver(
            DESK,
            &[&mine, &his, &not_for_desk, &mine],
            &message(DESK, &mine, "both", "both@x", "hello"),
        )
        .await;
    assert_eq!(code, 250, "accepted for the inboxes that allow the sender");
    s.run_jobs();
    let my_docs = s.list_documents(&s.admin_key, "").await;
    let his_docs = s.list_documents(&bob, "").await;
    assert_eq!((my_docs.len(), his_docs.len()), (1, 1));
    assert_ne!(my_docs[0]["id"], his_docs[0]["id"]);
    assert_eq!(
        s.download(&s.admin_key, my_docs[0]["id"].as_str().unwrap())
            .await,
        s.download(&bob, his_docs[0]["id"].as_str().unwrap()).await
    );
    assert_eq!(s.blob_files().len(), 2, "one copy each");
}

#[tokio::test]
async fn protocol_edges_dot_stuffing_bare_lf_8bit_and_bad_commands() {
    let s = server().await;
    let key = &s.admin_key;
    let (_, address) = inbox(&s, key, &[DESK]).await;
    let (mut smtp, ..) = Smtp::connect(&s.smtp).await;
    assert_eq!(
        smtp.cmd(&format!("MAIL FROM:<{DESK}>")).await.0,
        503,
        "EHLO first"
    );
    assert_eq!(smtp.cmd("HELO c").await.0, 250);
    assert_eq!(smtp.cmd("FROB x").await.0, 500);
    assert_eq!(smtp.cmd("MAIL FROM:<<bad>").await.0, 501);
    assert_eq!(smtp.cmd("BDAT 10 LAST").await.0, 502);
    assert_eq!(smtp.cmd("VRFY someone").await.0, 252);
    assert_eq!(smtp.cmd("NOOP").await.0, 250);
    let (code, text) = smtp.cmd(&format!("NOOP {}", "x".repeat(5000))).await;
    assert_eq!((code, &text[..5]), (500, "5.5.2"), "line too long");
    assert_eq!(smtp.cmd("NOOP").await.0, 250, "the session goes on");

    // Dot-stuffing, a bare-LF "." that must not end the data, 8-bit text.
    let body = "Subject: edges\r\nFrom: desk@broker.example\r\n\r\n.leading dot\r\nbare\n.\nstill inside\r\nünïcödé ✓\r\n";
    assert_eq!(
        smtp.cmd(&format!("MAIL FROM:<{DESK}> BODY=8BITMIME"))
            .await
            .0,
        250
    );
    assert_eq!(smtp.cmd(&format!("RCPT TO:<{address}>")).await.0, 250);
    assert_eq!(smtp.cmd("DATA").await.0, 354);
    smtp.send(b"Subject: edges\r\nFrom: desk@broker.example\r\n\r\n..leading dot\r\nbare\n.\nstill inside\r\n").await;
    smtp.send("ünïcödé ✓\r\n.\r\n".as_bytes()).await;
    assert_eq!(smtp.reply().await.0, 250);
    s.run_jobs();
    let docs = s.list_documents(key, "").await;
    assert!(s
        .download(key, docs[0]["id"].as_str().unwrap())
        .await
        .ends_with(body.as_bytes()));
    assert_eq!(smtp.cmd("QUIT").await.0, 221);
}

#[tokio::test]
async fn oversize_messages_are_refused_and_nothing_is_kept() {
    let s = TestServer::builder()
        .manual_jobs()
        .config("[smtp]\nmax_message_bytes = 10000\nmax_recipients = 2")
        .start()
        .await;
    let (_, address) = inbox(&s, &s.admin_key, &[DESK]).await;
    let (mut smtp, ..) = Smtp::connect(&s.smtp).await;
    let (_, ehlo) = smtp.cmd("EHLO c").await;
    assert!(ehlo.lines().any(|l| l == "SIZE 10000"), "{ehlo}");
    let (code, text) = smtp.cmd(&format!("MAIL FROM:<{DESK}> SIZE=20000")).await;
    assert_eq!((code, &text[..5]), (552, "5.3.4"));
    let big = message(DESK, &address, "big", "big@x", &"x".repeat(20_000));
    let (code, text) = smtp.deliver(DESK, &[&address], &big).await;
    assert_eq!((code, &text[..5]), (552, "5.3.4"));
    assert_eq!(smtp.cmd("NOOP").await.0, 250, "the session goes on");
    assert_eq!(smtp.cmd(&format!("MAIL FROM:<{DESK}>")).await.0, 250);
    let (_, other) = inbox(&s, &s.admin_key, &[DESK]).await;
    let (_, third) = inbox(&s, &s.admin_key, &[DESK]).await;
    assert_eq!(smtp.cmd(&format!("RCPT TO:<{address}>")).await.0, 250);
    assert_eq!(smtp.cmd(&format!("RCPT TO:<{other}>")).await.0, 250);
    let (code, text) = smtp.cmd(&format!("RCPT TO:<{third}>")).await;
    assert_eq!((code, &text[..5]), (452, "4.5.3"));
    assert!(s.list_documents(&s.admin_key, "").await.is_empty());
    assert!(s.blob_files().is_empty());
}

#[tokio::test]
async fn too_many_sessions_get_421() {
    let s = TestServer::builder()
        .config("[smtp]\nmax_sessions = 2")
        .start()
        .await;
    let (_a, ..) = Smtp::connect(&s.smtp).await;
    let (_b, ..) = Smtp::connect(&s.smtp).await;
    let (_, code, _) = Smtp::connect(&s.smtp).await;
    assert_eq!(code, 421);
}

#[tokio::test]
async fn lettre_delivers_like_any_mail_client() {
    use lettre::message::{header::ContentType, Attachment, MultiPart, SinglePart};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let s = server().await;
    let (_, address) = inbox(&s, &s.admin_key, &[DESK]).await;
    let (host, port) = s.smtp.rsplit_once(':').unwrap();
    let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port.parse().unwrap())
        .build();
    let email = Message::builder()
        .from(DESK.parse().unwrap())
        .to(address.parse().unwrap())
        .subject("Weekly rates")
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain("See attached.".to_string()))
                .singlepart(Attachment::new("rates.csv".into()).body(
                    b"tenor,rate\n2y,3.1\n".to_vec(),
                    ContentType::parse("text/csv").unwrap(),
                )),
        )
        .unwrap();
    mailer.send(email).await.expect("lettre delivers");
    s.run_jobs();
    let docs = s
        .list_documents(&s.admin_key, "sort_by=file_name&sort_order=asc")
        .await;
    let names: Vec<&str> = docs
        .iter()
        .map(|d| d["file_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["rates.csv", "Weekly rates.eml"]);
}

#[tokio::test]
async fn swaks_delivers_too() {
    let Some(swaks) = swaks() else { return };
    let s = server().await;
    let (_, address) = inbox(&s, &s.admin_key, &[DESK]).await;
    let (host, port) = s.smtp.rsplit_once(':').unwrap();
    let args = [
        "--server",
        host,
        "--port",
        port,
        "--from",
        DESK,
        "--to",
        &address,
        "--header",
        "Subject: via swaks",
        "--body",
        "independent client",
    ]
    .map(str::to_string);
    let out =
        tokio::task::spawn_blocking(move || std::process::Command::new(swaks).args(args).output())
            .await
            .unwrap()
            .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("250 2.0.0 Message stored"));
    let docs = s.list_documents(&s.admin_key, "").await;
    assert_eq!(docs[0]["file_metadata"]["subject"], "via swaks");
}

#[tokio::test]
async fn malformed_mime_never_breaks_the_server_or_loses_the_raw_message() {
    let s = server().await;
    let key = &s.admin_key;
    let (_, address) = inbox(&s, key, &[DESK]).await;
    let corpus: Vec<Vec<u8>> = vec![
        b"From: desk@broker.example\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\ntruncated".to_vec(),
        b"From: desk@broker.example\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=bad.pdf\r\n\r\n@@@not base64@@@\r\n".to_vec(),
        format!("From: desk@broker.example\r\nX-Huge: {}\r\n\r\nbody\r\n", "h".repeat(300_000)).into_bytes(),
        b"From: desk@broker.example\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@x\r\nContent-Type: multipart/mixed; boundary=y\r\n\r\n--y\r\nContent-Disposition: attachment; filename=inner.txt\r\n\r\ninner\r\n--y--\r\n".to_vec(),
        b"no headers at all, just text\r\n".to_vec(),
        (0u8..=255).cycle().take(5000).filter(|b| *b != b'\n' && *b != b'\r').collect(),
        b"From: desk@broker.example\r\nContent-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--\r\n".to_vec(),
    ];
    let mut smtp = Smtp::session(&s.smtp).await;
    for (i, raw) in corpus.iter().enumerate() {
        let (code, text) = smtp.deliver(DESK, &[&address], raw).await;
        assert_eq!(code, 250, "message {i}: {text}");
    }
    s.run_jobs();
    let docs = s.list_documents(key, "origin=email").await;
    let emls: Vec<&Value> = docs
        .iter()
        .filter(|d| d["content_type"] == "message/rfc822")
        .collect();
    assert_eq!(emls.len(), corpus.len(), "every raw message is kept");
    for d in &emls {
        let raw = s.download(key, d["id"].as_str().unwrap()).await;
        assert!(
            corpus
                .iter()
                .any(|c| dot_stuff(&raw).ends_with(&dot_stuff(c))),
            "stored bytes end with a message we sent"
        );
    }
    assert_eq!(s.get_without_key("/healthz").await.status(), 200);
    let dead = s.list_jobs();
    assert_eq!(dead.lines().count(), 1, "no job failed: {dead}");
}

#[tokio::test]
async fn starttls_with_a_self_signed_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let s = TestServer::builder()
        .manual_jobs()
        .config(&format!(
            "[smtp]\ntls_cert = {:?}\ntls_key = {:?}",
            cert_path.display().to_string(),
            key_path.display().to_string()
        ))
        .start()
        .await;
    let (_, address) = inbox(&s, &s.admin_key, &[DESK]).await;

    let (mut plain, ..) = Smtp::connect(&s.smtp).await;
    let (_, ehlo) = plain.cmd("EHLO c").await;
    assert!(ehlo.lines().any(|l| l == "STARTTLS"), "{ehlo}");
    assert_eq!(plain.cmd("STARTTLS").await.0, 220);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector
        .connect(name, plain.stream.into_inner())
        .await
        .expect("TLS handshake");
    let mut secure = Smtp {
        stream: tokio::io::BufReader::new(tls),
    };
    let (code, ehlo) = secure.cmd("EHLO c").await;
    assert_eq!(code, 250);
    assert!(!ehlo.contains("STARTTLS"), "not offered twice: {ehlo}");
    assert_eq!(secure.cmd("STARTTLS").await.0, 503);
    let (code, _) = secure
        .deliver_from_desk(&address, "secret", "tls@x", "over TLS")
        .await;
    assert_eq!(code, 250);
    assert_eq!(s.list_documents(&s.admin_key, "").await.len(), 1);
}

#[tokio::test]
async fn messages_acknowledged_before_a_crash_are_all_there_exactly_once() {
    let mut s = server().await;
    let (_, address) = inbox(&s, &s.admin_key, &[DESK]).await;
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for client in 0..4 {
        let (smtp_addr, address, acked) = (s.smtp.clone(), address.clone(), acked.clone());
        clients.push(tokio::spawn(async move {
            let Ok(tcp) = tokio::net::TcpStream::connect(&smtp_addr).await else { return };
            let mut smtp = Smtp { stream: tokio::io::BufReader::new(tcp) };
            let mut reply = String::new();
            let _ = tokio::io::AsyncBufReadExt::read_line(&mut smtp.stream, &mut reply).await;
            let _ = try_cmd(&mut smtp, "EHLO crash").await;
            for n in 0..1000 {
                let id = format!("{client}-{n}@crash.example");
                let body = format!(
                    "From: {DESK}\r\nTo: {address}\r\nSubject: n{n}\r\nMessage-ID: <{id}>\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n\
                     --z\r\nContent-Type: text/plain\r\n\r\n{}\r\n--z\r\nContent-Disposition: attachment; filename=a{n}.txt\r\n\r\nattachment {n}\r\n--z--\r\n",
                    "research ".repeat(500)
                );
                let script = format!("MAIL FROM:<{DESK}>\r\nRCPT TO:<{address}>\r\nDATA\r\n");
                if !send_all(&mut smtp, script.as_bytes()).await { return }
                for _ in 0..3 {
                    match try_reply(&mut smtp).await { Some(_) => {}, None => return }
                }
                if !send_all(&mut smtp, &dot_stuff(body.as_bytes())).await || !send_all(&mut smtp, b".\r\n").await { return }
                match try_reply(&mut smtp).await {
                    Some(250) => acked.lock().unwrap().push(id),
                    _ => return,
                }
            }
        }));
    }
    // Kill the server mid-stream, once a good number of messages are in.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while acked.lock().unwrap().len() < 40 {
        assert!(std::time::Instant::now() < deadline, "deliveries too slow");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    s.kill();
    for c in clients {
        let _ = c.await;
    }
    let acked = acked.lock().unwrap().clone();
    eprintln!("{} messages acknowledged before SIGKILL", acked.len());

    s.restart();
    s.run_jobs();
    let all = s.list_documents(&s.admin_key, "").await;
    let emls: Vec<&Value> = all
        .iter()
        .filter(|d| d["content_type"] == "message/rfc822")
        .collect();
    for id in &acked {
        let n = emls
            .iter()
            .filter(|d| d["file_metadata"]["message_id"] == id.as_str())
            .count();
        assert_eq!(
            n, 1,
            "message {id} was acknowledged and must be stored exactly once"
        );
    }
    assert!(
        all.iter().all(|d| d["status"] == "completed"),
        "every document completed"
    );
    let attachments = all.len() - emls.len();
    assert_eq!(
        attachments,
        emls.len(),
        "every stored message got its attachment"
    );
}

async fn send_all<S: tokio::io::AsyncWrite + tokio::io::AsyncRead + Unpin>(
    smtp: &mut Smtp<S>,
    bytes: &[u8],
) -> bool {
    use tokio::io::AsyncWriteExt;
    smtp.stream.get_mut().write_all(bytes).await.is_ok()
}

async fn try_reply<S: tokio::io::AsyncWrite + tokio::io::AsyncRead + Unpin>(
    smtp: &mut Smtp<S>,
) -> Option<u16> {
    use tokio::io::AsyncBufReadExt;
    loop {
        let mut line = String::new();
        if smtp.stream.read_line(&mut line).await.ok()? == 0 || line.len() < 4 {
            return None;
        }
        if line.as_bytes()[3] == b' ' {
            return line[..3].parse().ok();
        }
    }
}

async fn try_cmd<S: tokio::io::AsyncWrite + tokio::io::AsyncRead + Unpin>(
    smtp: &mut Smtp<S>,
    cmd: &str,
) -> Option<u16> {
    if !send_all(smtp, format!("{cmd}\r\n").as_bytes()).await {
        return None;
    }
    try_reply(smtp).await
}

#[tokio::test]
async fn idle_sessions_are_closed_with_421() {
    let s = TestServer::builder()
        .config("[smtp]\ncommand_timeout = \"1s\"")
        .start()
        .await;
    let (mut smtp, ..) = Smtp::connect(&s.smtp).await;
    assert_eq!(smtp.cmd("EHLO c").await.0, 250);
    let (code, text) = smtp.reply().await; // nothing sent: the server gives up
    assert_eq!((code, &text[..5]), (421, "4.4.2"));
}

#[tokio::test]
async fn a_storage_failure_is_a_temporary_451_never_a_bounce() {
    // A local disk that fails; a stopped S3 server is tests/s3.rs.
    let s = TestServer::builder()
        .manual_jobs()
        .local_blobs()
        .start()
        .await;
    let (_, address) = inbox(&s, &s.admin_key, &[DESK]).await;
    let blobs = s.data_dir().join("blobs");
    std::fs::remove_dir_all(&blobs).unwrap();
    std::fs::write(&blobs, b"the disk is gone").unwrap();
    let mut smtp = Smtp::session(&s.smtp).await;
    for body in ["small".to_string(), "x".repeat(200_000)] {
        let (code, text) = smtp
            .deliver_from_desk(&address, "s", &format!("{}@x", body.len()), &body)
            .await;
        assert_eq!((code, &text[..5]), (451, "4.3.0"), "{}", body.len());
    }
    std::fs::remove_file(&blobs).unwrap();
    std::fs::create_dir(&blobs).unwrap();
    let (code, _) = smtp
        .deliver_from_desk(&address, "s", "retry@x", "small")
        .await;
    assert_eq!(code, 250, "the retry succeeds once storage is back");
}

#[tokio::test]
async fn a_crlf_split_across_reads_still_ends_lines() {
    let s = server().await;
    let (_, address) = inbox(&s, &s.admin_key, &[DESK]).await;
    let mut smtp = Smtp::session(&s.smtp).await;
    assert_eq!(smtp.cmd(&format!("MAIL FROM:<{DESK}>")).await.0, 250);
    assert_eq!(smtp.cmd(&format!("RCPT TO:<{address}>")).await.0, 250);
    assert_eq!(smtp.cmd("DATA").await.0, 354);
    // The server reads DATA lines in pieces of at most 64 KiB: make the CR
    // the last byte of one piece and the LF the first of the next.
    let header = "Subject: long\r\n\r\n";
    let long_line = "y".repeat(64 * 1024 - 1);
    smtp.send(format!("{header}{long_line}\r\n..dot\r\n.\r\n").as_bytes())
        .await;
    let (code, text) = smtp.reply().await;
    assert_eq!(code, 250, "{text}");
    s.run_jobs();
    let docs = s.list_documents(&s.admin_key, "").await;
    let stored = s
        .download(&s.admin_key, docs[0]["id"].as_str().unwrap())
        .await;
    assert!(
        stored.ends_with(b"\r\n.dot\r\n"),
        "unstuffed after the split CRLF"
    );
}
