//! Every statement of the store, written once for both databases.
//!
//! The files beside this one are not modules of their own: `statements!`
//! compiles them inside each backend's module (`sqlite`, `postgres`), where
//! they meet that backend's sqlx types. So one text serves both without
//! generic bounds on every function, and what really differs lives in the
//! backend module and in its [`Dialect`]. The backend module defines:
//!
//! - `Db`, its sqlx database, and `Backend`, its store type;
//! - `DIALECT`, the few words the databases spell differently;
//! - on `Backend`: `pool()`; `begin_write()`, a transaction that holds the
//!   write lock from its first statement; `write(f)`, which runs `f` in a
//!   committed transaction of its own (SQLite: in the next group commit);
//!   and the point reads that SQLite runs on its readers' connections
//!   (`connector_by_id`, `connector_by_inbox`, `document_by_id`,
//!   `caller_by_hash`).
//!
//! Placeholders are `$N`: PostgreSQL's own, and SQLite binds `$N` to the
//! N-th argument too.

pub(super) mod rows;

use crate::domain::search::{compile, SearchQuery};

// rustfmt formats a declared module whatever its cfg; these are never
// compiled as modules, only through `statements!`.
#[cfg(any())]
mod connectors;
#[cfg(any())]
mod documents;
#[cfg(any())]
mod events;
#[cfg(any())]
mod jobs;
#[cfg(any())]
mod keys;
#[cfg(any())]
mod search;
#[cfg(any())]
mod sessions;
#[cfg(any())]
mod syncs;
#[cfg(any())]
mod tags;
#[cfg(any())]
mod visibility;

