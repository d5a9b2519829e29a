//! Contract §12, sender authentication: SPF, DKIM, DMARC and ARC on mail to
//! an inbox, against real DNS records served by a private dnsmasq, with
//! messages signed by keys made for the test.

mod common;

use common::dns::{forward_with_arc, LocalDns, Sign, SigningKey, SilentDns};
use common::smtp::message;
use common::{inbox_address, swaks, TestServer, DESK};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Keys of the domains in `records`.
struct Keys {
    rsa: SigningKey,
    ed: SigningKey,
    gateway: SigningKey,
    rogue: SigningKey,
}

impl Keys {
    fn new() -> Self {
        Self {
            rsa: SigningKey::rsa(),
            ed: SigningKey::ed25519(),
            gateway: SigningKey::rsa(),
            rogue: SigningKey::rsa(),
        }
    }

    /// The DNS of the test's senders. 127.0.0.1 (where the tests send from)
    /// is authorised only by `spf-pass.example`.
    fn records(&self) -> Vec<(String, String)> {
        [
            ("broker.example", "v=spf1 ip4:192.0.2.1 -all"),
            ("_dmarc.broker.example", "v=DMARC1; p=reject"),
            ("rsa._domainkey.broker.example", &self.rsa.record),
            ("ed._domainkey.broker.example", &self.ed.record),
            ("rsa._domainkey.other.example", &self.rsa.record),
            ("other.example", "v=spf1 -all"),
            ("lax.example", "v=spf1 ip4:192.0.2.1 -all"),
            ("_dmarc.lax.example", "v=DMARC1; p=none"),
            ("rsa._domainkey.lax.example", &self.rsa.record),
            ("spf-pass.example", "v=spf1 ip4:127.0.0.1 -all"),
            ("spf-fail.example", "v=spf1 ip4:192.0.2.1 -all"),
            ("spf-soft.example", "v=spf1 ip4:192.0.2.1 ~all"),
            ("relayed.example", "v=spf1 ip4:192.0.2.10 -all"),
            ("arc._domainkey.gw.example", &self.gateway.record),
            ("arc._domainkey.rogue.example", &self.rogue.record),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
    }

    fn rsa<'a>(&'a self, domain: &'a str) -> Sign<'a> {
        Sign {
            key: &self.rsa,
            domain,
            selector: "rsa",
            relaxed: true,
            expires_in: 0,
        }
    }
}

/// Every sender the tests use, allowed by one inbox.
const ALLOWED: &[&str] = &[
    DESK,
    "desk@lax.example",
    "desk@spf-pass.example",
    "desk@spf-fail.example",
    "desk@spf-soft.example",
    "desk@relayed.example",
];

struct World {
    keys: Keys,
    dns: LocalDns,
    s: TestServer,
    connector: Value,
    inbox: String,
}

impl World {
    /// A server with `sender_auth = mode` and `[smtp]` keys `extra`, the
    /// test DNS, and an inbox allowing `ALLOWED`.
    async fn start(mode: &str, extra: &str) -> Self {
        Self::start_on(TestServer::builder(), mode, extra).await
    }

    /// `start` with a server of `builder`.
    async fn start_on(builder: common::server::TestServerBuilder, mode: &str, extra: &str) -> Self {
        let keys = Keys::new();
        let dns = LocalDns::start(&keys.records());
        let s = builder
            .manual_jobs()
            .config(&dns.smtp_config(mode, extra))
            .start()
            .await;
        let c = s
            .create_connector(
                &s.admin_key,
                &json!({"type": "email", "label": "Broker mail", "config": {"allowed_emails": ALLOWED}}),
            )
            .await;
        let inbox = inbox_address(&c);
        Self {
            keys,
            dns,
            s,
            connector: c,
            inbox,
        }
    }

    /// A message from `from` to the inbox.
    fn note(&self, from: &str, id: &str) -> Vec<u8> {
        message(
            from,
            &self.inbox,
            &format!("Note {id}"),
            &format!("{id}@test"),
            "Figures attached.",
        )
    }

