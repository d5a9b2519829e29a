//! One SMTP session: the RFC 5321 state machine, pipelining, limits and
//! STARTTLS. Replies are queued and flushed when the client has sent all it
//! had (PIPELINING), and before any reply the client must wait for.

use super::data::{self, DataOutcome};
use super::load::Load;
use super::sender_auth::{Client, SenderAuth};
use crate::domain::{Connector, DocumentId, EventReason};
use crate::service::email::{self, Delivery, Recipient, StoredMessage};
use crate::service::events::{self, MailFacts};
use crate::service::AppState;
use smtp_proto::{Error as ParseError, Request};
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::Instrument;

/// How often a session waiting for a command checks how long it may wait.
const IDLE_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Serves one connection. When `stop` turns true, a session waiting for a
/// command is closed with 421; a message being received is finished first.
pub async fn serve(
    app: AppState,
    (load, auth): (&Load, &SenderAuth),
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    stop: watch::Receiver<bool>,
) {
    let span = tracing::info_span!("smtp", %peer, session = %uuid::Uuid::now_v7());
    async move {
        tracing::debug!("session opened");
        let plain = Session::new((&app, load, auth), peer, tls.is_some(), false, stop.clone());
        match plain.run(BufReader::new(tcp)).await {
            Ok(Some(reader)) => {
                let Some(acceptor) = tls else { return };
                let handshake = tokio::time::timeout(
                    app.config.smtp.command_timeout(),
                    acceptor.accept(reader.into_inner()),
                );
                match handshake
                    .await
                    .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
                {
                    Ok(stream) => {
                        let secure = Session::new((&app, load, auth), peer, false, true, stop);
                        if let Err(e) = secure.run(BufReader::new(stream)).await {
                            tracing::debug!(error = %e, "session ended");
                        }
                    }
                    Err(e) => tracing::info!(error = %e, "TLS handshake failed"),
                }
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "session ended"),
        }
        tracing::debug!("session closed");
    }
    .instrument(span)
    .await
}

struct Session<'a> {
    app: &'a AppState,
    load: &'a Load,
    auth: &'a SenderAuth,
    peer: SocketAddr,
    /// The name the client gave in EHLO/HELO.
    helo: String,
    /// STARTTLS may be offered (configured, and not yet in TLS).
    offer_tls: bool,
    secure: bool,
    greeted: bool,
    mail_from: Option<String>,
    recipients: Vec<Connector>,
    out: Vec<u8>,
    stop: watch::Receiver<bool>,
}

/// How waiting for the next command ended.
enum Wait {
    Line(io::Result<Option<()>>),
    /// The server is stopping: answer 421 unless a command is already in.
    Stopping,
    /// Waited longer than the session may.
    Idle,
}

enum After {
    Continue,
    Quit,
    StartTls,
}

impl<'a> Session<'a> {
    fn new(
        (app, load, auth): (&'a AppState, &'a Load, &'a SenderAuth),
        peer: SocketAddr,
        offer_tls: bool,
        secure: bool,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            app,
            load,
            auth,
            peer,
            helo: String::new(),
            offer_tls,
            secure,
            greeted: false,
            mail_from: None,
            recipients: Vec::new(),
            out: Vec::with_capacity(512),
            stop,
        }
    }

