// API keys, orgs and users (compiled per backend by `statements!`).

use crate::domain::Timestamp;
use crate::store::{ApiKeyRecord, Caller, KeyStore, NewApiKey, StoreError, StoreResult};
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
impl KeyStore for Backend {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(self.pool()).await?;
        Ok(())
    }

    async fn create_api_key(&self, key: &NewApiKey) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let now = key.created_at.as_micros();
        sqlx::query("INSERT INTO orgs (org_id, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(&key.org_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let existing: Option<String> =
            sqlx::query_scalar("SELECT org_id FROM users WHERE user_id = $1")
                .bind(&key.user_id)
                .fetch_optional(&mut *tx)
                .await?;
        match existing {
            Some(org) if org != key.org_id => {
                return Err(StoreError::Conflict(format!(
                    "user {:?} belongs to org {org:?}",
                    key.user_id
                )))
            }
            Some(_) => {}
            None => {
                sqlx::query("INSERT INTO users (user_id, org_id, created_at) VALUES ($1, $2, $3)")
                    .bind(&key.user_id)
                    .bind(&key.org_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        sqlx::query(
            "INSERT INTO api_keys (key_id, key_hash, user_id, name, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(key.key_id.to_string())
        .bind(&key.key_hash)
        .bind(&key.user_id)
        .bind(&key.name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows: Vec<(String, String, String, Option<String>, i64, Option<i64>)> = sqlx::query_as(
            "SELECT k.key_id, u.org_id, k.user_id, k.name, k.created_at, k.revoked_at \
                 FROM api_keys k JOIN users u ON u.user_id = k.user_id \
                 ORDER BY k.created_at, k.key_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(id, org_id, user_id, name, created, revoked)| {
                Ok(ApiKeyRecord {
                    key_id: Uuid::try_parse(&id)
                        .map_err(|_| StoreError::Corrupt(format!("api key id {id}")))?,
                    org_id,
                    user_id,
                    name,
                    created_at: Timestamp::from_micros(created),
                    revoked_at: revoked.map(Timestamp::from_micros),
                })
            })
            .collect()
    }

    async fn revoke_api_key(&self, key_id: Uuid, at: Timestamp) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE key_id = $2",
        )
        .bind(at.as_micros())
        .bind(key_id.to_string())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn has_api_keys(&self) -> StoreResult<bool> {
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM api_keys)")
            .fetch_one(self.pool())
            .await?;
        Ok(any)
    }

    async fn caller_by_key_hash(&self, key_hash: &str) -> StoreResult<Option<Caller>> {
        self.caller_by_hash(key_hash).await
    }
}
