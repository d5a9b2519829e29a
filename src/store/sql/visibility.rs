// The visibility rule of every list (compiled per backend by `statements!`).

use crate::domain::Principal;
use crate::store::Ownership;
use sqlx::QueryBuilder;

/// Rows a viewer can see: one index range per visibility rule (their own;
/// others' shared with their org), each filtered, ordered and bounded to
/// what the page can need, then merged, so no list scans the table.
/// `select` writes the `SELECT … FROM` of a branch, naming the table with
/// `alias`; `order` uses unqualified columns.
#[allow(clippy::too_many_arguments)]
pub(in crate::store) fn visible_union(
    prefix: &str,
    select: impl Fn(&mut QueryBuilder<Db>),
    alias: &str,
    viewer: &Principal,
    ownership: Ownership,
    filters: impl Fn(&mut QueryBuilder<Db>),
    order: &str,
    limit: i64,
    offset: i64,
) -> QueryBuilder<Db> {
    let branches: &[Ownership] = match ownership {
        Ownership::All => &[Ownership::Owned, Ownership::Shared],
        Ownership::Owned => &[Ownership::Owned],
        Ownership::Shared => &[Ownership::Shared],
    };
    // Every subquery in FROM is named: PostgreSQL wants it, SQLite allows it.
    let mut b: QueryBuilder<Db> =
        QueryBuilder::new(format!("{prefix}SELECT * FROM (SELECT * FROM ("));
    for (i, branch) in branches.iter().enumerate() {
        if i > 0 {
            b.push(format_args!(") AS branch{i} UNION ALL SELECT * FROM ("));
        }
        select(&mut b);
        b.push(" WHERE ");
        match branch {
            Ownership::Owned => b
                .push(format_args!("{alias}.user_id = "))
                .push_bind(viewer.user_id.clone()),
            _ => b
                .push(format_args!("{alias}.org_id = "))
                .push_bind(viewer.org_id.clone())
                .push(format_args!(
                    " AND {alias}.{} AND {alias}.user_id <> ",
                    DIALECT.shared
                ))
                .push_bind(viewer.user_id.clone()),
        };
        filters(&mut b);
        b.push(format_args!(" ORDER BY {order} LIMIT "))
            .push_bind(limit.saturating_add(offset));
    }
    // Ordered outside the union: PostgreSQL orders a union only by column names.
    b.push(format_args!(
        ") AS branch_last) AS visible ORDER BY {order} LIMIT "
    ))
    .push_bind(limit)
    .push(" OFFSET ")
    .push_bind(offset);
    b
}
