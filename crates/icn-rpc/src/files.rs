//! Runtime files in the data directory: written atomically and privately, read with errors that
//! name the file.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// File in the data directory holding the RPC listener's bound address (useful with port 0).
pub const ADDR_FILE: &str = "rpc.addr";

/// A runtime file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {source}", path.display())]
pub struct FileError {
    /// What we were doing: `read` or `write`.
    pub action: &'static str,
    /// The file concerned.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: std::io::Error,
}

impl FileError {
    pub(crate) fn read(path: &Path, source: std::io::Error) -> Self {
        Self {
            action: "read",
            path: path.to_path_buf(),
            source,
        }
    }

    fn write(path: &Path, source: std::io::Error) -> Self {
        Self {
            action: "write",
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Writes `<dir>/<name>` with `contents` and a trailing newline, atomically.
///
/// The bytes go to a fresh temporary file in `dir`, created with mode 0600 (before any byte is
/// written), synced, then renamed over the target: a reader sees the old file or the new one,
/// never half of one, and the secret never sits in a file others can read.
///
/// # Errors
/// [`FileError`] naming the target when creating, writing, syncing or renaming fails.
pub fn write_private_atomic(dir: &Path, name: &str, contents: &str) -> Result<PathBuf, FileError> {
    let path = dir.join(name);
    let err = |source| FileError::write(&path, source);
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(err)?;
    tmp.write_all(contents.as_bytes()).map_err(err)?;
    tmp.write_all(b"\n").map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(&path).map_err(|e| err(e.error))?;
    Ok(path)
}

/// Writes the RPC listener's bound address to `<data_dir>/rpc.addr`, atomically.
///
/// # Errors
/// [`FileError`] when the file cannot be written.
pub fn write_addr_file(data_dir: &Path, addr: SocketAddr) -> Result<PathBuf, FileError> {
    write_private_atomic(data_dir, ADDR_FILE, &addr.to_string())
}

/// Reads `<data_dir>/rpc.addr`: `Ok(None)` when the file does not exist (no node has run there).
///
/// # Errors
/// [`AddrFileError::Read`] when the file exists but cannot be read, [`AddrFileError::Malformed`]
/// when it does not hold a socket address.
pub fn read_addr_file(data_dir: &Path) -> Result<Option<SocketAddr>, AddrFileError> {
    let path = data_dir.join(ADDR_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AddrFileError::Read(FileError::read(&path, e))),
    };
    text.trim()
        .parse()
        .map(Some)
        .map_err(|_| AddrFileError::Malformed {
            path,
            content: text.trim().chars().take(64).collect(),
        })
}

/// Why `rpc.addr` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AddrFileError {
    /// The file exists but could not be read.
    #[error(transparent)]
    Read(FileError),
    /// The file does not hold a socket address.
    #[error("{} does not hold a socket address (found {content:?})", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Its first characters, trimmed.
        content: String,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn addr_file_round_trips_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_addr_file(dir.path()).unwrap().is_none());
        let first: SocketAddr = "127.0.0.1:7778".parse().unwrap();
        let second: SocketAddr = "[::1]:4000".parse().unwrap();
        write_addr_file(dir.path(), first).unwrap();
        assert_eq!(read_addr_file(dir.path()).unwrap(), Some(first));
        let path = write_addr_file(dir.path(), second).unwrap();
        assert_eq!(path, dir.path().join(ADDR_FILE));
        assert_eq!(read_addr_file(dir.path()).unwrap(), Some(second));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(ADDR_FILE)]);
    }

    #[test]
    fn malformed_addr_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ADDR_FILE), "not an address\n").unwrap();
        let err = read_addr_file(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(ADDR_FILE) && text.contains("not an address"),
            "{text}"
        );
    }

    #[test]
    fn write_into_missing_dir_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent");
        let err = write_addr_file(&missing, "127.0.0.1:1".parse().unwrap()).unwrap_err();
        assert_eq!(err.action, "write");
        assert_eq!(err.path, missing.join(ADDR_FILE));
    }
}
