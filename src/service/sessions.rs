//! Web console sessions (contract §14): an API key signs in once; the
//! browser then holds a random session id whose SHA-256 alone is stored.
//! A session ends on sign-out, after `[console] session_idle` unused, or
//! when its API key is revoked (the lookup requires an unrevoked key).

use super::AppState;
use crate::crypto::{hash_secret, os_random_hex};
use crate::domain::Timestamp;
use crate::error::Result;
use crate::store::ConsoleSession;
use std::time::Duration;

/// A new session: the id for the browser (never stored) and the session.
pub struct Opened {
    pub session_id: String,
}

/// Opens a session for a valid, unrevoked key; `None` for any other key.
pub async fn sign_in(app: &AppState, api_key: &str) -> Result<Option<Opened>> {
    let Some(caller) = super::keys::authenticate(app, api_key.trim()).await? else {
        return Ok(None);
    };
    let now = Timestamp::now();
    // Sessions that ran out are removed here rather than by a sweep of
    // their own: sign-ins are rare, and an expired row signs nobody in.
    app.store
        .delete_sessions_before(idle_cutoff(app, now))
        .await?;
    let session_id = os_random_hex();
    app.store
        .create_session(
            &hash_secret(&session_id),
            &caller.principal.key_id,
            &os_random_hex(),
            now,
        )
        .await?;
    tracing::info!(user_id = %caller.principal.user_id, "console session opened");
    Ok(Some(Opened { session_id }))
}

/// The live session behind a browser's session id. Using a session keeps
/// it alive; the row is rewritten at most once per 1/144 of the idle limit
/// (5 minutes of 12 hours), not on every page.
pub async fn resolve(app: &AppState, session_id: &str) -> Result<Option<ConsoleSession>> {
    let hash = hash_secret(session_id);
    let Some(session) = app.store.session(&hash).await? else {
        return Ok(None);
    };
    let now = Timestamp::now();
    if session.last_seen_at.as_micros() < idle_cutoff(app, now).as_micros() {
        app.store.delete_session(&hash).await?;
        return Ok(None);
    }
    let idle = app.config.console.session_idle();
    let refresh = (idle / 144).as_micros() as i64;
    if now.as_micros() - session.last_seen_at.as_micros() >= refresh {
        app.store.touch_session(&hash, now).await?;
    }
    Ok(Some(session))
}

pub async fn sign_out(app: &AppState, session_id: &str) -> Result<()> {
    app.store.delete_session(&hash_secret(session_id)).await?;
    Ok(())
}

fn idle_cutoff(app: &AppState, now: Timestamp) -> Timestamp {
    let idle: Duration = app.config.console.session_idle();
    Timestamp::from_micros(now.as_micros() - idle.as_micros() as i64)
}
