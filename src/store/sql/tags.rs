// Tags (compiled per backend by `statements!`).

use crate::domain::{Tag, Timestamp};
use crate::store::sql::rows::{TagRow, TAG_COLUMNS};
use crate::store::{StoreError, StoreResult, TagStore, Window};
use async_trait::async_trait;
use sqlx::QueryBuilder;
use uuid::Uuid;

#[async_trait]
impl TagStore for Backend {
    async fn ensure_tag(&self, user_id: &str, name: &str, at: Timestamp) -> StoreResult<Tag> {
        let mut conn = self.pool().acquire().await?;
        let mut tags = ensure_tags_in(&mut conn, user_id, &[(name, false)], at).await?;
        tags.pop()
            .ok_or_else(|| StoreError::Corrupt("the tag upsert returned no row".into()))
    }

    async fn list_tags(
        &self,
        user_id: &str,
        prefix: &str,
        window: Option<Window>,
    ) -> StoreResult<Vec<(Tag, i64)>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TAG_COLUMNS}, (SELECT COUNT(*) FROM document_tags dt \
             WHERE dt.tag_id = t.tag_id) AS file_count \
             FROM tags t WHERE t.user_id = $1 AND {} ORDER BY t.name{}",
            DIALECT.tag_prefix,
            if window.is_some() {
                " LIMIT $3 OFFSET $4"
            } else {
                ""
            }
        ));
        let mut query = sqlx::query_as(sql).bind(user_id).bind(prefix);
        if let Some(w) = window {
            let offset = i64::try_from(w.offset).unwrap_or(i64::MAX);
            query = query.bind(i64::from(w.limit)).bind(offset);
        }
        let rows: Vec<(String, String, String, i64, i64, i64)> =
            query.fetch_all(self.pool()).await?;
        rows.into_iter()
            .map(|(tag_id, user_id, name, created_at, updated_at, count)| {
                let row = TagRow {
                    tag_id,
                    user_id,
                    name,
                    created_at,
                    updated_at,
                };
                Ok((Tag::try_from(row)?, count))
            })
            .collect()
    }

    async fn owned_tags(&self, user_id: &str, ids: &[Uuid]) -> StoreResult<Vec<Tag>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q: QueryBuilder<Db> = QueryBuilder::new(format!(
            "SELECT {TAG_COLUMNS} FROM tags t WHERE t.user_id = "
        ));
        q.push_bind(user_id.to_string()).push(" AND t.tag_id IN (");
        let mut list = q.separated(", ");
        for id in ids {
            list.push_bind(id.to_string());
        }
        q.push(")");
        let rows: Vec<TagRow> = q.build_query_as().fetch_all(self.pool()).await?;
        rows.into_iter().map(Tag::try_from).collect()
    }
}

/// Creates the named tags (`(name, automatic)`) a user lacks, in one
/// statement, and returns all of them in the order named (each name once).
/// A user-made tag stays user-made; an automatic one becomes user-made once
/// the user asks for it by name.
pub(in crate::store) async fn ensure_tags_in(
    conn: &mut Conn,
    user_id: &str,
    named: &[(&str, bool)],
    at: Timestamp,
) -> StoreResult<Vec<Tag>> {
    let mut names: Vec<(&str, bool)> = Vec::with_capacity(named.len());
    for &(name, automatic) in named {
        match names.iter_mut().find(|(n, _)| *n == name) {
            Some(seen) => seen.1 &= automatic,
            None => names.push((name, automatic)),
        }
    }
    if names.is_empty() {
        return Ok(vec![]);
    }
    let mut upsert = QueryBuilder::<Db>::new(
        "INSERT INTO tags (tag_id, user_id, name, automatic, created_at, updated_at) ",
    );
    upsert.push_values(&names, |mut row, (name, automatic)| {
        row.push_bind(Uuid::now_v7().to_string())
            .push_bind(user_id.to_string())
            .push_bind(name.to_string())
            .push_bind(*automatic)
            .push_bind(at.as_micros())
            .push_bind(at.as_micros());
    });
    // The upsert writes every row (each name once, as PostgreSQL requires),
    // so RETURNING yields each tag either way.
    upsert.push(
        " ON CONFLICT (user_id, name) DO UPDATE \
         SET automatic = tags.automatic AND excluded.automatic \
         RETURNING tag_id, user_id, name, created_at, updated_at",
    );
    let rows: Vec<TagRow> = upsert.build_query_as().fetch_all(&mut *conn).await?;
    let mut tags: Vec<Tag> = rows
        .into_iter()
        .map(Tag::try_from)
        .collect::<StoreResult<_>>()?;
    tags.sort_by_key(|t| names.iter().position(|(n, _)| *n == t.name));
    Ok(tags)
}
