//! [`DirectWrites`]: redb's file backend, with large page writes sent past the kernel's page
//! cache (`O_DIRECT` on Linux).
//!
//! A 64 KiB entry is one write of 16 pages. Through the page cache it costs the writer a copy
//! into freshly allocated cache pages and the kernel's writeback later, about 45 µs of CPU per
//! 64 KiB on the benchmark machine; and every node of an in-process cluster writes the stream
//! through the same cache, whose writeback then bounds the stream (~400 MB/s there, against
//! ~1.3 GB/s for direct writes of 1 MiB). A direct write costs one copy into an aligned buffer
//! and waits for the device instead.
//!
//! Only writes of at least [`MIN_DIRECT_WRITE`] bytes, page-aligned in offset and length, go
//! direct; headers and single pages (everything small entries and the ledger write) stay
//! buffered, so a commit of a few small pages waits for no device round trip. Linux keeps both
//! paths coherent (a direct write first flushes, then drops, cached pages of its range), and
//! durability is unchanged: `sync_data` still ends every durable commit, which flushes the
//! device's cache for direct writes as for buffered ones.
//!
//! A filesystem without `O_DIRECT` (older tmpfs) refuses the open, and one that refuses a
//! direct write with `EINVAL` turns it off for the file: writes are then all buffered.

use std::fs::File;
use std::ops::Bound;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// Alignment of a direct write's offset, length and memory (the largest logical block size of
/// common devices; the page size).
pub const ALIGN: usize = 4096;
/// Smallest write sent direct: below it the buffered copy is cheap and a device round trip
/// (~85 µs for 4 KiB here) would lengthen the commits that propagation waits for.
pub const MIN_DIRECT_WRITE: usize = 32 * 1024;
/// Largest direct write issued at once (and the aligned buffer's size): larger writes go in
/// pieces of this size.
const MAX_DIRECT_CHUNK: usize = 1024 * 1024;

/// redb's [`FileBackend`] for everything but large writes, which go through a second handle of
/// the same file opened with `O_DIRECT`.
#[derive(Debug)]
pub struct DirectWrites {
    buffered: FileBackend,
    direct: Option<File>,
    /// Cleared when the filesystem refused a direct write.
    enabled: AtomicBool,
    /// Aligned copy of what a direct write sends (redb's buffers are not aligned).
    scratch: Mutex<Vec<u8>>,
    direct_bytes: AtomicU64,
}

