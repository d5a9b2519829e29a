//! Query builders shared by the SQL backends: list queries whose text
//! differs only in a few dialect words, and statements whose text is the
//! same for both (placeholders are the builder's).

use super::rows::{config_columns, CONNECTOR_COLUMNS, DOCUMENT_COLUMNS};
use super::{ConnectorPage, DocumentQuery, DocumentSort, Ownership, StoreError, StoreResult};
use crate::domain::{Connector, Principal};
use sqlx::{Database, Encode, QueryBuilder, Type};

/// The few words in which the backends' list queries differ.
pub(super) struct Dialect {
    /// Case-insensitive `LIKE`.
    pub like: &'static str,
    /// Case-insensitive sort key for file names.
    pub file_name_order: &'static str,
    /// The "shared with the org" predicate, as the partial index states it.
    pub shared: &'static str,
}

pub(super) const SQLITE: Dialect = Dialect {
    like: "LIKE",
    file_name_order: "file_name COLLATE NOCASE",
    shared: "share_with_org = 1",
};

pub(super) const POSTGRES: Dialect = Dialect {
    like: "ILIKE",
    file_name_order: "lower(file_name)",
    shared: "share_with_org",
};

/// A new connector's row.
pub(super) fn insert_connector_query<DB>(c: &Connector) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    String: for<'t> Encode<'t, DB> + Type<DB>,
    Option<String>: for<'t> Encode<'t, DB> + Type<DB>,
    Option<Vec<u8>>: for<'t> Encode<'t, DB> + Type<DB>,
    bool: for<'t> Encode<'t, DB> + Type<DB>,
    i64: for<'t> Encode<'t, DB> + Type<DB>,
{
    let (email_hash, allowed, research_user, portal, password) = config_columns(&c.config);
    let owned = |v: Option<&str>| v.map(str::to_string);
    let mut b = QueryBuilder::new(
        "INSERT INTO connectors (connector_id, user_id, org_id, kind, label, description, \
         share_with_org, state, email_hash, allowed_emails, research_user_id, portal, \
         password_sealed, files_count, created_at, updated_at) VALUES (",
    );
    b.separated(", ")
        .push_bind(c.id.to_string())
        .push_bind(c.user_id.clone())
        .push_bind(c.org_id.clone())
        .push_bind(c.kind().as_str().to_string())
        .push_bind(c.label.as_str().to_string())
        .push_bind(c.description.as_str().to_string())
        .push_bind(c.share_with_org)
        .push_bind(c.state.as_str().to_string())
        .push_bind(owned(email_hash))
        .push_bind(allowed)
        .push_bind(owned(research_user))
        .push_bind(owned(portal))
        .push_bind(password.map(<[u8]>::to_vec))
        .push_bind(c.files_count)
        .push_bind(c.created_at.as_micros())
        .push_bind(c.updated_at.as_micros());
    b.push(")");
    b
}

