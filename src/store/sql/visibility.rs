// The visibility rule of every list (compiled per backend by `statements!`).

use crate::domain::Principal;
use crate::store::Ownership;
use sqlx::QueryBuilder;

/// What every walk of a list is given: the text before it, the alias of
/// the table its branches select from, whose rows it shows (the viewer's,
/// others' shared with their org, or both), the order (of unqualified
/// columns) and the page.
pub(in crate::store) struct Walk<'a> {
    pub prefix: &'a str,
    pub alias: &'a str,
    pub viewer: &'a Principal,
    pub ownership: Ownership,
    pub order: &'a str,
    pub limit: i64,
    pub offset: i64,
}

/// Rows a viewer can see: one index range per visibility rule (their own;
/// others' shared with their org), each filtered, ordered and bounded to
/// what the page can need, then merged, so no list scans the table.
/// `select` writes the `SELECT … FROM` of a branch.
pub(in crate::store) fn visible_union(
    walk: &Walk,
    select: impl Fn(&mut QueryBuilder<Db>),
    filters: impl Fn(&mut QueryBuilder<Db>),
) -> QueryBuilder<Db> {
    let branches: &[Ownership] = match walk.ownership {
        Ownership::All => &[Ownership::Owned, Ownership::Shared],
        Ownership::Owned => &[Ownership::Owned],
        Ownership::Shared => &[Ownership::Shared],
    };
    merged(walk, "UNION ALL", branches, |b, branch| {
        select(b);
        b.push(" WHERE ");
        push_rule(b, walk.alias, walk.viewer, *branch, "");
        filters(b);
        b.push(format_args!(" ORDER BY {}", walk.order));
    })
}

/// The documents carrying any of `tags` that a viewer can see, in the
/// walk's order of `created_at` (`direction`): the tag's own links walked
/// in order, one range per tag, each document checked by the rule its
/// tag's owner stands under (a tag belongs to the owner of the documents it
/// marks). Selects `document_id` and `created_at`; a document with two of
/// the tags comes once.
pub(in crate::store) fn visible_tagged(
    walk: &Walk,
    tags: &[(String, Ownership)],
    filters: impl Fn(&mut QueryBuilder<Db>),
    direction: &str,
) -> QueryBuilder<Db> {
    merged(walk, "UNION", tags, |b, (tag, rule)| {
        b.push(format_args!(
            "SELECT dt.document_id AS document_id, dt.created_at AS created_at \
             FROM document_tags dt {} documents d ON d.document_id = dt.document_id \
             WHERE dt.tag_id = ",
            DIALECT.join_in_order
        ))
        .push_bind(tag.clone())
        .push(" AND ");
        push_rule(b, "d", walk.viewer, *rule, DIALECT.not_indexed);
        filters(b);
        b.push(format_args!(
            " ORDER BY dt.created_at {direction}, dt.document_id {direction}"
        ));
    })
}

/// The branches `branch` writes (each up to its `ORDER BY`), each bounded
/// to what the page can need, combined by `union` and paged.
fn merged<T>(
    walk: &Walk,
    union: &str,
    branches: &[T],
    branch: impl Fn(&mut QueryBuilder<Db>, &T),
) -> QueryBuilder<Db> {
    // Every subquery in FROM is named: PostgreSQL wants it, SQLite allows it.
    let mut b: QueryBuilder<Db> =
        QueryBuilder::new(format!("{}SELECT * FROM (SELECT * FROM (", walk.prefix));
    for (i, each) in branches.iter().enumerate() {
        if i > 0 {
            b.push(format_args!(") AS branch{i} {union} SELECT * FROM ("));
        }
        branch(&mut b, each);
        b.push(" LIMIT ")
            .push_bind(walk.limit.saturating_add(walk.offset));
    }
    // Ordered outside the union: PostgreSQL orders a union only by column names.
    b.push(format_args!(
        ") AS branch_last) AS visible ORDER BY {} LIMIT ",
        walk.order
    ))
    .push_bind(walk.limit)
    .push(" OFFSET ")
    .push_bind(walk.offset);
    b
}

/// Rows a viewer can see among those another index chooses (the
/// full-text match, a connector's documents), checked in one pass along it:
/// a branch per rule would run a match once for each, and the owner's
/// index must not drive instead. `window`: only the first rows in that
/// order (and how many) are paged.
pub(in crate::store) fn visible_matches(
    walk: &Walk,
    select: impl Fn(&mut QueryBuilder<Db>),
    filters: impl Fn(&mut QueryBuilder<Db>),
    window: Option<(&str, i64)>,
) -> QueryBuilder<Db> {
    let mut b: QueryBuilder<Db> = QueryBuilder::new(format!("{}SELECT * FROM (", walk.prefix));
    select(&mut b);
    b.push(" WHERE ");
    push_rule(
        &mut b,
        walk.alias,
        walk.viewer,
        walk.ownership,
        DIALECT.not_indexed,
    );
    filters(&mut b);
    if let Some((first, rows)) = window {
        b.push(format_args!(" ORDER BY {first} LIMIT "))
            .push_bind(rows);
    }
    // Ordered outside: the order names the select's columns.
    b.push(format_args!(") AS visible ORDER BY {} LIMIT ", walk.order))
        .push_bind(walk.limit)
        .push(" OFFSET ")
        .push_bind(walk.offset);
    b
}

/// The rows of `ownership`: the viewer's own, others' shared with their
/// org, or either; `mark` goes before each column (see
/// `Dialect::not_indexed`).
fn push_rule(
    b: &mut QueryBuilder<Db>,
    alias: &str,
    viewer: &Principal,
    ownership: Ownership,
    mark: &str,
) {
    match ownership {
        Ownership::Owned => b
            .push(format_args!("{mark}{alias}.user_id = "))
            .push_bind(viewer.user_id.clone()),
        Ownership::Shared => b
            .push(format_args!("({mark}{alias}.org_id = "))
            .push_bind(viewer.org_id.clone())
            .push(format_args!(
                " AND {alias}.{} AND {alias}.user_id <> ",
                DIALECT.shared
            ))
            .push_bind(viewer.user_id.clone())
            .push(")"),
        Ownership::All => {
            b.push("(");
            push_rule(b, alias, viewer, Ownership::Owned, mark);
            b.push(" OR ");
            push_rule(b, alias, viewer, Ownership::Shared, mark);
            b.push(")")
        }
    };
}
