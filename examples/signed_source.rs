//! A load generator for `bench/smtp.py`: like Postfix's smtp-source, but
//! every message is distinct and DKIM-signed (rsa-sha256, relaxed), so a
//! receiver that authenticates senders has real work to do.
//!
//! `signed_source SERVER MESSAGES SESSIONS SIZE FROM TO KEY_DER DOMAIN SELECTOR`
//! (KEY_DER: an RSA private key, PKCS#1 DER as `openssl genpkey -outform DER`
//! writes it). Signs all messages first, then sends them over SESSIONS
//! sessions and prints the seconds the sending took.

use mail_auth::common::crypto::{RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [server, messages, sessions, size, from, to, key, domain, selector] = &args[..] else {
        eprintln!(
            "usage: signed_source SERVER MESSAGES SESSIONS SIZE FROM TO KEY_DER DOMAIN SELECTOR"
        );
        std::process::exit(2);
    };
    let (messages, sessions, size): (usize, usize, usize) = (
        messages.parse().unwrap(),
        sessions.parse().unwrap(),
        size.parse().unwrap(),
    );
    let der = std::fs::read(key).expect("the key file");
    let run = uuid::Uuid::now_v7().simple().to_string();
    let line = "x".repeat(76);
    let body: String = std::iter::repeat_n(format!("{line}\r\n"), size / 78 + 1).collect();
    let all: Vec<Vec<u8>> = (0..messages)
        .map(|i| {
            let key = RsaKey::<Sha256>::from_key_der(rustls::pki_types::PrivateKeyDer::Pkcs1(
                der.clone().into(),
            ))
            .expect("an RSA key");
            let message = format!(
                "From: <{from}>\r\nTo: <{to}>\r\nSubject: bench {i}\r\nMessage-ID: <{run}.{i}@{domain}>\r\n\
                 Date: Wed, 11 Feb 2026 09:00:00 +0000\r\n\r\n{body}"
            );
            let signature = DkimSigner::from_key(key)
                .domain(domain)
                .selector(selector)
                .headers(["From", "To", "Subject", "Message-ID", "Date"])
                .header_canonicalization(Canonicalization::Relaxed)
                .body_canonicalization(Canonicalization::Relaxed)
                .sign(message.as_bytes())
                .expect("signs");
            let mut out = signature.to_header().into_bytes();
            out.extend_from_slice(message.as_bytes());
            out.extend_from_slice(b".\r\n");
            out
        })
        .collect();
    let all = Arc::new(all);
    let next = Arc::new(AtomicUsize::new(0));
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..sessions)
        .map(|_| {
            let (all, next) = (all.clone(), next.clone());
            let (server, from, to) = (server.clone(), from.clone(), to.clone());
            tokio::spawn(async move {
                let mut c = BufReader::new(TcpStream::connect(&server).await.expect("connects"));
                expect(&mut c, 220).await;
                command(&mut c, "EHLO bench.example\r\n", 250).await;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(message) = all.get(i) else { break };
                    command(&mut c, &format!("MAIL FROM:<{from}>\r\n"), 250).await;
                    command(&mut c, &format!("RCPT TO:<{to}>\r\n"), 250).await;
                    command(&mut c, "DATA\r\n", 354).await;
                    c.get_mut().write_all(message).await.unwrap();
                    expect(&mut c, 250).await;
                }
                command(&mut c, "QUIT\r\n", 221).await;
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("a session failed");
    }
    println!("{:.3}", started.elapsed().as_secs_f64());
}

async fn command(c: &mut BufReader<TcpStream>, line: &str, code: u16) {
    c.get_mut().write_all(line.as_bytes()).await.unwrap();
    expect(c, code).await;
}

/// Reads one (multi-line) reply; it must have `code`.
async fn expect(c: &mut BufReader<TcpStream>, code: u16) {
    loop {
        let mut line = String::new();
        c.read_line(&mut line).await.unwrap();
        assert!(
            line.starts_with(&code.to_string()),
            "expected {code}, got {line:?}"
        );
        if line.as_bytes().get(3) != Some(&b'-') {
            return;
        }
    }
}