/// What inserting a connector came to: a taken id or inbox is a conflict.
pub(super) fn connector_inserted<T>(result: Result<T, sqlx::Error>) -> StoreResult<()> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(
            "connector id or email_hash taken".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// The document list: visibility, Bigdata's filters, a sort and a page.
pub(super) fn document_list_query<DB>(
    dialect: &Dialect,
    prefix: &str,
    viewer: &Principal,
    q: &DocumentQuery,
) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    String: for<'t> Encode<'t, DB> + Type<DB>,
    i64: for<'t> Encode<'t, DB> + Type<DB>,
{
    let (column, collate) = match q.sort_by {
        DocumentSort::CreatedAt => ("created_at", ""),
        DocumentSort::UpdatedAt => ("updated_at", ""),
        DocumentSort::FileName => (dialect.file_name_order, ""),
        DocumentSort::RawSize => ("raw_size", ""),
        DocumentSort::ContentType => ("content_type", ""),
        DocumentSort::Status => ("status", ""),
    };
    let direction = if q.descending { "DESC" } else { "ASC" };
    // The id breaks ties, so pages never overlap or skip.
    let order = format!("{column}{collate} {direction}, document_id {direction}");
    visible_union(
        dialect,
        prefix,
        &format!("SELECT {DOCUMENT_COLUMNS} FROM documents d"),
        "d",
        viewer,
        q.ownership,
        |b| push_document_filters(dialect, b, q),
        &order,
        Page {
            limit: i64::from(q.limit),
            offset: q.offset as i64,
        },
    )
}

/// Bigdata's filters, on the documents aliased `d`.
fn push_document_filters<DB>(dialect: &Dialect, b: &mut QueryBuilder<DB>, q: &DocumentQuery)
where
    DB: Database,
    DB::Arguments: Default,
    String: for<'t> Encode<'t, DB> + Type<DB>,
    i64: for<'t> Encode<'t, DB> + Type<DB>,
{
    if let Some(origin) = q.origin {
        b.push(" AND d.request_origin = ")
            .push_bind(origin.as_str().to_string());
    }
    if let Some(from) = q.from_date {
        b.push(" AND d.created_at >= ").push_bind(from.as_micros());
    }
    if let Some(owner) = &q.owner {
        b.push(" AND d.user_id = ").push_bind(owner.clone());
    }
    if let Some(name) = &q.file_name {
        let escaped = name
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        b.push(format_args!(" AND d.file_name {} ", dialect.like))
            .push_bind(format!("%{escaped}%"))
            .push(" ESCAPE '\\'");
    }
    if let Some(collection) = &q.rp_collection_id {
        b.push(" AND d.rp_collection_id = ")
            .push_bind(collection.clone());
    }
    if let Some(connector) = q.connector_id {
        b.push(" AND d.connector_id = ")
            .push_bind(connector.to_string());
    }
    if !q.tags.is_empty() {
        b.push(
            " AND EXISTS (SELECT 1 FROM document_tags dt JOIN tags t ON t.tag_id = dt.tag_id \
             WHERE dt.document_id = d.document_id AND (t.name IN (",
        );
        let mut names = b.separated(", ");
        for t in &q.tags {
            names.push_bind(t.clone());
        }
        b.push(") OR t.tag_id IN (");
        let mut ids = b.separated(", ");
        for t in &q.tags {
            ids.push_bind(t.to_ascii_lowercase());
        }
        b.push(")))");
    }
}

/// The connector page query, newest first after the keyset position.
pub(super) fn connector_list_query<DB>(
    dialect: &Dialect,
    prefix: &str,
    viewer: &Principal,
    page: &ConnectorPage,
) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    String: for<'t> Encode<'t, DB> + Type<DB>,
    i64: for<'t> Encode<'t, DB> + Type<DB>,
{
    visible_union(
        dialect,
        prefix,
        &format!("SELECT {CONNECTOR_COLUMNS} FROM connectors c"),
        "c",
        viewer,
        page.ownership,
        |q| {
            q.push(" AND c.state <> 'deleting'");
            if let Some(kind) = page.kind {
                q.push(" AND c.kind = ")
                    .push_bind(kind.as_str().to_string());
            }
            match page.archived {
                Some(true) => q.push(" AND c.state = 'archived'"),
                Some(false) => q.push(" AND c.state = 'active'"),
                None => q,
            };
            if let Some((at, id)) = page.after {
                q.push(" AND (c.created_at < ")
                    .push_bind(at.as_micros())
                    .push(" OR (c.created_at = ")
                    .push_bind(at.as_micros())
                    .push(" AND c.connector_id < ")
                    .push_bind(id.to_string())
                    .push("))");
            }
        },
        "created_at DESC, connector_id DESC",
        Page {
            limit: i64::from(page.limit),
            offset: 0,
        },
    )
}

struct Page {
    limit: i64,
    offset: i64,
}

/// Rows a viewer can see: one index range per visibility rule (their own;
/// others' shared with their org), each filtered, ordered and bounded to
/// what the page can need, then merged, so no list scans the table.
/// `select` names the table with `alias`; `order` uses unqualified columns.
#[allow(clippy::too_many_arguments)]
fn visible_union<DB>(
    dialect: &Dialect,
    prefix: &str,
    select: &str,
    alias: &str,
    viewer: &Principal,
    ownership: Ownership,
    filters: impl Fn(&mut QueryBuilder<DB>),
    order: &str,
    page: Page,
) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    String: for<'t> Encode<'t, DB> + Type<DB>,
    i64: for<'t> Encode<'t, DB> + Type<DB>,
{
    let branches: &[Ownership] = match ownership {
        Ownership::All => &[Ownership::Owned, Ownership::Shared],
        Ownership::Owned => &[Ownership::Owned],
        Ownership::Shared => &[Ownership::Shared],
    };
    // Every subquery in FROM is named: PostgreSQL wants it, SQLite allows it.
    let mut b: QueryBuilder<DB> =
        QueryBuilder::new(format!("{prefix}SELECT * FROM (SELECT * FROM ("));
    for (i, branch) in branches.iter().enumerate() {
        if i > 0 {
            b.push(format_args!(") AS branch{i} UNION ALL SELECT * FROM ("));
        }
        b.push(format_args!("{select} WHERE "));
        match branch {
            Ownership::Owned => b
                .push(format_args!("{alias}.user_id = "))
                .push_bind(viewer.user_id.clone()),
            _ => b
                .push(format_args!("{alias}.org_id = "))
                .push_bind(viewer.org_id.clone())
                .push(format_args!(
                    " AND {alias}.{} AND {alias}.user_id <> ",
                    dialect.shared
                ))
                .push_bind(viewer.user_id.clone()),
        };
        filters(&mut b);
        b.push(format_args!(" ORDER BY {order} LIMIT "))
            .push_bind(page.limit.saturating_add(page.offset));
    }
    // Ordered outside the union: PostgreSQL orders a union only by column names.
    b.push(format_args!(
        ") AS branch_last) AS visible ORDER BY {order} LIMIT "
    ))
    .push_bind(page.limit)
    .push(" OFFSET ")
    .push_bind(page.offset);
    b
}
