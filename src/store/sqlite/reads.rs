//! The point reads behind every request (the caller's key, a connector by
//! id or inbox, a document by id), run on the calling thread by
//! connections of their own.
//!
//! sqlx runs each SQLite connection on a thread of its own, so each of its
//! queries is a message to that thread and back: for a lookup by primary
//! key that round trip costs far more than the lookup. These reads are one
//! index step each, answered from SQLite's page cache in microseconds, so
//! they run inline instead, on the async worker that asks, with a prepared
//! statement that stays cached on the connection.
//!
//! Each read is its own statement on a connection in autocommit, so it
//! starts after it was asked and sees every write committed before (WAL:
//! readers never wait for the writer). Connections come from an idle list;
//! as a read never yields, at most one is in use per thread.
//!
//! The caller's key lookup also reports the store's [`Generation`]
//! ([`WalIndex`]), read just before it. While the generation stays the
//! same, nothing was committed, so the caller found for a key hash is kept
//! with it and reused without a query: a revoked key is a commit, and the
//! next lookup queries again.

use super::wal_index::WalIndex;
use crate::domain::{Connector, Document, Principal};
use crate::store::sql::rows::{
    tagged_document, ConnectorRow, DocumentRow, TagRow, DOCUMENT_BY_ID, PRINCIPAL_BY_KEY_HASH,
    TAGS_OF_DOCUMENT,
};
use crate::store::{Caller, Generation, StoreResult};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Idle connections kept: one per thread that reads is enough.
const MAX_IDLE: usize = 16;
/// Callers kept at most (all are dropped when it is reached).
const MAX_CALLERS: usize = 4096;

pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    wal_index: WalIndex,
    /// By key hash: the caller, found at that generation.
    callers: Mutex<HashMap<String, (Generation, Principal)>>,
}

impl Readers {
    /// Readers of the database file at `path` (which must exist: the
    /// writers' pool has created and migrated it).
    pub fn open(path: &Path) -> StoreResult<Self> {
        // Its first read fails here, at start-up, if the file cannot be read.
        let wal_index = WalIndex::open(path, connect(path)?)?;
        Ok(Self {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            wal_index,
            callers: Mutex::new(HashMap::new()),
        })
    }

    fn put_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// Runs `read` on an idle connection (a new one if none is idle).
    fn with<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => connect(&self.path)?,
        };
        let answer = read(&conn);
        // A connection whose read failed may be in any state: dropped.
        if answer.is_ok() {
            self.put_back(conn);
        }
        Ok(answer?)
    }

    /// The connector whose unique `column` is `key` (`sql` selects it).
    pub fn connector(&self, sql: &str, key: &str) -> StoreResult<Option<Connector>> {
        let row = self.with(|conn| {
            conn.prepare_cached(sql)?
                .query_row([key], connector_row)
                .optional()
        })?;
        row.map(Connector::try_from).transpose()
    }

    /// The document `id` with its tags, read in one snapshot.
    pub fn document(&self, id: &str) -> StoreResult<Option<Document>> {
        let found = self.with(|conn| {
            let snapshot = conn.unchecked_transaction()?;
            let row = snapshot
                .prepare_cached(DOCUMENT_BY_ID)?
                .query_row([id], document_row)
                .optional()?;
            let Some(row) = row else { return Ok(None) };
            let tags = snapshot
                .prepare_cached(TAGS_OF_DOCUMENT)?
                .query_map([id], tag_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some((row, tags)))
        })?;
        found
            .map(|(row, tags)| tagged_document(row, tags))
            .transpose()
    }

    /// The caller behind an unrevoked key hash, and the generation as
    /// of this lookup.
    pub fn caller(&self, key_hash: &str) -> StoreResult<Option<Caller>> {
        // Taken before the lookup, whose snapshot is then at least as new.
        let generation = self.wal_index.generation();
        let kept = generation.and_then(|now| {
            let callers = self.callers.lock().unwrap_or_else(|e| e.into_inner());
            let (at, principal) = callers.get(key_hash)?;
            (*at == now).then(|| principal.clone())
        });
        let principal = match kept {
            Some(principal) => Some(principal),
            None => self.look_up(key_hash, generation)?,
        };
        Ok(principal.map(|principal| Caller {
            principal,
            generation,
        }))
    }

    /// The caller behind `key_hash`, read now, and kept with `generation`.
    fn look_up(
        &self,
        key_hash: &str,
        generation: Option<Generation>,
    ) -> StoreResult<Option<Principal>> {
        let principal = self.with(|conn| {
            conn.prepare_cached(PRINCIPAL_BY_KEY_HASH)?
                .query_row([key_hash], |r| {
                    Ok(Principal {
                        key_id: r.get(0)?,
                        user_id: r.get(1)?,
                        org_id: r.get(2)?,
                    })
                })
                .optional()
        })?;
        if let (Some(at), Some(principal)) = (generation, &principal) {
            let mut callers = self.callers.lock().unwrap_or_else(|e| e.into_inner());
            if callers.len() >= MAX_CALLERS {
                callers.clear();
            }
            callers.insert(key_hash.to_string(), (at, principal.clone()));
        }
        Ok(principal)
    }
}

