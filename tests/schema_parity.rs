//! The two migration histories (`migrations/sqlite`, `migrations/postgres`)
//! must build the same schema: the same tables, the same columns with the
//! same nullability, the same keys and the same named indexes. Each database
//! is migrated the way it is in production, by starting the binary on it.
//!
//! What is compared, and what is left out:
//! - sqlx's own `_sqlx_migrations` table is not part of the schema.
//! - Column types are not compared: the dialects spell them differently
//!   (`INTEGER` vs `BIGINT`, `BLOB` vs `BYTEA`, `INTEGER` 0/1 vs `BOOLEAN`).
//! - Indexes a backend creates for a constraint have names nobody chose
//!   (`sqlite_autoindex_tags_1`, `tags_user_id_name_key`), so primary keys
//!   and UNIQUE constraints are compared by table and columns instead.
//! - Indexes created by name (`CREATE INDEX`) are compared by name, with
//!   their table, columns, uniqueness and whether they are partial.
//! - Nullability is compared as each backend reports it. SQLite lets a
//!   PRIMARY KEY column of an ordinary table hold NULL; the SQLite tables
//!   are STRICT, where (as on PostgreSQL) key columns are NOT NULL. A
//!   non-STRICT table added later would show up here.
//! - The full-text index itself is each database's own (contract 11): on
//!   SQLite the FTS5 table `search_fts`, the shadow tables FTS5 keeps for
//!   it and `search_fts_orgs` (each org's range of its keys); on
//!   PostgreSQL the `tsvector` column `search_documents.search_vector` and
//!   its GIN index. The tables they index, `search_documents` and
//!   `search_texts`, are compared like any other.

mod common;

use common::{TestDatabase, TestServer};
use sqlx::{Connection, Row};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default)]
struct Schema {
    /// Table → column → nullable.
    columns: BTreeMap<String, BTreeMap<String, bool>>,
    /// `(table, "primary key" | "unique", columns)`.
    keys: BTreeSet<(String, &'static str, Vec<String>)>,
    /// Index name → what it indexes.
    indexes: BTreeMap<String, Index>,
}

#[derive(Debug, PartialEq, Eq)]
struct Index {
    table: String,
    columns: Vec<String>,
    unique: bool,
    partial: bool,
}

/// Every way the two schemas differ, one line each, sorted.
fn differences(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let mut out = vec![];
    let tables: BTreeSet<&String> = sqlite
        .columns
        .keys()
        .chain(postgres.columns.keys())
        .collect();
    for table in tables {
        let (s, p) = (sqlite.columns.get(table), postgres.columns.get(table));
        let (Some(s), Some(p)) = (s, p) else {
            out.push(format!("table {table}: only on {}", only_on(s.is_some())));
            continue;
        };
        let columns: BTreeSet<&String> = s.keys().chain(p.keys()).collect();
        for column in columns {
            match (s.get(column), p.get(column)) {
                (Some(a), Some(b)) if a == b => {}
                (Some(a), Some(b)) => out.push(format!(
                    "{table}.{column}: {} on SQLite, {} on PostgreSQL",
                    nullability(*a),
                    nullability(*b)
                )),
                (a, _) => out.push(format!(
                    "column {table}.{column}: only on {}",
                    only_on(a.is_some())
                )),
            }
        }
    }
    for key in sqlite.keys.symmetric_difference(&postgres.keys) {
        let on = only_on(sqlite.keys.contains(key));
        out.push(format!(
            "{} on {}({}): only on {on}",
            key.1,
            key.0,
            key.2.join(", ")
        ));
    }
    let names: BTreeSet<&String> = sqlite
        .indexes
        .keys()
        .chain(postgres.indexes.keys())
        .collect();
    for name in names {
        match (sqlite.indexes.get(name), postgres.indexes.get(name)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => out.push(format!(
                "index {name}: {a:?} on SQLite, {b:?} on PostgreSQL"
            )),
            (a, _) => out.push(format!("index {name}: only on {}", only_on(a.is_some()))),
        }
    }
    out.sort();
    out
}

fn only_on(sqlite: bool) -> &'static str {
    if sqlite {
        "SQLite"
    } else {
        "PostgreSQL"
    }
}

fn nullability(nullable: bool) -> &'static str {
    if nullable {
        "nullable"
    } else {
        "NOT NULL"
    }
}

