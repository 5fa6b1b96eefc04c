//! [`DbFile`]: one redb database file as the stores use it (the gossip store here, the ledger
//! store in `icn-ledger`).
//!
//! - **Checked before use.** An existing file is verified (redb's checksums over every page)
//!   before it is opened for writing, through a copy-on-write view ([`overlay`]) so that the check,
//!   and whatever "repair" redb would like to do, never changes a byte of the file. A damaged
//!   file is an error naming it, never silently rolled back, emptied or replaced.
//! - **Failures sorted and counted.** Every failed operation has a bounded
//!   [`StorageErrorReason`] (a full disk is `no_space`) and increments
//!   `icn_system_storage_errors_total{store,reason}` once the node wired the counter in.
//! - **Upgraded from older formats.** A file written by ICN before 2026-11-25 (redb 2, file
//!   format v2) is rewritten in the current format once, by the store's own copy function; the
//!   old file is kept as `<name>.v2.bak` ([`upgrade`]).
//! - **Reopened after an I/O failure.** redb refuses every later operation on a handle that saw
//!   one I/O error, reads included. The handle is dropped and the file reopened (redb's normal
//!   crash recovery) at the next use, at most once per [`REOPEN_INTERVAL`], so a node whose disk
//!   filled up works again once space is freed, without a restart.
//! - **Large writes past the page cache.** Runs of pages of 32 KiB or more (large entries'
//!   pieces) are written with `O_DIRECT` where the filesystem allows ([`direct`]).

pub mod direct;
mod overlay;
pub mod upgrade;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use icn_obs::labels::{CounterVec2, StorageErrorReason, Store};
use redb::Database;

/// redb's page cache per store file. redb's default (1 GiB) lets a node's resident memory grow
/// with its stores until it reaches that; measured in the soak run: +2 MiB per node per minute
/// under load. Pages beyond the cache are read again from the file (and the kernel's page
/// cache, which is not the node's resident memory).
pub const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Least time between two attempts to reopen a file after an I/O failure.
pub const REOPEN_INTERVAL: Duration = Duration::from_millis(500);

/// A failed store operation: why (bounded) and redb's explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbFailure {
    /// The failure's class (the metric's `reason` label).
    pub reason: StorageErrorReason,
    /// What the database reported.
    pub message: String,
}

impl std::fmt::Display for DbFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A redb error, boxed (redb's own is large); what store operations return inside
/// [`DbFile::with`]. Every redb error converts into it with `?`.
#[derive(Debug)]
pub struct DbError(Box<redb::Error>);

impl<E: Into<redb::Error>> From<E> for DbError {
    fn from(error: E) -> Self {
        Self(Box::new(error.into()))
    }
}

impl DbError {
    /// Stored bytes that do not decode: the `corrupt` reason.
    pub fn corrupted(message: impl Into<String>) -> Self {
        Self(Box::new(redb::Error::Corrupted(message.into())))
    }
}

impl DbFailure {
    /// A failure with this reason and message.
    pub fn new(reason: StorageErrorReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }

    /// Sorts a redb error.
    pub fn from_redb(error: impl Into<DbError>) -> Self {
        let DbError(error) = error.into();
        let reason = match error.as_ref() {
            redb::Error::Io(io) if is_no_space(io) => StorageErrorReason::NoSpace,
            redb::Error::Io(_) | redb::Error::PreviousIo => StorageErrorReason::Io,
            redb::Error::Corrupted(_) => StorageErrorReason::Corrupt,
            _ => StorageErrorReason::Other,
        };
        Self::new(reason, error.to_string())
    }

    /// Whether the handle that produced this failure is unusable from now on.
    fn poisons_handle(&self) -> bool {
        matches!(
            self.reason,
            StorageErrorReason::NoSpace | StorageErrorReason::Io
        )
    }
}

/// `ENOSPC` or `EDQUOT`: a full disk or quota.
fn is_no_space(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::StorageFull
        || error.kind() == std::io::ErrorKind::QuotaExceeded
}

/// What a store needs to say about itself in errors and metrics.
#[derive(Debug)]
struct Shared {
    path: PathBuf,
    store: Store,
    /// The open handle; `None` after an I/O failure until a reopen succeeds.
    handle: RwLock<Option<Arc<Database>>>,
    /// When the last reopen was tried, and why it failed.
    last_reopen: Mutex<Option<(Instant, DbFailure)>>,
    /// `icn_system_storage_errors_total`, once the node wired it in.
    errors: OnceLock<CounterVec2<Store, StorageErrorReason>>,
    /// Creates the tables on a (re)opened handle.
    init: fn(&Database) -> Result<(), DbError>,
}

/// When a write reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Synced to the disk before the write returns (one fsync).
    Durable,
    /// Visible to readers when the write returns; synced by the next durable write or
    /// a sync. A crash before that loses it (the store stays consistent: it
    /// reopens at the last durable write).
    Deferred,
}

impl WriteMode {
    /// Begins a write transaction that commits in this mode.
    ///
    /// # Errors
    /// The database's error.
    pub fn begin_write(self, db: &Database) -> Result<redb::WriteTransaction, DbError> {
        let mut tx = db.begin_write()?;
        if self == WriteMode::Deferred {
            tx.set_durability(redb::Durability::None)?;
        }
        Ok(tx)
    }
}

/// Makes every deferred write of `db` durable (one empty durable transaction).
///
/// # Errors
/// The database's error.
pub fn sync(db: &Database) -> Result<(), DbError> {
    db.begin_write()?.commit()?;
    Ok(())
}

/// One redb file: verified at open, failures counted, reopened after I/O failures.
/// Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct DbFile {
    shared: Arc<Shared>,
}