    /// Messages from `DESK` with a valid signature of another domain
    /// (`unaligned`), a body changed after signing (`broken`) and a
    /// signature that has expired (`expired`).
    async fn signatures_that_do_not_vouch(&self) -> [Vec<u8>; 3] {
        let unaligned = self
            .keys
            .rsa("other.example")
            .signed(&self.note(DESK, "unaligned"));
        let mut broken = self
            .keys
            .rsa("broker.example")
            .signed(&self.note(DESK, "broken"));
        broken.extend_from_slice(b"P.S. changed after signing\r\n");
        let mut expiring = self.keys.rsa("broker.example");
        expiring.expires_in = 1;
        let expired = expiring.signed(&self.note(DESK, "expired"));
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        [unaligned, broken, expired]
    }

    async fn send(&self, envelope: &str, message: &[u8]) -> (u16, String) {
        self.s.deliver(envelope, &[&self.inbox], message).await
    }

    /// The stored `.eml` whose Message-ID is `<id@test>`, if any.
    async fn stored(&self, id: &str) -> Option<Value> {
        let docs = self.s.list_documents(&self.s.admin_key, "").await;
        docs.into_iter().find(|d| {
            d["file_metadata"]["message_id"] == format!("{id}@test")
                && d["content_type"] == "message/rfc822"
        })
    }

    async fn authentication(&self, id: &str) -> Value {
        let doc = self
            .stored(id)
            .await
            .unwrap_or_else(|| panic!("{id} stored"));
        doc["file_metadata"]["authentication"].clone()
    }

