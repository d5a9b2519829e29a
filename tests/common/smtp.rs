//! A raw SMTP client over a real socket, for the protocol's edges.

use super::DESK;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Smtp<S> {
    pub stream: BufReader<S>,
}

impl Smtp<TcpStream> {
    /// Connects and reads the greeting.
    pub async fn connect(addr: &str) -> (Self, u16, String) {
        let tcp = TcpStream::connect(addr).await.expect("SMTP connects");
        let mut c = Smtp {
            stream: BufReader::new(tcp),
        };
        let (code, text) = c.reply().await;
        (c, code, text)
    }

    /// Connects and says EHLO, for tests about what comes after.
    pub async fn session(addr: &str) -> Self {
        let (mut c, ..) = Self::connect(addr).await;
        let (code, text) = c.cmd("EHLO c").await;
        assert_eq!(code, 250, "EHLO: {text}");
        c
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Smtp<S> {
    pub async fn send(&mut self, raw: &[u8]) {
        self.stream.get_mut().write_all(raw).await.unwrap();
        self.stream.get_mut().flush().await.unwrap();
    }

    /// One reply: its code and its lines' text joined by `\n`.
    pub async fn reply(&mut self) -> (u16, String) {
        let mut text = Vec::new();
        loop {
            let mut line = String::new();
            let n = self.stream.read_line(&mut line).await.unwrap();
            assert!(n > 0, "connection closed while waiting for a reply");
            let code: u16 = line[..3]
                .parse()
                .unwrap_or_else(|_| panic!("bad reply {line:?}"));
            text.push(line[4..].trim_end().to_string());
            if line.as_bytes()[3] == b' ' {
                return (code, text.join("\n"));
            }
        }
    }

    /// Sends one command line and reads its reply.
    pub async fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// MAIL, RCPT, DATA and the message (dot-stuffed here); the final reply.
    pub async fn deliver(&mut self, from: &str, to: &[&str], message: &[u8]) -> (u16, String) {
        let (code, text) = self.cmd(&format!("MAIL FROM:<{from}>")).await;
        assert_eq!(code, 250, "MAIL: {text}");
        for rcpt in to {
            let (code, text) = self.cmd(&format!("RCPT TO:<{rcpt}>")).await;
            assert_eq!(code, 250, "RCPT {rcpt}: {text}");
        }
        let (code, text) = self.cmd("DATA").await;
        assert_eq!(code, 354, "DATA: {text}");
        self.send(&dot_stuff(message)).await;
        self.send(b".\r\n").await;
        self.reply().await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Smtp<S> {
    /// Delivers a small message from `DESK` to `to`; the final reply.
    pub async fn deliver_from_desk(
        &mut self,
        to: &str,
        subject: &str,
        message_id: &str,
        body: &str,
    ) -> (u16, String) {
        let note = message(DESK, to, subject, message_id, body);
        self.deliver(DESK, &[to], &note).await
    }
}

/// Dot-stuffs a message and makes sure it ends with CRLF.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 16);
    let mut line_start = true;
    for &b in message {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A small RFC 5322 message.
pub fn message(from: &str, to: &str, subject: &str, message_id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Desk <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         Date: Wed, 11 Feb 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}
