//! The store's [`Generation`] on SQLite: the header of the WAL index (the
//! `-shm` file), read without a transaction.
//!
//! Every commit, by any connection of any process, rewrites that header
//! (its change counter, last frame, salts and checksums), and SQLite itself
//! decides whether its page cache is still good by comparing the header
//! with the one it saw last; `PRAGMA data_version` moves exactly then. The
//! header's layout is part of the file format shared by every SQLite
//! version that may open the database at once
//! (<https://www.sqlite.org/walformat.html>). So two equal headers mean no
//! commit in between, and reading them costs one `pread` instead of a read
//! transaction's locks (a third of a cached `GET`'s time).
//!
//! Read as SQLite reads it: the header is kept twice, written second copy
//! first, and two copies that differ are a write under way, reported as no
//! generation (nothing is then reused). The `-shm` file stays in place
//! while any connection has the database open in WAL mode, so the file
//! holds one open connection for as long as it reads the header.

use crate::store::{Generation, StoreResult};
use rusqlite::Connection;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

/// One copy of the header: `WalIndexHdr`, 48 bytes.
const HEADER: usize = 48;
/// Its `isInit` byte: zero in a header never written.
const IS_INIT: usize = 12;

pub(super) struct WalIndex {
    /// `None` when the database has no WAL index to read: nothing is reused.
    shm: Option<File>,
    /// Keeps the `-shm` file from being removed or truncated by the last
    /// connection of this process closing. Never used after opening.
    _anchor: Mutex<Connection>,
}

impl WalIndex {
    /// The WAL index of the database at `path`, which is open in WAL mode;
    /// `anchor`, a connection to it, is held from now on.
    pub fn open(path: &Path, anchor: Connection) -> StoreResult<Self> {
        // A first read maps the WAL index, and holds it from then on.
        anchor.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?;
        let mut shm = path.as_os_str().to_owned();
        shm.push("-shm");
        let shm = File::open(&shm)
            .inspect_err(|e| {
                tracing::warn!(error = %e, "no WAL index to read: repeated reads are not reused");
            })
            .ok();
        Ok(Self {
            shm,
            _anchor: Mutex::new(anchor),
        })
    }

    /// The generation now; `None` while a commit writes the header (or if
    /// it cannot be read).
    pub fn generation(&self) -> Option<Generation> {
        let mut both = [0u8; 2 * HEADER];
        self.shm.as_ref()?.read_exact_at(&mut both, 0).ok()?;
        let (first, second) = both.split_at(HEADER);
        if first != second || first[IS_INIT] == 0 {
            return None;
        }
        Some(Generation(first.try_into().ok()?))
    }
}
