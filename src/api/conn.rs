//! HTTP connections: the accept loop, and a guard around each socket.
//!
//! The guard bounds slow clients, which the HTTP parser alone does not: a
//! request's line and headers must arrive within `header_timeout` of its
//! first byte (a new connection: of the connect), and a kept-alive
//! connection may wait `idle_timeout` for its next request. It tells the
//! phases apart by the bytes it carries: a head ends at the first blank
//! line, and a response's first write ends the request.
//!
//! It also gives the parser's own rejections the contract's error body.
//! Every response of the router carries `X-Request-Id`; a response without
//! one, written while a head is read or right after it, is the parser's
//! bare answer to a malformed head (bad bytes in the target, too many
//! header fields, conflicting `Content-Length`s), and the guard writes a
//! full error response in its place.

use super::error::ApiError;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
}

/// Serves `app` on `listener` until `shutdown` completes, then lets the
/// requests under way finish (idle connections close at once).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let http = hyper::server::conn::http1::Builder::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |mut request: axum::extract::Request<_>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let conn = http.serve_connection(
            TokioIo::new(Guard::new(stream, timeouts)),
            TowerToHyperService::new(service),
        );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // A reset or timed-out connection is the client's business.
            let _ = conn.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a request's line and headers; `blank` counts the bytes of
    /// `\r\n\r\n` seen so far.
    Head { blank: u8 },
    /// The head is in; its body (if any) and the handler take their time.
    Body,
    /// The response has started: waiting for the next request.
    Idle,
    /// The parser refused the request; its bare answer has been replaced.
    Refused,
}

struct Guard {
    io: TcpStream,
    phase: Phase,
    timeouts: Timeouts,
    /// When the current head or idle wait expires.
    deadline: Pin<Box<Sleep>>,
    /// The error response written instead of the parser's, and how much of
    /// it has been written.
    refusal: Option<(Vec<u8>, usize)>,
}

impl Guard {
    fn new(io: TcpStream, timeouts: Timeouts) -> Self {
        Self {
            io,
            phase: Phase::Head { blank: 0 },
            timeouts,
            deadline: Box::pin(tokio::time::sleep(timeouts.header)),
            refusal: None,
        }
    }

    /// Follows the request through the bytes just read.
    fn read(&mut self, bytes: &[u8]) {
        if self.phase == Phase::Idle {
            self.phase = Phase::Head { blank: 0 };
            let until = Instant::now() + self.timeouts.header;
            self.deadline.as_mut().reset(until);
        }
        let Phase::Head { mut blank } = self.phase else {
            return;
        };
        for &b in bytes {
            blank = match (blank, b) {
                (0 | 2, b'\r') => blank + 1,
                (1 | 3, b'\n') => blank + 1,
                (_, b'\r') => 1,
                _ => 0,
            };
            if blank == 4 {
                self.phase = Phase::Body;
                return;
            }
        }
        self.phase = Phase::Head { blank };
    }

    /// Whether `bytes`, written now, are the parser's own bare refusal.
    fn is_refusal(&self, bytes: &[u8]) -> bool {
        match self.phase {
            Phase::Head { .. } => true,
            Phase::Body => {
                let head = &bytes[..bytes.len().min(1024)];
                head.starts_with(b"HTTP/1.1 4")
                    && !head
                        .windows(b"\r\nx-request-id:".len())
                        .any(|w| w.eq_ignore_ascii_case(b"\r\nx-request-id:"))
            }
            _ => false,
        }
    }

    /// Follows the response through its first bytes.
    fn wrote(&mut self, bytes: &[u8]) {
        // `100 Continue` comes before the body, not instead of it.
        if self.phase == Phase::Body && !bytes.starts_with(b"HTTP/1.1 1") {
            self.phase = Phase::Idle;
            let until = Instant::now() + self.timeouts.idle;
            self.deadline.as_mut().reset(until);
        }
    }

    /// Writes the error response that replaces the parser's bare one
    /// (`parsers_answer` holds its status line); `Ready(Ok)` once all of
    /// it is out.
    fn poll_refuse(&mut self, cx: &mut Context<'_>, parsers_answer: &[u8]) -> Poll<io::Result<()>> {
        let (response, written) = self
            .refusal
            .get_or_insert_with(|| (refusal(parsers_answer), 0));
        while *written < response.len() {
            match Pin::new(&mut self.io).poll_write(cx, &response[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.phase = Phase::Refused;
        Poll::Ready(Ok(()))
    }
}

/// The contract's error response for the status of the parser's answer.
fn refusal(parsers_answer: &[u8]) -> Vec<u8> {
    let status = parsers_answer
        .get(9..12)
        .and_then(|code| std::str::from_utf8(code).ok())
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::BAD_REQUEST);
    let error = match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ApiError::new(
            status,
            "HEADERS_TOO_LARGE",
            "Too many header fields, or headers too large",
        ),
        StatusCode::URI_TOO_LONG => {
            ApiError::new(status, "URI_TOO_LONG", "Request target too long")
        }
        s if s.is_client_error() => ApiError::invalid(
            "Malformed request: the request line or a header is not valid HTTP/1.1 \
             (bytes outside the target's character set, conflicting Content-Length, …)",
        ),
        _ => ApiError::invalid("Malformed request"),
    };
    let id = uuid::Uuid::now_v7().to_string();
    let body = serde_json::to_vec(&error.body(&id)).expect("the error body serializes");
    let mut response = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         x-request-id: {id}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    response
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_string())
}

impl AsyncRead for Guard {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.read(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match this.phase {
                Phase::Head { .. } | Phase::Idle if this.deadline.as_mut().poll(cx).is_ready() => {
                    Poll::Ready(Err(timed_out(match this.phase {
                        Phase::Idle => "idle connection timed out",
                        _ => "request headers timed out",
                    })))
                }
                _ => Poll::Pending,
            },
            other => other,
        }
    }
}

impl AsyncWrite for Guard {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.phase == Phase::Refused {
            // What the parser still writes after its status line.
            return Poll::Ready(Ok(buf.len()));
        }
        if this.refusal.is_some() || this.is_refusal(buf) {
            return this.poll_refuse(cx, buf).map_ok(|()| buf.len());
        }
        this.wrote(buf);
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let total = bufs.iter().map(|b| b.len()).sum();
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        if this.phase == Phase::Refused {
            return Poll::Ready(Ok(total));
        }
        if this.refusal.is_some() || this.is_refusal(first) {
            return this.poll_refuse(cx, first).map_ok(|()| total);
        }
        this.wrote(first);
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_carries_the_error_body_and_a_request_id() {
        let response =
            String::from_utf8(refusal(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"))
                .unwrap();
        assert!(response.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("x-request-id: "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["statusCode"], 431);
        assert_eq!(body["errorCode"], "HEADERS_TOO_LARGE");
        let garbled = String::from_utf8(refusal(b"HTTP/1.1 4")).unwrap();
        assert!(garbled.starts_with("HTTP/1.1 400 Bad Request"));
    }
}