impl DbFile {
    /// Verifies the file at `path` if it exists and is not empty, then opens (or creates) it
    /// and runs `init` (which creates the tables) in a write transaction. A file of redb's
    /// file format v2 is first upgraded with `copy` (see [`upgrade`]).
    ///
    /// # Errors
    /// A [`DbFailure`] when the file is damaged (`corrupt`; the file is left as it was), cannot
    /// be read, upgraded or opened.
    pub fn open(
        path: &Path,
        store: Store,
        init: fn(&Database) -> Result<(), DbError>,
        copy: upgrade::CopyFromV2,
    ) -> Result<Self, DbFailure> {
        if let overlay::Verified::OlderFormat(format) = overlay::verify(path)? {
            let backup = upgrade::from_v2(path, copy)?;
            tracing::warn!(
                path = %path.display(),
                backup = %backup.display(),
                "store file upgraded from redb file format v{format}; the old file is kept as the \
                 backup: delete it once this node runs well"
            );
            // The new file is checked like any other before it is opened.
            overlay::verify(path)?;
        }
        let db = open_handle(path, init)?;
        Ok(Self {
            shared: Arc::new(Shared {
                path: path.to_path_buf(),
                store,
                handle: RwLock::new(Some(Arc::new(db))),
                last_reopen: Mutex::new(None),
                errors: OnceLock::new(),
                init,
            }),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Counts this file's failures in `counters` (under its store) from now on.
    pub fn count_errors_in(&self, counters: CounterVec2<Store, StorageErrorReason>) {
        let _ = self.shared.errors.set(counters);
    }

    /// Runs `op` on the database, reopening it first if an earlier I/O failure closed it.
    /// A failure is counted; an I/O failure also closes the handle for the next call to reopen.
    ///
    /// # Errors
    /// The failure of `op`, or of the reopen.
    pub fn with<T>(
        &self,
        op: impl FnOnce(&Database) -> Result<T, DbError>,
    ) -> Result<T, DbFailure> {
        let db = self.handle().inspect_err(|f| self.count(f))?;
        op(&db).map_err(|e| {
            let failure = DbFailure::from_redb(e);
            self.count(&failure);
            if failure.poisons_handle() {
                self.close(&db);
            }
            failure
        })
    }

    fn count(&self, failure: &DbFailure) {
        if let Some(errors) = self.shared.errors.get() {
            errors.inc(self.shared.store, failure.reason);
        }
    }

    /// Drops the shared handle if it is still `db`, so the next use reopens the file.
    fn close(&self, db: &Arc<Database>) {
        let mut slot = self
            .shared
            .handle
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.as_ref().is_some_and(|open| Arc::ptr_eq(open, db)) {
            *slot = None;
            tracing::warn!(path = %self.shared.path.display(), "store closed after an I/O error; reopening at next use");
        }
    }

    /// The open handle, reopening the file if it was closed (at most once per
    /// [`REOPEN_INTERVAL`]; in between, the last reopen failure is returned).
    fn handle(&self) -> Result<Arc<Database>, DbFailure> {
        let shared = &self.shared;
        if let Some(db) = shared
            .handle
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            return Ok(db.clone());
        }
        let mut slot = shared
            .handle
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(db) = slot.as_ref() {
            return Ok(db.clone());
        }
        let mut last = shared
            .last_reopen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, failure)) = last.as_ref()
            && at.elapsed() < REOPEN_INTERVAL
        {
            return Err(failure.clone());
        }
        match open_handle(&shared.path, shared.init) {
            Ok(db) => {
                let db = Arc::new(db);
                *slot = Some(db.clone());
                *last = None;
                tracing::info!(path = %shared.path.display(), "store reopened");
                Ok(db)
            }
            Err(failure) => {
                *last = Some((Instant::now(), failure.clone()));
                Err(failure)
            }
        }
    }
}

/// Page size of every store file: redb's default, which `redb::Builder` only lets tests change.
pub(crate) const PAGE_BYTES: usize = 4096;

/// How every store file is opened (its page cache bounded by [`CACHE_BYTES`]).
fn builder() -> redb::Builder {
    let mut builder = redb::Builder::new();
    builder.set_cache_size(CACHE_BYTES);
    builder
}

/// Opens (or creates) the database and creates its tables.
fn open_handle(
    path: &Path,
    init: fn(&Database) -> Result<(), DbError>,
) -> Result<Database, DbFailure> {
    let backend = direct::DirectWrites::open(path)
        .map_err(|e| DbFailure::from_redb(redb::StorageError::Io(e)))?;
    let db = builder()
        .create_with_backend(backend)
        .map_err(DbFailure::from_redb)?;
    init(&db).map_err(DbFailure::from_redb)?;
    Ok(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_sorted_into_bounded_reasons() {
        let full = std::io::Error::from_raw_os_error(28); // ENOSPC
        assert_eq!(
            DbFailure::from_redb(redb::StorageError::Io(full)).reason,
            StorageErrorReason::NoSpace
        );
        let eio = std::io::Error::from_raw_os_error(5); // EIO
        assert_eq!(
            DbFailure::from_redb(redb::StorageError::Io(eio)).reason,
            StorageErrorReason::Io
        );
        assert_eq!(
            DbFailure::from_redb(redb::StorageError::PreviousIo).reason,
            StorageErrorReason::Io
        );
        assert_eq!(
            DbFailure::from_redb(redb::Error::Corrupted("x".into())).reason,
            StorageErrorReason::Corrupt
        );
        assert_eq!(
            DbFailure::from_redb(redb::Error::DatabaseAlreadyOpen).reason,
            StorageErrorReason::Other
        );
    }
}