/// Where the databases' statements differ, word by word.
pub(super) struct Dialect {
    /// Case-insensitive `LIKE`.
    pub like: &'static str,
    /// Case-insensitive sort key for a file name column: before and after it.
    pub file_name_order: (&'static str, &'static str),
    /// A join that keeps the order written: the left side drives (SQLite's
    /// CROSS JOIN; PostgreSQL's planner weighs its statistics).
    pub join_in_order: &'static str,
    /// The "shared with the org" predicate, as the partial index states it.
    pub shared: &'static str,
    /// Locks the selected rows until the transaction ends. SQLite's write
    /// transactions (`BEGIN IMMEDIATE`) already hold the one write lock.
    pub row_lock: &'static str,
    /// Locks the selected rows and passes over those another transaction
    /// holds, so workers claim different jobs.
    pub skip_locked: &'static str,
    /// `t.name` starts with the second argument.
    pub tag_prefix: &'static str,
    /// The search index's matches and their entries `s`
    /// (`search_documents`, which carry the visibility rules' columns).
    pub search_entries: &'static str,
    /// What joins each entry `s` to its document `d`, in the entries' order.
    pub search_document: &'static str,
    /// The order of the search index's rows, most recently indexed first
    /// (SQLite's FTS5 walks its rowids that way and stops at the limit).
    pub search_newest: &'static str,
    /// The full-text predicate among one org's documents: before the bound
    /// org id, between it and the bound query, and after that.
    pub search_match: (&'static str, &'static str, &'static str),
    /// How a match's relevance is computed (higher is better).
    pub search_rank: SearchRank,
    /// A parsed query in this database's syntax.
    pub search_syntax: fn(&SearchQuery) -> String,
    /// A query in that syntax as it is matched among one org's documents
    /// (given the org's term), where the org is a term of the index.
    pub search_in_org: Option<fn(&str, &str) -> String>,
    /// Whether the index row carries a `tsvector` (PostgreSQL).
    pub search_vector: bool,
    /// The full-text index's segments, where inserts add them and the
    /// store merges them on request (SQLite's FTS5); `None` where the
    /// database keeps its index itself (PostgreSQL's GIN, by autovacuum).
    pub search_segments: Option<SearchSegments>,
    /// Written before a column so that no index on it drives the plan
    /// (SQLite's unary `+`; PostgreSQL's planner weighs its statistics).
    pub not_indexed: &'static str,
    /// What turns a statement into its plan, and the column of the plan's
    /// rows that describes each step.
    pub explain: (&'static str, usize),
}

/// Statements on the segments of a full-text index.
pub(super) struct SearchSegments {
    /// The size of each segment, in the index's entries for it (about one
    /// per leaf page).
    pub sizes: &'static str,
    /// Merges up to `-$1` pages of every segment towards one.
    pub merge: &'static str,
    /// The connection's count of changed rows so far: a merge that wrote
    /// nothing changed one row (the command itself).
    pub changes: &'static str,
}

/// How a database ranks a search's matches.
pub(super) enum SearchRank {
    /// Of the row and the whole query, bound between the two parts
    /// (PostgreSQL's `ts_rank`, which weighs no word by its frequency).
    OfQuery(&'static str, &'static str),
    /// BM25 with each phrase weighed among the viewer's org's newest
    /// entries (SQLite's `inlet_rank`, store/sqlite/rank.rs), counted by a
    /// table `w` of one row joined after the matches.
    Weighed {
        /// Opens `w`: the number of keys counted (`entries`).
        entries: &'static str,
        /// One column `holding_N` per phrase: before and after its FTS5
        /// expression, bound.
        holding: (&'static str, &'static str),
        /// Closes `w`: its window of keys, before and after the bound org.
        window: (&'static str, &'static str),
    },
}

pub(super) const SQLITE: Dialect = Dialect {
    like: "LIKE",
    file_name_order: ("", " COLLATE NOCASE"),
    join_in_order: "CROSS JOIN",
    shared: "share_with_org = 1",
    row_lock: "",
    skip_locked: "",
    tag_prefix: "substr(t.name, 1, length($2)) = $2",
    // CROSS JOIN fixes the order: the org's key range, the full-text match
    // within it, then each match's entry by key. The planner may otherwise
    // walk the viewer's documents and run the whole match again for every
    // one of them.
    search_entries: "search_fts_orgs o CROSS JOIN search_fts \
                     CROSS JOIN search_documents s ON s.search_key = search_fts.rowid",
    search_document: "CROSS JOIN documents d ON d.document_id = s.document_id",
    search_newest: "search_fts.rowid DESC",
    search_match: (
        "o.org_id = ",
        " AND search_fts MATCH ",
        " AND search_fts.rowid BETWEEN o.search_org_first AND o.search_org_last",
    ),
    // The org's 5,000 newest keys weigh the phrases: a bounded count, of
    // the org's own documents (FTS5's bm25() counts the whole table).
    search_rank: SearchRank::Weighed {
        // Keys of deleted entries count too: the weights are a sample.
        entries: "(SELECT keys.hi - keys.lo + 1 AS entries",
        holding: (
            ", (SELECT count(*) FROM search_fts f WHERE f.search_fts MATCH ",
            " AND f.rowid BETWEEN keys.lo AND keys.hi)",
        ),
        window: (
            " FROM (SELECT max(o.search_org_first, n.search_key - 4999) AS lo, \
             n.search_key AS hi FROM search_fts_orgs o CROSS JOIN search_documents n \
             WHERE o.org_id = ",
            " AND n.search_key BETWEEN o.search_org_first AND o.search_org_last \
             ORDER BY n.search_key DESC LIMIT 1) AS keys LIMIT 1) AS w",
        ),
    },
    search_syntax: compile::to_fts5,
    // The org is a range of keys (search_fts_orgs), not a term.
    search_in_org: None,
    search_vector: false,
    search_segments: Some(SearchSegments {
        sizes: "SELECT count(*) FROM search_fts_idx GROUP BY segid",
        // A negative page count merges across levels, as 'optimize' does,
        // but stops after that many pages.
        merge: "INSERT INTO search_fts (search_fts, rank) VALUES ('merge', $1)",
        changes: "SELECT total_changes()",
    }),
    not_indexed: "+",
    explain: ("EXPLAIN QUERY PLAN ", 3),
};

pub(super) const POSTGRES: Dialect = Dialect {
    like: "ILIKE",
    file_name_order: ("lower(", ")"),
    join_in_order: "JOIN",
    shared: "share_with_org",
    row_lock: " FOR UPDATE",
    skip_locked: " FOR UPDATE SKIP LOCKED",
    tag_prefix: "starts_with(t.name, $2)",
    // The matches most recently indexed first, then (`search_document`)
    // each one's document by key in that order, so a ranked search stops
    // after its window. Left to itself the planner hashes a sequential scan
    // of every document (`ORDER BY` and `OFFSET 0` keep both subqueries
    // from being flattened into that join).
    search_entries: "(SELECT * FROM search_documents ORDER BY search_key DESC) AS s",
    search_document: "CROSS JOIN LATERAL (SELECT * FROM documents \
                      WHERE documents.document_id = s.document_id OFFSET 0) AS d",
    search_newest: "s.search_key DESC",
    // The org's lexeme narrows the vector's GIN index to the org.
    search_match: (
        "s.org_id = ",
        " AND s.search_vector @@ CAST(",
        " AS tsquery)",
    ),
    search_rank: SearchRank::OfQuery("ts_rank(s.search_vector, CAST(", " AS tsquery))"),
    search_syntax: compile::to_tsquery,
    search_in_org: Some(compile::tsquery_in_org),
    search_vector: true,
    search_segments: None,
    not_indexed: "",
    explain: ("EXPLAIN ", 0),
};

pub(super) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Brings a database's schema up to date. PostgreSQL: sqlx takes an
/// advisory lock, so replicas starting together migrate once.
pub(super) async fn migrate<'a, A>(
    migrator: sqlx::migrate::Migrator,
    pool: A,
    database: &str,
) -> anyhow::Result<()>
where
    A: sqlx::Acquire<'a>,
    <A::Connection as std::ops::Deref>::Target: sqlx::migrate::Migrate,
{
    migrator
        .run(pool)
        .await
        .map_err(|e| anyhow::anyhow!("cannot migrate the {database} database: {e}"))
}

/// Compiles every aggregate's statements in the invoking module for the
/// sqlx database `$db`, as `impl`s on the store `$backend`.
macro_rules! statements {
    ($db:ty, $backend:ty, $dialect:expr) => {
        type Db = $db;
        type Backend = $backend;
        const DIALECT: $crate::store::sql::Dialect = $dialect;
        /// A connection of this backend, inside a transaction or not.
        type Conn = <Db as sqlx::Database>::Connection;
        $crate::store::sql::statements!(@include keys, connectors, documents, events, tags, jobs, syncs, visibility, search, sessions);
    };
    (@include $($aggregate:ident),*) => {
        $(
            mod $aggregate {
                #[allow(unused_imports)]
                use super::{Backend, Conn, Db, DIALECT};
                include!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/src/store/sql/",
                    stringify!($aggregate),
                    ".rs"
                ));
            }
        )*
    };
}
pub(super) use statements;
