//! Tags: per user, created explicitly or by ingestion.

use super::AppState;
use crate::domain::document::parse_tag_name;
use crate::domain::{Principal, Tag, Timestamp};
use crate::error::Result;
use crate::store::Window;

/// The caller's tag with this name, created when new (idempotent by name).
pub async fn create(app: &AppState, caller: &Principal, name: &str) -> Result<(Tag, i64)> {
    let name = parse_tag_name(name, "tag_name")?;
    let tag = app
        .store
        .ensure_tag(&caller.user_id, &name, Timestamp::now())
        .await?;
    let count = app
        .store
        .list_tags(&caller.user_id, &tag.name, None)
        .await?
        .into_iter()
        .find(|(t, _)| t.id == tag.id)
        .map_or(0, |(_, n)| n);
    Ok((tag, count))
}

/// The caller's tags starting with `prefix` (those in `window` when
/// given), with how many documents carry each.
pub async fn list(
    app: &AppState,
    caller: &Principal,
    prefix: &str,
    window: Option<Window>,
) -> Result<Vec<(Tag, i64)>> {
    Ok(app.store.list_tags(&caller.user_id, prefix, window).await?)
}
