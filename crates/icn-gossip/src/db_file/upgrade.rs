//! Upgrading a store file written by ICN before 2026-11-25 (redb 2, file format v2), which the
//! redb in use cannot open. The old file is read once with redb 2, and the store's own copy
//! function ([`CopyFromV2`]) writes its rows into a new file of the current format; the old file
//! is kept beside it as `<name>.v2.bak`.
//!
//! The original file is never written: redb 2 opens a copy of it (and may repair that copy after
//! an unclean shutdown). The original is locked as redb locks its files (`flock`, exclusive)
//! while it is copied and replaced, so a process still running an older version on it makes the
//! upgrade fail instead of copying a file being written. The new file replaces the original with one `rename`, after a hard link
//! has kept the original under the backup name. A crash before the rename leaves the original in
//! place (the next start upgrades again, after dropping a backup name that is only a link to the
//! original); a crash after it leaves the new file.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use icn_obs::labels::StorageErrorReason;

use super::{DbError, DbFailure};

/// Reads every row a store keeps from its old file (`old`) and writes it into the new one
/// (`new`, committed durably by the caller).
pub type CopyFromV2 =
    fn(old: &redb2::ReadTransaction, new: &redb::WriteTransaction) -> Result<(), DbError>;

/// Where the file at `path` is kept after its upgrade.
pub fn backup_path(path: &Path) -> PathBuf {
    with_suffix(path, ".v2.bak")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Replaces the file-format-v2 file at `path` with a current one holding the rows `copy`
/// moves; returns where the original is kept.
///
/// # Errors
/// `io` when a file cannot be copied, linked or renamed (the original is then still at
/// `path`), `corrupt` when redb 2 cannot read the old file or a row does not decode, `other`
/// when another process holds the file or a backup from an earlier upgrade is in the way.
pub(super) fn from_v2(path: &Path, copy: CopyFromV2) -> Result<PathBuf, DbFailure> {
    let io = |what: &str, e: std::io::Error| {
        DbFailure::new(
            StorageErrorReason::Io,
            format!("upgrading the store file: cannot {what}: {e}"),
        )
    };
    let backup = backup_path(path);
    if same_file(path, &backup) {
        // An upgrade stopped between keeping the original and replacing it.
        fs::remove_file(&backup).map_err(|e| io("remove the link of an earlier attempt", e))?;
    } else if backup.exists() {
        return Err(DbFailure::new(
            StorageErrorReason::Other,
            format!(
                "the store file needs an upgrade from redb file format v2, but {} is in the \
                 way (kept by an earlier upgrade?): move it away and start again",
                backup.display()
            ),
        ));
    }
    // Held until the new file is in place.
    let original = fs::File::open(path).map_err(|e| io("open the old file", e))?;
    match original.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            return Err(DbFailure::new(
                StorageErrorReason::Other,
                "the store file needs an upgrade from redb file format v2, but another process \
                 has it open (an older icnd still running?): stop it and start again",
            ));
        }
        Err(fs::TryLockError::Error(e)) => return Err(io("lock the old file", e)),
    }
    let work = with_suffix(path, ".v2-upgrading");
    let fresh = with_suffix(path, ".upgraded");
    for leftover in [&work, &fresh] {
        match fs::remove_file(leftover) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("remove a leftover of an earlier attempt", e)),
        }
    }
    fs::copy(path, &work).map_err(|e| io("copy the old file", e))?;
    let written = write_upgraded(&work, &fresh, copy);
    let _ = fs::remove_file(&work);
    if let Err(failure) = written {
        let _ = fs::remove_file(&fresh);
        return Err(failure);
    }
    fs::hard_link(path, &backup).map_err(|e| io("keep the old file", e))?;
    fs::rename(&fresh, path).map_err(|e| io("put the new file in place", e))?;
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("sync the directory", e))?;
    }
    drop(original);
    Ok(backup)
}

/// Whether `a` and `b` both exist and are one file (hard links of each other).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Copies the rows of the v2 file `old` into a new file `new` (one durable transaction).
fn write_upgraded(old: &Path, new: &Path, copy: CopyFromV2) -> Result<(), DbFailure> {
    let old = redb2::Database::open(old).map_err(|e| DbFailure::from_redb(DbError::from_v2(e)))?;
    let read = old
        .begin_read()
        .map_err(|e| DbFailure::from_redb(DbError::from_v2(e)))?;
    let new = super::builder().create(new).map_err(DbFailure::from_redb)?;
    let tx = new.begin_write().map_err(DbFailure::from_redb)?;
    copy(&read, &tx).map_err(DbFailure::from_redb)?;
    tx.commit().map_err(DbFailure::from_redb)?;
    Ok(())
}

/// The table `definition` of an old file, `None` when the file has no such table.
///
/// # Errors
/// The old file's error.
pub fn open_v2_table<K: redb2::Key + 'static, V: redb2::Value + 'static>(
    tx: &redb2::ReadTransaction,
    definition: redb2::TableDefinition<'_, K, V>,
) -> Result<Option<redb2::ReadOnlyTable<K, V>>, DbError> {
    match tx.open_table(definition) {
        Ok(table) => Ok(Some(table)),
        Err(redb2::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(DbError::from_v2(e)),
    }
}

impl DbError {
    /// An error of redb 2 reading an old file: I/O errors stay I/O errors, the rest means the
    /// old file cannot be read (`corrupt`).
    pub fn from_v2(error: impl Into<redb2::Error>) -> Self {
        match error.into() {
            redb2::Error::Io(io) => Self::from(redb::StorageError::Io(io)),
            other => Self::corrupted(format!("reading the redb 2 file: {other}")),
        }
    }
}