async fn sqlite_schema(url: &str) -> Schema {
    let mut db = sqlx::SqliteConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' \
         AND name <> 'search_fts' AND name NOT LIKE 'search\\_fts\\_%' ESCAPE '\\'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let mut schema = Schema::default();
    for table in tables {
        let columns =
            sqlx::query(r#"SELECT name, "notnull", pk FROM pragma_table_info(?) ORDER BY pk"#)
                .bind(&table)
                .fetch_all(&mut db)
                .await
                .unwrap();
        let mut primary_key = vec![];
        for c in &columns {
            let name: String = c.get("name");
            if c.get::<i64, _>("pk") > 0 {
                primary_key.push(name.clone());
            }
            let nullable = c.get::<i64, _>("notnull") == 0;
            schema
                .columns
                .entry(table.clone())
                .or_default()
                .insert(name, nullable);
        }
        if !primary_key.is_empty() {
            schema
                .keys
                .insert((table.clone(), "primary key", primary_key));
        }
        let indexes =
            sqlx::query(r#"SELECT name, "unique", origin, partial FROM pragma_index_list(?)"#)
                .bind(&table)
                .fetch_all(&mut db)
                .await
                .unwrap();
        for i in indexes {
            let name: String = i.get("name");
            let columns: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
                    .bind(&name)
                    .fetch_all(&mut db)
                    .await
                    .unwrap();
            match i.get::<String, _>("origin").as_str() {
                // Listed above from the table's own columns.
                "pk" => {}
                "u" => {
                    schema.keys.insert((table.clone(), "unique", columns));
                }
                _ => {
                    let index = Index {
                        table: table.clone(),
                        columns,
                        unique: i.get::<i64, _>("unique") == 1,
                        partial: i.get::<i64, _>("partial") == 1,
                    };
                    schema.indexes.insert(name, index);
                }
            }
        }
    }
    schema
}

async fn postgres_schema(url: &str) -> Schema {
    let mut db = sqlx::PgConnection::connect(url).await.unwrap();
    let columns = sqlx::query(
        "SELECT c.table_name::text AS table_name, c.column_name::text AS column_name, \
                c.is_nullable = 'YES' AS nullable \
         FROM information_schema.columns c \
         JOIN information_schema.tables t USING (table_schema, table_name) \
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' \
           AND c.table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let mut schema = Schema::default();
    for c in columns {
        schema
            .columns
            .entry(c.get("table_name"))
            .or_default()
            .insert(c.get("column_name"), c.get("nullable"));
    }
    // Each index with its columns in key order, and the constraint it backs.
    let indexes = sqlx::query(
        "SELECT t.relname::text AS table_name, x.relname::text AS index_name, \
                i.indisunique AS is_unique, i.indpred IS NOT NULL AS partial, \
                (SELECT k.contype::text FROM pg_constraint k WHERE k.conindid = i.indexrelid \
                   AND k.contype IN ('p', 'u')) AS constraint_kind, \
                ARRAY(SELECT a.attname::text \
                      FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS key(attnum, position) \
                      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = key.attnum \
                      ORDER BY key.position) AS columns \
         FROM pg_index i \
         JOIN pg_class x ON x.oid = i.indexrelid \
         JOIN pg_class t ON t.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = 'public' AND t.relname <> '_sqlx_migrations'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    for i in indexes {
        let table: String = i.get("table_name");
        let columns: Vec<String> = i.get("columns");
        match i.get::<Option<String>, _>("constraint_kind").as_deref() {
            Some("p") => {
                schema.keys.insert((table, "primary key", columns));
            }
            Some(_) => {
                schema.keys.insert((table, "unique", columns));
            }
            None => {
                let index = Index {
                    table,
                    columns,
                    unique: i.get("is_unique"),
                    partial: i.get("partial"),
                };
                schema.indexes.insert(i.get("index_name"), index);
            }
        }
    }
    schema
}

#[tokio::test]
async fn sqlite_and_postgresql_migrate_to_the_same_schema() {
    let Some(database) = TestDatabase::create_always() else {
        eprintln!("SKIPPED: schema parity needs PostgreSQL");
        return;
    };
    let sqlite_server = TestServer::builder().sqlite().start().await;
    let postgres_server = TestServer::builder().postgres(database).start().await;
    let sqlite_url = format!(
        "sqlite://{}?mode=ro",
        sqlite_server.data_dir().join("inlet.db").display()
    );
    let sqlite = sqlite_schema(&sqlite_url).await;
    let mut postgres = postgres_schema(postgres_server.database_url().unwrap()).await;
    // PostgreSQL's half of the full-text index (see the top of this file).
    let vector = postgres
        .columns
        .get_mut("search_documents")
        .and_then(|c| c.remove("search_vector"));
    assert_eq!(vector, Some(false), "the search vector is there");
    assert!(postgres.indexes.remove("search_documents_vector").is_some());
    assert!(
        sqlite.columns.contains_key("documents") && !sqlite.indexes.is_empty(),
        "the schema was read: {sqlite:?}"
    );
    assert_eq!(
        differences(&sqlite, &postgres),
        Vec::<String>::new(),
        "the migrations have drifted apart"
    );
}

/// The comparison itself names each kind of drift.
#[test]
fn differences_name_every_kind_of_drift() {
    let index = |unique| Index {
        table: "jobs".into(),
        columns: vec!["run_at".into()],
        unique,
        partial: true,
    };
    let mut sqlite = Schema::default();
    let mut postgres = Schema::default();
    for (schema, nullable) in [(&mut sqlite, true), (&mut postgres, false)] {
        let jobs = schema.columns.entry("jobs".into()).or_default();
        jobs.insert("job_id".into(), false);
        jobs.insert("last_error".into(), nullable);
        schema
            .keys
            .insert(("jobs".into(), "primary key", vec!["job_id".into()]));
    }
    sqlite
        .columns
        .get_mut("jobs")
        .unwrap()
        .insert("extra".into(), true);
    sqlite.columns.insert("only_here".into(), BTreeMap::new());
    postgres
        .keys
        .insert(("jobs".into(), "unique", vec!["last_error".into()]));
    sqlite.indexes.insert("jobs_queued".into(), index(false));
    postgres.indexes.insert("jobs_queued".into(), index(true));
    postgres.indexes.insert("jobs_leased".into(), index(false));
    let found = differences(&sqlite, &postgres);
    for expected in [
        "column jobs.extra: only on SQLite",
        "jobs.last_error: nullable on SQLite, NOT NULL on PostgreSQL",
        "table only_here: only on SQLite",
        "unique on jobs(last_error): only on PostgreSQL",
        "index jobs_leased: only on PostgreSQL",
    ] {
        assert!(
            found.iter().any(|d| d == expected),
            "{expected} in {found:#?}"
        );
    }
    assert!(
        found.iter().any(|d| d.starts_with("index jobs_queued: ")),
        "{found:#?}"
    );
    assert_eq!(found.len(), 6, "{found:#?}");
}
