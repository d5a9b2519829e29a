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
//! The caller's key lookup also reports the store's [`Generation`], from
//! SQLite's data version as that lookup's transaction began. That number
//! is per connection: it changes when another connection (of any process)
//! has committed since this one last looked, and readers never commit. So
//! each connection keeps the last one it saw, and one that sees a change
//! moves the process-wide generation before it goes back to the idle list.
//! Why that is enough: a result read after a lookup that saw generation
//! `g` (the read starts after it) is stale only for a commit `W` that came
//! after the read began; any lookup after `W` is on a connection that
//! either sees `W` now or saw it earlier, after `W`; either way the
//! generation moved after `W`, so after `g` was taken, and no later lookup
//! reports `g` again.

use crate::domain::{Connector, Document, Principal};
use crate::store::sql::rows::{
    tagged_document, ConnectorRow, DocumentRow, TagRow, DOCUMENT_BY_ID, PRINCIPAL_BY_KEY_HASH,
    TAGS_OF_DOCUMENT,
};
use crate::store::{Caller, Generation, StoreResult};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Idle connections kept: one per thread that reads is enough.
const MAX_IDLE: usize = 16;

pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Reader>>,
    /// Moved by every connection that finds the database changed.
    generation: AtomicU64,
}

struct Reader {
    conn: Connection,
    /// The data version when this connection last read it.
    seen: Option<u32>,
}

impl Readers {
    /// Readers of the database file at `path` (which must exist: the
    /// writers' pool has created and migrated it).
    pub fn open(path: &Path) -> StoreResult<Self> {
        let readers = Self {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
        };
        // Fails here, at start-up, if the file cannot be read.
        let first = readers.connect()?;
        readers.put_back(first);
        Ok(readers)
    }

    fn connect(&self) -> rusqlite::Result<Reader> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Read-write only for WAL's shared memory; nothing here writes.
        conn.pragma_update(None, "query_only", true)?;
        // A reader waits only while a checkpoint resets the log.
        conn.busy_timeout(Duration::from_secs(10))?;
        Ok(Reader { conn, seen: None })
    }

    fn put_back(&self, reader: Reader) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(reader);
        }
    }

    /// Runs `read` on an idle connection (a new one if none is idle).
    fn with_reader<T>(
        &self,
        read: impl FnOnce(&mut Reader) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut reader = match idle {
            Some(reader) => reader,
            None => self.connect()?,
        };
        let answer = read(&mut reader);
        // A connection whose read failed may be in any state: dropped.
        if answer.is_ok() {
            self.put_back(reader);
        }
        Ok(answer?)
    }

    fn with<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        self.with_reader(|reader| read(&reader.conn))
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

    /// The caller behind an unrevoked key hash, and the generation (see
    /// the module's comment) as of this read.
    pub fn caller(&self, key_hash: &str) -> StoreResult<Option<Caller>> {
        self.with_reader(|reader| {
            let principal = reader
                .conn
                .prepare_cached(PRINCIPAL_BY_KEY_HASH)?
                .query_row([key_hash], |r| {
                    Ok(Principal {
                        key_id: r.get(0)?,
                        user_id: r.get(1)?,
                        org_id: r.get(2)?,
                    })
                })
                .optional()?;
            let version = data_version(&reader.conn)?;
            // Before this connection goes back to the idle list.
            if reader.seen.replace(version) != Some(version) {
                self.generation.fetch_add(1, Ordering::SeqCst);
            }
            let generation = Generation(self.generation.load(Ordering::SeqCst));
            Ok(principal.map(|principal| Caller {
                principal,
                generation: Some(generation),
            }))
        })
    }
}

/// The data version of `conn`'s database as its last read transaction
/// began: moved by every commit of another connection found then (and by
/// this one's own, but readers never write). It is `PRAGMA data_version`
/// without a statement of its own: one call, no virtual machine.
fn data_version(conn: &Connection) -> rusqlite::Result<u32> {
    let mut version: u32 = 0;
    // SAFETY: the handle is this open connection's; the file control
    // writes one unsigned int through the pointer, which lives until the
    // call returns.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            rusqlite::ffi::SQLITE_FCNTL_DATA_VERSION,
            (&raw mut version).cast(),
        )
    };
    if rc == rusqlite::ffi::SQLITE_OK {
        Ok(version)
    } else {
        Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rc),
            Some("reading the data version".into()),
        ))
    }
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
    use super::super::SqliteStore;
    use crate::domain::Timestamp;

    /// The generation a key lookup reports stays while nothing is written
    /// and moves with every commit, this store's own and another
    /// process's (a connection of its own here), whichever reader looks.
    #[tokio::test]
    async fn the_generation_moves_with_every_commit_and_only_then() {
        use crate::store::{ConnectorStore, KeyStore};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let now = Timestamp::now();
        store
            .create_api_key(&crate::store::keys::key_fixture("h", now))
            .await
            .unwrap();
        // Two readers, each used in turn: the idle list is last in, first out.
        let readers = &store.reads;
        let mut held = vec![readers.connect().unwrap(), readers.connect().unwrap()];
        let mut on = |which: usize| {
            readers.put_back(held.remove(which));
            let caller = readers.caller("h").unwrap().unwrap();
            let reader = readers.idle.lock().unwrap().pop().unwrap();
            held.insert(which, reader);
            caller.generation.unwrap()
        };
        let first = on(0);
        let second = on(1);
        assert_eq!(on(0), second, "nothing was written");
        assert_eq!(on(1), second, "nothing was written");
        store
            .insert_connector(&crate::domain::connector::research_fixture(now))
            .await
            .unwrap();
        let after_write = on(0);
        assert!(![first, second].contains(&after_write), "this store's write");
        let after_write = on(1);
        assert!(![first, second].contains(&after_write), "seen by the other");
        assert_eq!(on(0), after_write);
        let other = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
        other
            .execute("UPDATE connectors SET label = 'elsewhere'", [])
            .unwrap();
        let elsewhere = on(1);
        assert_ne!(elsewhere, after_write, "another connection's write");
        assert_ne!(on(0), after_write, "seen by the other");
        other
            .execute("UPDATE api_keys SET revoked_at = 1", [])
            .unwrap();
        assert!(store.caller_by_key_hash("h").await.unwrap().is_none());
    }
}