    async fn download(&self, id: &str) -> String {
        let doc = self.stored(id).await.unwrap();
        // Downloadable once processed.
        self.s.run_jobs();
        let bytes = self
            .s
            .download(&self.s.admin_key, doc["id"].as_str().unwrap())
            .await;
        String::from_utf8(bytes).unwrap()
    }
}

fn results(spf: &str, dkim: &str, dmarc: &str, arc: &str) -> Value {
    json!({"spf": spf, "dkim": dkim, "dmarc": dmarc, "arc": arc})
}

const STORED: (u16, &str) = (250, "2.0.0 Message stored");
const AUTH_FAILED: (u16, &str) = (550, "5.7.1 Sender authentication failed");

fn reply(r: &(u16, String)) -> (u16, &str) {
    (r.0, r.1.as_str())
}

#[tokio::test]
async fn aligned_dkim_passes_with_rsa_and_ed25519_relaxed_and_simple() {
    let w = World::start("enforce", "").await;
    let cases = [
        ("rsa-relaxed", &w.keys.rsa, "rsa", true),
        ("rsa-simple", &w.keys.rsa, "rsa", false),
        ("ed-relaxed", &w.keys.ed, "ed", true),
        ("ed-simple", &w.keys.ed, "ed", false),
    ];
    for (id, key, selector, relaxed) in cases {
        let sign = Sign {
            key,
            domain: "broker.example",
            selector,
            relaxed,
            expires_in: 3600,
        };
        let signed = sign.signed(&w.note(DESK, id));
        // 127.0.0.1 is not in broker.example's SPF: the signature alone passes.
        assert_eq!(reply(&w.send(DESK, &signed).await), STORED, "{id}");
        assert_eq!(
            w.authentication(id).await,
            results("fail", "pass", "pass", "none"),
            "{id}"
        );
        let eml = w.download(id).await;
        let doc = w.stored(id).await.unwrap();
        assert_eq!(doc["raw_size"], eml.len());
        assert_eq!(doc["sha256"], hex::encode(Sha256::digest(eml.as_bytes())));
        assert!(eml.ends_with(std::str::from_utf8(&signed).unwrap()));
        let header = eml.split("\r\nReturn-Path:").next().unwrap();
        assert!(
            header.starts_with("Authentication-Results: inlet;"),
            "{eml}"
        );
        for part in [
            "spf=fail",
            "smtp.mailfrom=desk@broker.example",
            "dkim=pass header.d=broker.example",
            &format!("header.s={selector}"),
            "dmarc=pass header.from=broker.example policy.dmarc=reject",
            "arc=none",
        ] {
            assert!(header.contains(part), "{part} in {header}");
        }
        assert!(
            eml.contains("\r\nDKIM-Signature: "),
            "the message follows unchanged"
        );
    }
}

#[tokio::test]
async fn a_forged_from_of_an_allowed_address_is_refused_and_stored_nowhere() {
    let w = World::start("enforce", "").await;
    // Unsigned, from a host broker.example does not authorise, through
    // both paths: the header From and the envelope sender.
    for envelope in ["bounce@elsewhere.example", DESK, ""] {
        let forged = w.note(DESK, "forged");
        assert_eq!(
            reply(&w.send(envelope, &forged).await),
            AUTH_FAILED,
            "{envelope}"
        );
    }
    let [unaligned, broken, expired] = w.signatures_that_do_not_vouch().await;
    for (what, msg) in [
        ("unaligned d=", unaligned),
        ("broken body hash", broken),
        ("expired signature", expired),
    ] {
        assert_eq!(reply(&w.send(DESK, &msg).await), AUTH_FAILED, "{what}");
    }
    assert!(w.s.list_documents(&w.s.admin_key, "").await.is_empty());
    assert!(w.s.blob_files().is_empty(), "{:?}", w.s.blob_files());
    // The connector's activity log says why, without the message itself.
    let events = w.s.connector_events(&w.s.admin_key, &w.connector).await;
    assert!(!events.is_empty());
    for e in &events {
        assert_eq!(
            (&e["type"], &e["reason"], &e["smtp_code"]),
            (
                &json!("email_rejected"),
                &json!("sender_auth_failed"),
                &json!(550)
            ),
            "{e}"
        );
        assert!(!e.to_string().contains("Figures attached"), "{e}");
    }
}

#[tokio::test]
async fn report_mode_accepts_and_records_what_the_checks_found() {
    let w = World::start("report", "").await;
    let [unaligned, broken, expired] = w.signatures_that_do_not_vouch().await;
    let cases = [
        (
            "forged",
            DESK,
            w.note(DESK, "forged"),
            results("fail", "none", "fail", "none"),
        ),
        (
            "unaligned",
            DESK,
            unaligned,
            results("fail", "pass", "fail", "none"),
        ),
        (
            "broken",
            DESK,
            broken,
            results("fail", "neutral", "fail", "none"),
        ),
        (
            "expired",
            DESK,
            expired,
            results("fail", "neutral", "fail", "none"),
        ),
        (
            "spf-soft",
            "desk@spf-soft.example",
            w.note("desk@spf-soft.example", "spf-soft"),
            results("softfail", "none", "none", "none"),
        ),
        (
            "lax",
            "desk@lax.example",
            w.note("desk@lax.example", "lax"),
            results("fail", "none", "fail", "none"),
        ),
    ];
    for (id, envelope, msg, expected) in cases {
        assert_eq!(reply(&w.send(envelope, &msg).await), STORED, "{id}");
        assert_eq!(w.authentication(id).await, expected, "{id}");
    }
}

#[tokio::test]
async fn spf_pass_fail_and_softfail_for_mail_from_localhost() {
    let w = World::start("enforce", "").await;
    let cases = [
        ("spf-pass", STORED),
        ("spf-fail", AUTH_FAILED),
        ("spf-soft", AUTH_FAILED),
    ];
    for (domain, expected) in cases {
        let sender = format!("desk@{domain}.example");
        let msg = w.note(&sender, domain);
        assert_eq!(reply(&w.send(&sender, &msg).await), expected, "{domain}");
    }
    // No DMARC record: aligned SPF is enough for the header From as well.
    assert_eq!(
        w.authentication("spf-pass").await,
        results("pass", "none", "none", "none")
    );
    assert!(w.download("spf-pass").await.contains("spf=pass"));
    assert!(w.stored("spf-fail").await.is_none() && w.stored("spf-soft").await.is_none());
}

#[tokio::test]
async fn dmarc_p_none_and_p_reject_both_need_a_pass() {
    let w = World::start("enforce", "").await;
    for domain in ["lax.example", "broker.example"] {
        let sender = format!("desk@{domain}");
        let forged = w.note(&sender, &format!("forged-{domain}"));
        assert_eq!(
            reply(&w.send(&sender, &forged).await),
            AUTH_FAILED,
            "{domain}"
        );
        let signed = w
            .keys
            .rsa(domain)
            .signed(&w.note(&sender, &format!("signed-{domain}")));
        assert_eq!(reply(&w.send(&sender, &signed).await), STORED, "{domain}");
    }
    assert!(w
        .download("signed-lax.example")
        .await
        .contains("dmarc=pass header.from=lax.example policy.dmarc=none"));
}

#[tokio::test]
async fn the_envelope_sender_counts_when_spf_or_an_aligned_signature_vouches_for_it() {
    let w = World::start("enforce", "").await;
    // The header From is not listed; the envelope sender is.
    let newsletter = "news@mailer.example";
    let by_spf = w.note(newsletter, "by-spf");
    assert_eq!(
        reply(&w.send("desk@spf-pass.example", &by_spf).await),
        STORED
    );
    let by_dkim = w
        .keys
        .rsa("broker.example")
        .signed(&w.note(newsletter, "by-dkim"));
    assert_eq!(reply(&w.send(DESK, &by_dkim).await), STORED);
    // Neither: SPF fails for broker.example and the signature is another domain's.
    let neither = w
        .keys
        .rsa("other.example")
        .signed(&w.note(newsletter, "neither"));
    assert_eq!(reply(&w.send(DESK, &neither).await), AUTH_FAILED);
    // An unlisted sender stays the allow-list's refusal.
    let unlisted = w.note(newsletter, "unlisted");
    assert_eq!(
        reply(&w.send("someone@spf-pass.example", &unlisted).await),
        (550, "5.7.1 Sender not allowed for this inbox")
    );
    assert_eq!(w.s.list_documents(&w.s.admin_key, "").await.len(), 2);
}

#[tokio::test]
async fn arc_from_a_trusted_sealer_vouches_and_from_an_untrusted_one_does_not() {
    let w = World::start("enforce", "trusted_arc_sealers = [\"gw.example\"]").await;
    let localhost = "192.0.2.1".parse().unwrap();
    for (sealer, key, expected) in [
        ("gw.example", &w.keys.gateway, STORED),
        ("rogue.example", &w.keys.rogue, AUTH_FAILED),
    ] {
        let original = w.keys.rsa("broker.example").signed(&w.note(DESK, sealer));
        let forwarded = forward_with_arc(&w.dns, &original, (localhost, DESK), sealer, key).await;
        let bounce = format!("bounce@{sealer}");
        assert_eq!(
            reply(&w.send(&bounce, &forwarded).await),
            expected,
            "{sealer}"
        );
    }
    // The gateway changed the subject: DKIM and DMARC fail here, ARC passes.
    assert_eq!(
        w.authentication("gw.example").await,
        results("none", "fail", "fail", "pass")
    );
    assert!(w.stored("rogue.example").await.is_none());
}

/// A server under `enforce` whose DNS never answers (lookups give up after
/// `dns_timeout`), with `[smtp]` keys `extra`, and an inbox allowing `DESK`.
async fn without_dns(dns_timeout: &str, extra: &str) -> (SilentDns, TestServer, Value, String) {
    let silent = SilentDns::start();
    let s = TestServer::builder()
        .manual_jobs()
        .config(&format!(
            "[smtp]\nsender_auth = \"enforce\"\ndns_servers = [\"{}\"]\n\
             dns_timeout = \"{dns_timeout}\"\n{extra}",
            silent.addr
        ))
        .start()
        .await;
    let c = s
        .create_connector(
            &s.admin_key,
            &json!({"type": "email", "label": "Broker mail", "config": {"allowed_emails": [DESK]}}),
        )
        .await;
    let inbox = inbox_address(&c);
    (silent, s, c, inbox)
}

#[tokio::test]
async fn a_dns_timeout_is_a_temporary_451_and_nothing_is_stored() {
    let (_dns, s, c, inbox) = without_dns("1s", "").await;
    let msg = message(DESK, &inbox, "Note", "timeout@test", "body");
    let started = std::time::Instant::now();
    let (code, text) = s.deliver(DESK, &[&inbox], &msg).await;
    assert_eq!((code, &text[..5]), (451, "4.4.3"), "{text}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert!(s.list_documents(&s.admin_key, "").await.is_empty());
    assert!(s.blob_files().is_empty());
    let events = s.connector_events(&s.admin_key, &c).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (&events[0]["reason"], &events[0]["smtp_code"]),
        (&json!("sender_auth_failed"), &json!(451))
    );
}

#[tokio::test]
async fn several_from_headers_are_refused_even_when_signed() {
    let w = World::start("enforce", "").await;
    let two = format!(
        "From: other@mailer.example\r\n{}",
        String::from_utf8(w.note(DESK, "two")).unwrap()
    );
    let signed = w.keys.rsa("broker.example").signed(two.as_bytes());
    assert_eq!(
        reply(&w.send(DESK, &signed).await),
        (550, "5.7.1 A message needs exactly one From mailbox")
    );
    assert!(w.s.list_documents(&w.s.admin_key, "").await.is_empty());
}

#[tokio::test]
async fn a_trusted_relay_hands_over_the_client_it_received_from() {
    let sender = "desk@relayed.example";
    for (relays, expected) in [
        ("trusted_relays = [\"127.0.0.0/8\"]", STORED),
        ("", AUTH_FAILED),
    ] {
        let w = World::start("enforce", relays).await;
        let relayed = format!(
            "Received: from mx.relayed.example (mx.relayed.example [192.0.2.10])\r\n\
             \tby relay.inbox.test (Postfix) with ESMTPS id 4AbC;\r\n\tWed, 11 Feb 2026 09:00:01 +0000\r\n{}",
            String::from_utf8(w.note(sender, "relayed")).unwrap()
        );
        assert_eq!(
            reply(&w.send(sender, relayed.as_bytes()).await),
            expected,
            "{relays}"
        );
        if expected == STORED {
            assert_eq!(
                w.authentication("relayed").await,
                results("pass", "none", "none", "none")
            );
            assert!(w.download("relayed").await.contains("192.0.2.10"));
        }
    }
}

#[tokio::test]
async fn documents_of_attachments_carry_the_authentication_too() {
    let w = World::start("enforce", "").await;
    let raw = format!(
        "From: Desk <{DESK}>\r\nTo: {}\r\nSubject: Pack\r\nMessage-ID: <pack@test>\r\n\
         Date: Wed, 11 Feb 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
         --b\r\nContent-Type: application/pdf; name=\"q3.pdf\"\r\nContent-Disposition: attachment; filename=\"q3.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjcKcmVzZWFyY2gK\r\n--b--\r\n",
        w.inbox
    );
    let signed = w.keys.rsa("broker.example").signed(raw.as_bytes());
    assert_eq!(reply(&w.send(DESK, &signed).await), STORED);
    w.s.run_jobs();
    let docs = w.s.list_documents(&w.s.admin_key, "").await;
    assert_eq!(docs.len(), 2, "{docs:?}");
    for d in &docs {
        assert_eq!(
            d["file_metadata"]["authentication"],
            results("fail", "pass", "pass", "none"),
            "{}",
            d["file_name"]
        );
    }
}

#[tokio::test]
async fn answers_are_cached_within_their_ttl() {
    let mut w = World::start("enforce", "").await;
    let first = w.keys.rsa("broker.example").signed(&w.note(DESK, "first"));
    assert_eq!(reply(&w.send(DESK, &first).await), STORED);
    // The DNS goes away; the same lookups are answered from the cache.
    w.dns = LocalDns::start(&[]);
    let second = w.keys.rsa("broker.example").signed(&w.note(DESK, "second"));
    assert_eq!(reply(&w.send(DESK, &second).await), STORED);
}

#[tokio::test]
async fn swaks_delivers_signed_mail_and_is_refused_a_forgery() {
    let Some(swaks) = swaks() else { return };
    let w = World::start("enforce", "").await;
    let dir = tempfile::tempdir().unwrap();
    let (host, port) = w.s.smtp.rsplit_once(':').unwrap();
    let signed = w
        .keys
        .rsa("broker.example")
        .signed(&w.note(DESK, "swaks-signed"));
    for (name, msg, expected) in [
        ("signed", signed, "250 2.0.0 Message stored"),
        (
            "forged",
            w.note(DESK, "swaks-forged"),
            "550 5.7.1 Sender authentication failed",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &msg).unwrap();
        let args: Vec<String> = [
            "--server", host, "--port", port, "--from", DESK, "--to", &w.inbox, "--data",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("@{}", path.display())])
        .collect();
        let swaks = swaks.clone();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(swaks).args(args).output()
        })
        .await
        .unwrap()
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(expected), "{name}: {stdout}");
    }
    assert_eq!(w.s.list_documents(&w.s.admin_key, "").await.len(), 1);
}