/// A reader of the database file at `path`.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Read-write only for WAL's shared memory; nothing here writes.
    conn.pragma_update(None, "query_only", true)?;
    // A reader waits only while a checkpoint resets the log.
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

/// A row of `CONNECTOR_COLUMNS`, by position.
fn connector_row(r: &Row<'_>) -> rusqlite::Result<ConnectorRow> {
    Ok(ConnectorRow {
        connector_id: r.get(0)?,
        user_id: r.get(1)?,
        org_id: r.get(2)?,
        kind: r.get(3)?,
        label: r.get(4)?,
        description: r.get(5)?,
        share_with_org: r.get(6)?,
        state: r.get(7)?,
        email_hash: r.get(8)?,
        allowed_emails: r.get(9)?,
        research_user_id: r.get(10)?,
        portal: r.get(11)?,
        password_sealed: r.get(12)?,
        files_count: r.get(13)?,
        last_sync_at: r.get(14)?,
        last_sync_status: r.get(15)?,
        last_sync_error_msg: r.get(16)?,
        last_sync_count: r.get(17)?,
        created_at: r.get(18)?,
        updated_at: r.get(19)?,
        paused_at: r.get(20)?,
    })
}

/// A row of `DOCUMENT_COLUMNS`, by position.
fn document_row(r: &Row<'_>) -> rusqlite::Result<DocumentRow> {
    Ok(DocumentRow {
        document_id: r.get(0)?,
        user_id: r.get(1)?,
        org_id: r.get(2)?,
        connector_id: r.get(3)?,
        rp_collection_id: r.get(4)?,
        file_name: r.get(5)?,
        raw_size: r.get(6)?,
        content_type: r.get(7)?,
        request_origin: r.get(8)?,
        status: r.get(9)?,
        error_code: r.get(10)?,
        share_with_org: r.get(11)?,
        published_at: r.get(12)?,
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
        file_metadata: r.get(15)?,
        sha256: r.get(16)?,
        blob_key: r.get(17)?,
    })
}

/// A row of `TAG_COLUMNS`, by position.
fn tag_row(r: &Row<'_>) -> rusqlite::Result<TagRow> {
    Ok(TagRow {
        tag_id: r.get(0)?,
        user_id: r.get(1)?,
        name: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use crate::domain::Timestamp;

    /// The generation stays while nothing is written and moves with every
    /// commit, this store's own and another process's (a connection of its
    /// own here); a caller found once is reused only while it stays.
    #[tokio::test]
    async fn the_generation_moves_with_every_commit_and_only_then() {
        use crate::store::{ConnectorStore, KeyStore};
        let (dir, store, _) = super::super::tests::store_and_viewer().await;
        let now = Timestamp::now();
        store
            .create_api_key(&crate::store::keys::key_fixture("h", now))
            .await
            .unwrap();
        let generation = || {
            let caller = store.reads.caller("h").unwrap().unwrap();
            assert_eq!(caller.principal.user_id, "u");
            caller.generation.unwrap()
        };
        let first = generation();
        assert_eq!(generation(), first, "nothing was written");
        store
            .insert_connector(&crate::domain::connector::research_fixture(now))
            .await
            .unwrap();
        let second = generation();
        assert_ne!(second, first, "this store's write");
        assert_eq!(generation(), second);
        let other = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
        other
            .execute("UPDATE connectors SET label = 'elsewhere'", [])
            .unwrap();
        let third = generation();
        assert_ne!(third, second, "another connection's write");
        assert_eq!(generation(), third);
        other
            .execute("UPDATE api_keys SET revoked_at = 1", [])
            .unwrap();
        assert!(store.caller_by_key_hash("h").await.unwrap().is_none());
    }
}
