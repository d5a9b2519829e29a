//! The HTTP ceiling for `bench/http.py`: an axum server that authenticates
//! nothing and answers every GET and POST with a static JSON body of a
//! connector's size. What Inlet's API can at most approach on this machine.

use axum::http::header;
use axum::routing::any;
use axum::Router;

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18990".into());
    let size: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(520);
    let body = bytes::Bytes::from(format!(
        "{{\"pad\":\"{}\"}}",
        "x".repeat(size.saturating_sub(10))
    ));
    let app = Router::new().fallback(any(move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], body) }
    }));
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