#[tokio::test]
async fn held_messages_keep_the_size_limit_and_a_storage_failure_is_451() {
    // A local disk that fails; a stopped S3 server is tests/s3.rs.
    let local = TestServer::builder().local_blobs();
    let w = World::start_on(local, "enforce", "max_message_bytes = 20000").await;
    let big = w.keys.rsa("broker.example").signed(&message(
        DESK,
        &w.inbox,
        "big",
        "big@test",
        &"x".repeat(30_000),
    ));
    let (code, _) = w.send(DESK, &big).await;
    assert_eq!(code, 552);
    let blobs = w.s.data_dir().join("blobs");
    std::fs::remove_dir_all(&blobs).unwrap();
    std::fs::write(&blobs, b"the disk is gone").unwrap();
    let signed = w.keys.rsa("broker.example").signed(&w.note(DESK, "disk"));
    let (code, text) = w.send(DESK, &signed).await;
    assert_eq!((code, &text[..5]), (451, "4.3.0"), "{text}");
    std::fs::remove_file(&blobs).unwrap();
    std::fs::create_dir(&blobs).unwrap();
    assert_eq!(reply(&w.send(DESK, &signed).await), STORED, "the retry");
    assert_eq!(w.s.list_documents(&w.s.admin_key, "").await.len(), 1);
}

