//! JSON answers of reads, reused while the store is unchanged
//! (`service::answers`): a read handler asks for a kept answer first, and
//! answers through [`Reusable::answer`], which keeps what it sends.

use super::error::ApiError;
use crate::domain::Principal;
use crate::service::AppState;
use crate::store::Generation;
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::convert::Infallible;

/// This request's place among kept answers: the store generation its key
/// lookup saw (set by `auth::require_key`) and its path and query.
pub struct Reusable {
    app: AppState,
    /// `None`: nothing is reused or kept.
    generation: Option<Generation>,
    uri: Uri,
}

impl FromRequestParts<AppState> for Reusable {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Infallible> {
        Ok(Self {
            app: app.clone(),
            generation: parts
                .extensions
                .get::<Option<Generation>>()
                .copied()
                .flatten(),
            uri: parts.uri.clone(),
        })
    }
}

impl Reusable {
    /// Neither reused nor kept unless `depends_on_store_only`.
    pub fn only_if(mut self, depends_on_store_only: bool) -> Self {
        if !depends_on_store_only {
            self.generation = None;
        }
        self
    }

    /// The answer `viewer` was given to this request, if nothing was
    /// written since.
    pub fn kept(&self, viewer: &Principal) -> Option<Response> {
        let generation = self.generation?;
        let body = self.app.answers.get(viewer, generation, self.request())?;
        Some(json(body))
    }

    /// `value` as JSON, kept for the next time `viewer` asks.
    pub fn answer<T: Serialize>(self, viewer: &Principal, value: &T) -> Response {
        let body = match serde_json::to_vec(value) {
            Ok(body) => Bytes::from(body),
            Err(e) => {
                tracing::error!(error = %e, "an answer could not be serialized");
                return ApiError::internal().into_response();
            }
        };
        if let Some(generation) = self.generation {
            let kept = body.clone();
            self.app
                .answers
                .keep(viewer, generation, self.request(), kept);
        }
        json(body)
    }

    fn request(&self) -> &str {
        self.uri.path_and_query().map_or("", |p| p.as_str())
    }
}

fn json(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
