//! API keys: created by the operator, resolved on every request.

use super::AppState;
use crate::crypto::{hash_api_key, new_api_key, write_private_file};
use crate::domain::Timestamp;
use crate::store::{ApiKeyRecord, Caller, NewApiKey, Store};
use uuid::Uuid;

/// Creates a key (and its org and user when new); returns the plain key,
/// which is never stored.
pub async fn create(
    store: &dyn Store,
    org_id: &str,
    user_id: &str,
    name: Option<&str>,
) -> anyhow::Result<(ApiKeyRecord, String)> {
    for (what, value) in [("org", org_id), ("user", user_id)] {
        if value.trim().is_empty() || value.len() > 128 || value.chars().any(char::is_control) {
            anyhow::bail!("--{what} must be 1 to 128 printable characters");
        }
    }
    let plain = new_api_key();
    let record = NewApiKey {
        key_id: Uuid::now_v7(),
        key_hash: hash_api_key(&plain),
        org_id: org_id.to_string(),
        user_id: user_id.to_string(),
        name: name.map(str::to_string),
        created_at: Timestamp::now(),
    };
    store.create_api_key(&record).await?;
    Ok((
        ApiKeyRecord {
            key_id: record.key_id,
            org_id: record.org_id,
            user_id: record.user_id,
            name: record.name,
            created_at: record.created_at,
            revoked_at: None,
        },
        plain,
    ))
}

/// The caller behind a presented key, if it is known and not revoked.
pub async fn authenticate(app: &AppState, presented: &str) -> anyhow::Result<Option<Caller>> {
    Ok(app
        .store
        .caller_by_key_hash(&hash_api_key(presented))
        .await?)
}

/// On first start (no key at all): org `default`, user `admin`, and a key
/// written to `<data_dir>/initial-api-key` (mode 0600). The key is never logged.
pub async fn bootstrap_initial_key(
    store: &dyn Store,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    if store.has_api_keys().await? {
        return Ok(());
    }
    let (_, plain) = create(store, "default", "admin", Some("initial")).await?;
    let path = data_dir.join("initial-api-key");
    write_private_file(&path, format!("{plain}\n").as_bytes())?;
    tracing::info!(path = %path.display(), "created the initial API key for org \"default\", user \"admin\"");
    Ok(())
}