    fn reply(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    async fn flush<S: AsyncWrite + Unpin>(&mut self, stream: &mut S) -> io::Result<()> {
        if !self.out.is_empty() {
            stream.write_all(&self.out).await?;
            stream.flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.recipients.clear();
    }

    /// Serves until QUIT or EOF; returns the reader when the client asked
    /// for STARTTLS, so the caller can wrap the connection.
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        mut self,
        mut reader: BufReader<S>,
    ) -> io::Result<Option<BufReader<S>>> {
        let cfg = &self.app.config.smtp;
        if !self.secure {
            self.reply(&format!("220 {} ESMTP Inlet", cfg.hostname));
        }
        let mut line = Vec::with_capacity(512);
        loop {
            if reader.buffer().is_empty() {
                self.flush(reader.get_mut()).await?;
            }
            if *self.stop.borrow() && reader.buffer().is_empty() {
                self.reply("421 4.3.2 Server shutting down, try again later");
                self.flush(reader.get_mut()).await?;
                return Ok(None);
            }
            let wait = {
                let read = data::read_command(&mut reader, &mut line, cfg.max_line_length);
                tokio::pin!(read);
                let since = tokio::time::Instant::now();
                loop {
                    // Woken now and then: the wait allowed shrinks when the
                    // server gets busy.
                    let left = self.load.idle_left(since.elapsed());
                    if left.is_zero() {
                        break Wait::Idle;
                    }
                    tokio::select! {
                        read = &mut read => break Wait::Line(read),
                        _ = self.stop.changed(), if !*self.stop.borrow() => break Wait::Stopping,
                        () = tokio::time::sleep(left.min(IDLE_CHECK)) => {}
                    }
                }
            };
            match wait {
                Wait::Stopping => continue,
                Wait::Idle => {
                    self.reply("421 4.4.2 Idle timeout, closing connection");
                    self.flush(reader.get_mut()).await?;
                    return Ok(None);
                }
                Wait::Line(Ok(None)) => return Ok(None),
                Wait::Line(Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
                    self.reply("500 5.5.2 Line too long");
                    continue;
                }
                Wait::Line(Err(e)) => return Err(e),
                Wait::Line(Ok(Some(()))) => {}
            }
            match self.command(&line, &mut reader).await? {
                After::Continue => {}
                After::Quit => {
                    self.flush(reader.get_mut()).await?;
                    return Ok(None);
                }
                After::StartTls => {
                    self.flush(reader.get_mut()).await?;
                    return Ok(Some(reader));
                }
            }
        }
    }

    async fn command<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        line: &[u8],
        reader: &mut BufReader<S>,
    ) -> io::Result<After> {
        let request = match Request::parse(&mut line.iter()) {
            Ok(r) => r,
            Err(e) => {
                let text = match e {
                    ParseError::UnknownCommand => "500 5.5.1 Command unrecognized",
                    ParseError::InvalidSenderAddress => "501 5.1.7 Invalid sender address",
                    ParseError::InvalidRecipientAddress => "501 5.1.3 Invalid recipient address",
                    ParseError::InvalidParameter { .. }
                    | ParseError::UnsupportedParameter { .. } => "555 5.5.4 Unsupported parameter",
                    _ => "501 5.5.4 Syntax error",
                };
                self.reply(text);
                return Ok(After::Continue);
            }
        };
        let cfg = &self.app.config.smtp;
        match request {
            Request::Ehlo { host } => {
                self.reset();
                self.greeted = true;
                self.helo = host.to_string();
                let mut lines = vec![
                    format!("{} greets {host}", cfg.hostname),
                    "PIPELINING".into(),
                    format!("SIZE {}", cfg.max_message_bytes),
                    "8BITMIME".into(),
                    "ENHANCEDSTATUSCODES".into(),
                ];
                if self.offer_tls {
                    lines.push("STARTTLS".into());
                }
                let last = lines.len() - 1;
                for (i, l) in lines.iter().enumerate() {
                    self.reply(&format!("250{}{l}", if i == last { ' ' } else { '-' }));
                }
            }
            Request::Helo { host } => {
                self.reset();
                self.greeted = true;
                self.helo = host.to_string();
                self.reply(&format!("250 {} greets {host}", cfg.hostname));
            }
            Request::Lhlo { .. } => self.reply("500 5.5.1 This is an SMTP server, not LMTP"),
            Request::Mail { from } => {
                if !self.greeted {
                    self.reply("503 5.5.1 Send EHLO or HELO first");
                } else if self.mail_from.is_some() {
                    self.reply("503 5.5.1 Nested MAIL command");
                } else if from.flags & smtp_proto::MAIL_SMTPUTF8 != 0 {
                    // Not advertised: UTF-8 addresses and headers are not taken.
                    self.reply("555 5.5.4 SMTPUTF8 is not supported");
                } else if from.size as u64 > cfg.max_message_bytes {
                    self.reply(&format!(
                        "552 5.3.4 Message size exceeds the limit of {} bytes",
                        cfg.max_message_bytes
                    ));
                } else {
                    self.mail_from = Some(from.address.to_string());
                    self.reply("250 2.1.0 Sender OK");
                }
            }
            Request::Rcpt { to } => {
                if self.mail_from.is_none() {
                    self.reply("503 5.5.1 Send MAIL first");
                } else if self.recipients.len() >= cfg.max_recipients {
                    self.reply("452 4.5.3 Too many recipients");
                } else {
                    match email::recipient(self.app, &to.address).await {
                        Ok(Recipient::Inbox(c)) => {
                            if !self.recipients.iter().any(|r| r.id == c.id) {
                                self.recipients.push(*c);
                            }
                            self.reply("250 2.1.5 Recipient OK");
                        }
                        Ok(Recipient::Unknown) => self.reply("550 5.1.1 No such inbox"),
                        Ok(Recipient::Inactive) => {
                            self.reply("550 5.7.1 This inbox no longer accepts mail")
                        }
                        Ok(Recipient::Paused(c)) => {
                            self.reply("451 4.2.1 Inbox paused");
                            self.refused(&[*c], EventReason::InboxPaused, 451).await;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "recipient lookup failed");
                            self.reply("451 4.3.0 Temporary failure, try again later");
                        }
                    }
                }
            }
            Request::Data => {
                if self.mail_from.is_none() {
                    self.reply("503 5.5.1 Send MAIL first");
                } else if self.recipients.is_empty() {
                    self.reply("554 5.5.1 No valid recipients");
                } else {
                    self.reply("354 Start mail input; end with <CRLF>.<CRLF>");
                    self.flush(reader.get_mut()).await?;
                    self.receive_message(reader).await?;
                    self.reset();
                }
            }
            Request::Bdat { .. } => self.reply("502 5.5.1 BDAT is not supported; use DATA"),
            Request::Rset => {
                self.reset();
                self.reply("250 2.0.0 OK");
            }
            Request::Noop { .. } => self.reply("250 2.0.0 OK"),
            Request::Vrfy { .. } => {
                self.reply("252 2.5.2 Cannot VRFY; send the message and we will try")
            }
            Request::Help { .. } => self.reply("214 2.0.0 See RFC 5321"),
            Request::Quit => {
                self.reply("221 2.0.0 Bye");
                return Ok(After::Quit);
            }
            Request::StartTls => {
                if self.offer_tls {
                    self.reply("220 2.0.0 Ready to start TLS");
                    return Ok(After::StartTls);
                } else if self.secure {
                    self.reply("503 5.5.1 TLS already active");
                } else {
                    self.reply("502 5.5.1 STARTTLS is not available");
                }
            }
            _ => self.reply("502 5.5.1 Command not implemented"),
        }
        Ok(After::Continue)
    }

    /// Logs a refusal in the recipients' activity logs (envelope facts only:
    /// the headers were not read, or not kept).
    async fn refused(&self, recipients: &[Connector], reason: EventReason, code: u16) {
        let mail = MailFacts {
            envelope_from: self.mail_from.as_deref().unwrap_or_default(),
            header_from: None,
            subject: None,
        };
        events::email_refused(self.app, recipients, &mail, reason, code).await;
    }

    /// The trace lines a final destination adds (RFC 5321 §4.4).
    fn trace_headers(&self, mail_from: &str) -> String {
        let helo: String = self
            .helo
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(255)
            .collect();
        format!(
            "Return-Path: <{mail_from}>\r\nReceived: from {helo} ([{}])\r\n\tby {} (Inlet) with {} id {};\r\n\t{}\r\n",
            self.peer.ip(),
            self.app.config.smtp.hostname,
            if self.secure { "ESMTPS" } else { "ESMTP" },
            uuid::Uuid::now_v7().simple(),
            chrono::Utc::now().to_rfc2822(),
        )
    }

    /// DATA: stores the bytes, then the documents, and only then says 250.
    async fn receive_message<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        reader: &mut BufReader<S>,
    ) -> io::Result<()> {
        let cfg = &self.app.config.smtp;
        let key = crate::blobs::document_key(DocumentId::new().as_str());
        let mail_from = self.mail_from.clone().unwrap_or_default();
        let trace = self.trace_headers(&mail_from);
        let client = Client {
            ip: self.peer.ip(),
            helo: &self.helo,
            mail_from: &mail_from,
        };
        let received = self
            .auth
            .receive(
                reader,
                &self.app.blobs,
                &key,
                trace.as_bytes(),
                cfg.max_message_bytes,
                cfg.command_timeout(),
                client,
            )
            .await;
        let (size, sha256, content_sha256, headers, authentication) = match received {
            Ok((
                DataOutcome::Stored {
                    size,
                    sha256,
                    content_sha256,
                    headers,
                },
                auth,
            )) => (size, sha256, content_sha256, headers, auth),
            Ok((DataOutcome::TooLarge, _)) => {
                metrics::counter!(crate::metrics::SMTP_MESSAGES, "outcome" => "too_large")
                    .increment(1);
                let recipients = std::mem::take(&mut self.recipients);
                self.refused(&recipients, EventReason::TooLarge, 552).await;
                self.reply(&format!(
                    "552 5.3.4 Message size exceeds the limit of {} bytes",
                    cfg.max_message_bytes
                ));
                return Ok(());
            }
            Ok((DataOutcome::StorageFailed(e), _)) => {
                metrics::counter!(crate::metrics::SMTP_MESSAGES, "outcome" => "error").increment(1);
                tracing::error!(error = %e, "storing a message failed");
                self.reply("451 4.3.0 Could not store the message, try again later");
                return Ok(());
            }
            Ok((DataOutcome::Held { .. }, _)) => unreachable!("receive stores what it holds"),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                self.reply("421 4.4.2 Timeout waiting for data, closing connection");
                self.flush(reader.get_mut()).await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let message = StoredMessage {
            blob_key: key,
            size,
            sha256,
            content_sha256,
            headers,
            authentication,
        };
        let outcome = match email::deliver(self.app, &mail_from, &self.recipients, message).await {
            Ok(Delivery::Accepted { stored, .. }) => {
                self.reply("250 2.0.0 Message stored");
                if stored > 0 {
                    "stored"
                } else {
                    "duplicate"
                }
            }
            Ok(Delivery::SenderNotAllowed) => {
                self.reply("550 5.7.1 Sender not allowed for this inbox");
                "sender_not_allowed"
            }
            Ok(Delivery::Inactive) => {
                self.reply("550 5.7.1 This inbox no longer accepts mail");
                "inactive"
            }
            Ok(Delivery::Paused) => {
                self.reply("451 4.2.1 Inbox paused");
                "paused"
            }
            Ok(Delivery::AmbiguousAuthor) => {
                self.reply("550 5.7.1 A message needs exactly one From mailbox");
                "ambiguous_from"
            }
            Ok(Delivery::SenderAuthFailed) => {
                self.reply("550 5.7.1 Sender authentication failed");
                "sender_auth_failed"
            }
            Ok(Delivery::SenderAuthTemporary) => {
                self.reply(
                    "451 4.4.3 Sender authentication failed temporarily (DNS), try again later",
                );
                "sender_auth_temporary"
            }
            Err(e) => {
                tracing::error!(error = %e, "delivering a message failed");
                self.reply("451 4.3.0 Could not store the message, try again later");
                "error"
            }
        };
        metrics::counter!(crate::metrics::SMTP_MESSAGES, "outcome" => outcome).increment(1);
        Ok(())
    }
}
