// Web console sessions (compiled per backend by `statements!`).

use crate::domain::{Principal, Timestamp};
use crate::store::{ConsoleSession, SessionStore, StoreResult};
use async_trait::async_trait;

#[async_trait]
impl SessionStore for Backend {
    async fn create_session(
        &self,
        session_hash: &str,
        key_id: &str,
        csrf_token: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO console_sessions \
             (session_hash, session_key_id, csrf_token, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(session_hash)
        .bind(key_id)
        .bind(csrf_token)
        .bind(now.as_micros())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn session(&self, session_hash: &str) -> StoreResult<Option<ConsoleSession>> {
        let row: Option<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT k.key_id, u.user_id, u.org_id, s.csrf_token, s.last_seen_at \
             FROM console_sessions s \
             JOIN api_keys k ON k.key_id = s.session_key_id \
             JOIN users u ON u.user_id = k.user_id \
             WHERE s.session_hash = $1 AND k.revoked_at IS NULL",
        )
        .bind(session_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(
            |(key_id, user_id, org_id, csrf_token, seen)| ConsoleSession {
                principal: Principal {
                    user_id,
                    org_id,
                    key_id,
                },
                csrf_token,
                last_seen_at: Timestamp::from_micros(seen),
            },
        ))
    }

    async fn touch_session(&self, session_hash: &str, now: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE console_sessions SET last_seen_at = $1 WHERE session_hash = $2")
            .bind(now.as_micros())
            .bind(session_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn delete_session(&self, session_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM console_sessions WHERE session_hash = $1")
            .bind(session_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn delete_sessions_before(&self, cutoff: Timestamp) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE last_seen_at < $1")
            .bind(cutoff.as_micros())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
