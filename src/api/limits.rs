//! Request limits that answer with the contract's error body.

use super::error::ApiError;
use crate::service::AppState;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Refuses requests whose headers together exceed `http.max_header_bytes`
/// (431). Far larger ones are refused by the HTTP parser itself.
pub async fn header_size(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let limit = app.config.http.max_header_bytes;
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum::<usize>()
        + request
            .uri()
            .path_and_query()
            .map_or(0, |p| p.as_str().len());
    if size > limit {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "HEADERS_TOO_LARGE",
            format!("Request line and headers exceed {limit} bytes"),
        )
        .into_response();
    }
    next.run(request).await
}

/// Refuses an HTTP/1.1 request without a `Host`, or with one that is not
/// `host[:port]` (RFC 9112 §3.2: 400). Signed URLs are built on it when
/// `public_url` is unset, so `a@evil.example/x?` must never get that far.
pub async fn host(request: Request, next: Next) -> Response {
    let host = request.headers().get(axum::http::header::HOST);
    let valid = match host {
        Some(value) => value.to_str().is_ok_and(is_host),
        None => request.version() < axum::http::Version::HTTP_11,
    };
    if !valid {
        return ApiError::invalid("The Host header is missing or is not host[:port]")
            .into_response();
    }
    next.run(request).await
}

/// `name`, `IPv4` or `[IPv6]`, then an optional `:port`.
fn is_host(value: &str) -> bool {
    let port_ok = |p: &str| p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok();
    if let Some(rest) = value.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        return v6.parse::<std::net::Ipv6Addr>().is_ok()
            && (after.is_empty() || after.strip_prefix(':').is_some_and(port_ok));
    }
    let (name, port) = match value.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (value, None),
    };
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        && port.is_none_or(port_ok)
}

#[cfg(test)]
mod tests {
    use super::is_host;

    #[test]
    fn hosts_are_names_or_addresses_with_a_port() {
        for ok in [
            "localhost",
            "inlet.example.com:8080",
            "127.0.0.1:80",
            "[::1]:8080",
            "[::1]",
        ] {
            assert!(is_host(ok), "{ok}");
        }
        for bad in [
            "",
            "a@evil.example/x?",
            "evil.example/x",
            "host:",
            "host:99999999",
            "host:65536",
            "host:+80",
            "[::1",
            "[zz]:80",
            "ho st",
            "::1",
        ] {
            assert!(!is_host(bad), "{bad}");
        }
    }
}