#[tokio::test]
async fn a_large_signed_message_is_checked_and_stored_byte_for_byte() {
    let w = World::start("enforce", "max_message_bytes = 12000000").await;
    // Past what a held message keeps in memory: it waits in a spool file.
    let body = "Quarterly figures, line after line.\r\n".repeat(200_000);
    let signed = w.keys.rsa("broker.example").signed(&message(
        DESK,
        &w.inbox,
        "Big book",
        "large@test",
        &body,
    ));
    assert!(signed.len() > 7_000_000);
    assert_eq!(reply(&w.send(DESK, &signed).await), STORED);
    assert_eq!(
        w.authentication("large").await,
        results("fail", "pass", "pass", "none")
    );
    let stored = w.download("large").await;
    assert!(
        stored.starts_with("Authentication-Results: "),
        "{}",
        &stored[..200]
    );
    assert!(stored.ends_with(std::str::from_utf8(&signed).unwrap()));
    let doc = w.stored("large").await.unwrap();
    assert_eq!(doc["raw_size"], stored.len());
    assert_eq!(
        doc["sha256"],
        hex::encode(Sha256::digest(stored.as_bytes()))
    );
}

/// Anonymous memory (heap) of a process, in bytes: what a held message
/// would cost if it stayed in memory. Mapped spool files are not in it.
fn anonymous_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("RssAnon in /proc/<pid>/status");
    kb * 1024
}

