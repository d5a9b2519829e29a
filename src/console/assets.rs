//! The console's stylesheet and script, compiled into the binary.

use super::ConsoleError;
use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::Embed)]
#[folder = "assets/console/"]
struct Assets;

pub async fn serve(Path(file): Path<String>) -> Result<Response, ConsoleError> {
    let asset = Assets::get(&file).ok_or(ConsoleError::NotFound)?;
    let content_type = match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        _ => "application/octet-stream",
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        asset.data.into_owned(),
    )
        .into_response())
}