impl DirectWrites {
    /// Opens (or creates) the file at `path` for redb, with a direct handle when the
    /// filesystem allows one.
    ///
    /// # Errors
    /// The file cannot be opened or created.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let direct = open_direct(path);
        if direct.is_none() {
            tracing::debug!(path = %path.display(), "no O_DIRECT on this filesystem: every write is buffered");
        }
        Ok(Self {
            buffered: FileBackend::new(file).map_err(std::io::Error::other)?,
            enabled: AtomicBool::new(direct.is_some()),
            direct,
            scratch: Mutex::new(Vec::new()),
            direct_bytes: AtomicU64::new(0),
        })
    }

    /// Bytes written past the page cache so far.
    pub fn direct_bytes(&self) -> u64 {
        self.direct_bytes.load(Ordering::Relaxed)
    }

    /// Whether large writes still go direct.
    pub fn is_direct(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Writes `data` at `offset` through the direct handle, in aligned pieces.
    fn write_direct(&self, direct: &File, offset: u64, data: &[u8]) -> std::io::Result<()> {
        let mut scratch = self
            .scratch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let needed = data.len().min(MAX_DIRECT_CHUNK) + ALIGN;
        if scratch.len() < needed {
            scratch.resize(needed, 0);
        }
        let start = scratch.as_ptr().align_offset(ALIGN);
        let mut at = offset;
        for chunk in data.chunks(MAX_DIRECT_CHUNK) {
            let aligned = &mut scratch[start..start + chunk.len()];
            aligned.copy_from_slice(chunk);
            direct.write_all_at(aligned, at)?;
            at += chunk.len() as u64;
        }
        self.direct_bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(target_os = "linux")]
fn open_direct(path: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_path: &Path) -> Option<File> {
    None
}

/// Whether a write of `len` bytes at `offset` may go direct.
fn goes_direct(offset: u64, len: usize) -> bool {
    len >= MIN_DIRECT_WRITE && offset.is_multiple_of(ALIGN as u64) && len.is_multiple_of(ALIGN)
}

impl StorageBackend for DirectWrites {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.buffered.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.buffered.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.buffered.set_len(len)
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.buffered.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        if let Some(direct) = &self.direct
            && goes_direct(offset, data.len())
            && self.is_direct()
        {
            match self.write_direct(direct, offset, data) {
                Ok(()) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    self.enabled.store(false, Ordering::Relaxed);
                    tracing::warn!(error = %e, "direct write refused: writing through the page cache from now on");
                }
                Err(e) => return Err(e),
            }
        }
        self.buffered.write(offset, data)
    }

    fn close(&self) -> Result<(), std::io::Error> {
        self.buffered.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.buffered.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.buffered.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.buffered.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.buffered.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.buffered.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.buffered.query_lock_range(start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the file holds, read through its own handle.
    fn read_all(backend: &DirectWrites) -> Vec<u8> {
        let mut out = vec![0; usize::try_from(backend.len().unwrap()).unwrap()];
        backend.read(0, &mut out).unwrap();
        out
    }

    #[test]
    fn large_aligned_writes_go_direct_and_every_write_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let backend = DirectWrites::open(&dir.path().join("db")).unwrap();
        let direct = backend.is_direct();
        let len = 4 * MAX_DIRECT_CHUNK;
        backend.set_len(len as u64).unwrap();
        let mut expected = vec![0u8; len];
        let mut write = |offset: usize, data: Vec<u8>| {
            backend.write(offset as u64, &data).unwrap();
            expected[offset..offset + data.len()].copy_from_slice(&data);
        };
        // A page, buffered; a large write over it and beyond, direct; a small unaligned one
        // inside the large one; one larger than a chunk; one long enough but unaligned.
        write(ALIGN, vec![1; ALIGN]);
        write(0, vec![2; MIN_DIRECT_WRITE]);
        write(100, vec![3; 10]);
        write(
            MAX_DIRECT_CHUNK,
            (0..MAX_DIRECT_CHUNK + 3 * ALIGN).map(|i| i as u8).collect(),
        );
        write(3 * MAX_DIRECT_CHUNK + 1, vec![4; MIN_DIRECT_WRITE]);
        assert!(
            read_all(&backend) == expected,
            "what was written reads back"
        );
        let sent_direct = (MIN_DIRECT_WRITE + MAX_DIRECT_CHUNK + 3 * ALIGN) as u64;
        if direct {
            assert_eq!(backend.direct_bytes(), sent_direct);
        } else {
            // Only a filesystem without O_DIRECT (an older tmpfs) gets here.
            assert_eq!(backend.direct_bytes(), 0);
        }
        backend.sync_data().unwrap();
        drop(backend);
        let reopened = DirectWrites::open(&dir.path().join("db")).unwrap();
        assert!(read_all(&reopened) == expected, "and after a reopen");
    }

    #[test]
    fn only_large_page_aligned_writes_qualify() {
        assert!(goes_direct(0, MIN_DIRECT_WRITE));
        assert!(goes_direct(ALIGN as u64 * 3, MIN_DIRECT_WRITE + ALIGN));
        assert!(!goes_direct(0, MIN_DIRECT_WRITE - ALIGN));
        assert!(!goes_direct(512, MIN_DIRECT_WRITE));
        assert!(!goes_direct(0, MIN_DIRECT_WRITE + 512));
    }
}