#[tokio::test]
async fn messages_waiting_for_their_checks_do_not_stay_in_memory() {
    // DNS that never answers keeps every message waiting for its checks.
    let (_dns, s, _, inbox) = without_dns("4s", "max_message_bytes = 30000000").await;
    let before = anonymous_memory(s.pid());
    let body = "x".repeat(998) + "\r\n";
    let msg = message(DESK, &inbox, "Big", "held@test", &body.repeat(20_000));
    let sessions: Vec<_> = (0..6)
        .map(|_| {
            let (addr, msg, inbox) = (s.smtp.clone(), msg.clone(), inbox.clone());
            tokio::spawn(async move {
                let mut c = common::smtp::Smtp::session(&addr).await;
                c.deliver(DESK, &[&inbox], &msg).await
            })
        })
        .collect();
    // 6 × 20 MB are received and waiting; sample the heap until they answer.
    let mut peak = 0;
    while !sessions.iter().all(|t| t.is_finished()) {
        peak = peak.max(anonymous_memory(s.pid()));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for t in sessions {
        let (code, text) = t.await.unwrap();
        assert_eq!((code, &text[..5]), (451, "4.4.3"), "{text}");
    }
    let grown = peak.saturating_sub(before);
    assert!(
        grown < 40_000_000,
        "holding 120 MB of mail grew the heap by {grown} bytes"
    );
}
