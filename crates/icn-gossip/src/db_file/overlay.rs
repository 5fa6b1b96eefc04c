//! Verifying a redb file without changing it: redb runs its integrity check on a copy-on-write
//! view whose reads come from the file and whose writes stay in memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

use icn_obs::labels::StorageErrorReason;
use redb::StorageBackend;

use super::DbFailure;

/// Granularity of the in-memory copy of written bytes.
const PAGE: u64 = 4096;

/// What [`verify`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verified {
    /// No file, an empty one, or one that passed the check.
    Sound,
    /// A file of an older redb file format (the version), which this redb cannot read or
    /// check: see [`super::upgrade`].
    OlderFormat(u8),
}

/// Checks every page checksum of the database at `path` (if it exists and is not empty) on a
/// copy-on-write view. A file redb would have to repair by rolling back a commit counts as
/// damaged too: that repair would silently drop acknowledged data.
///
/// # Errors
/// `corrupt` when the check fails, `io` when the file cannot be read (the caller names the file).
pub(super) fn verify(path: &Path) -> Result<Verified, DbFailure> {
    let io_failure = |e: io::Error| DbFailure::new(StorageErrorReason::Io, e.to_string());
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Verified::Sound),
        Err(e) => return Err(io_failure(e)),
    };
    let len = file.metadata().map_err(io_failure)?.len();
    if len == 0 {
        return Ok(Verified::Sound);
    }
    let damaged = |why: String| {
        DbFailure::new(
            StorageErrorReason::Corrupt,
            format!(
                "the file is damaged ({why}); it was left untouched: restore it from a backup, \
                 or move it away to start with an empty store"
            ),
        )
    };
    let view = Overlay {
        file,
        file_len: len,
        len: Mutex::new(len),
        pages: Mutex::new(BTreeMap::new()),
    };
    let check = || -> Result<Verified, String> {
        let mut db = match redb::Builder::new().create_with_backend(view) {
            Ok(db) => db,
            Err(redb::DatabaseError::UpgradeRequired(format)) => {
                return Ok(Verified::OlderFormat(format));
            }
            Err(e) => return Err(e.to_string()),
        };
        match db.check_integrity() {
            Ok(true) => Ok(Verified::Sound),
            Ok(false) => {
                Err("it fails its checksums, and redb could only repair it by dropping data".into())
            }
            Err(e) => Err(e.to_string()),
        }
    };
    quietly_catching_panics(check)
        .unwrap_or_else(|panic| Err(format!("redb cannot read it: {panic}")))
        .map_err(damaged)
}

thread_local! {
    /// Set while this thread runs a check whose panics are verdicts, not crashes.
    static CHECKING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, turning a panic into `Err(message)` without printing it. redb asserts on some
/// damaged files (a truncated one, for instance); here it only ever reads a throwaway view, so
/// such a panic is the check's verdict. Panics anywhere else still reach the previous hook.
fn quietly_catching_panics<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CHECKING.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    CHECKING.with(|c| c.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CHECKING.with(|c| c.set(false));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

/// Reads from the file, writes to memory.
#[derive(Debug)]
struct Overlay {
    file: File,
    /// The file's length (the file is only read).
    file_len: u64,
    /// The view's length (`set_len` changes only this).
    len: Mutex<u64>,
    /// Pages written through the view, by page number.
    pages: Mutex<BTreeMap<u64, Vec<u8>>>,
}

impl Overlay {
    /// A page as the view currently sees it: written bytes, else the file's, zero-filled past
    /// the end of the file.
    fn page(&self, number: u64, pages: &BTreeMap<u64, Vec<u8>>) -> io::Result<Vec<u8>> {
        if let Some(page) = pages.get(&number) {
            return Ok(page.clone());
        }
        let mut page = vec![0; PAGE as usize];
        let start = number * PAGE;
        if start < self.file_len {
            let available = usize::try_from((self.file_len - start).min(PAGE)).unwrap_or(0);
            self.file.read_exact_at(&mut page[..available], start)?;
        }
        Ok(page)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl StorageBackend for Overlay {
    fn len(&self) -> io::Result<u64> {
        Ok(*lock(&self.len))
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let end = offset + out.len() as u64;
        if end > *lock(&self.len) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "read of {} bytes at {offset} past the end of the file",
                    out.len()
                ),
            ));
        }
        let pages = lock(&self.pages);
        let mut at = offset;
        while at < end {
            let page = self.page(at / PAGE, &pages)?;
            let from = (at % PAGE) as usize;
            let to = usize::try_from((end - at / PAGE * PAGE).min(PAGE)).unwrap_or(0);
            let dst = usize::try_from(at - offset).unwrap_or(0);
            out[dst..dst + (to - from)].copy_from_slice(&page[from..to]);
            at = (at / PAGE + 1) * PAGE;
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut current = lock(&self.len);
        if len < *current {
            // Bytes past the new end read as zeros if the view grows again.
            let mut pages = lock(&self.pages);
            let first = len / PAGE;
            let mut last = self.page(first, &pages)?;
            last[(len % PAGE) as usize..].fill(0);
            pages.insert(first, last);
            let beyond: Vec<u64> = ((first + 1)..=(*current / PAGE)).collect();
            for number in beyond {
                pages.insert(number, vec![0; PAGE as usize]);
            }
        }
        *current = len;
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut pages = lock(&self.pages);
        let end = offset + data.len() as u64;
        let mut at = offset;
        while at < end {
            let number = at / PAGE;
            let mut page = self.page(number, &pages)?;
            let from = (at % PAGE) as usize;
            let to = usize::try_from((end - number * PAGE).min(PAGE)).unwrap_or(0);
            let src = usize::try_from(at - offset).unwrap_or(0);
            page[from..to].copy_from_slice(&data[src..src + (to - from)]);
            pages.insert(number, page);
            at = (number + 1) * PAGE;
        }
        let mut len = lock(&self.len);
        *len = (*len).max(end);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(bytes: &[u8]) -> (tempfile::NamedTempFile, Overlay) {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), bytes).unwrap();
        let overlay = Overlay {
            file: File::open(file.path()).unwrap(),
            file_len: bytes.len() as u64,
            len: Mutex::new(bytes.len() as u64),
            pages: Mutex::new(BTreeMap::new()),
        };
        (file, overlay)
    }

    fn read(overlay: &Overlay, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut out = vec![0; len];
        overlay.read(offset, &mut out)?;
        Ok(out)
    }

    #[test]
    fn writes_stay_in_memory_and_read_back() {
        let original: Vec<u8> = (0..3 * PAGE + 100).map(|i| (i % 251) as u8).collect();
        let (file, overlay) = view(&original);
        overlay.write(PAGE - 2, &[9; 6]).unwrap();
        overlay.write(3 * PAGE + 200, &[7; 10]).unwrap();
        let mut expected = original.clone();
        expected[(PAGE - 2) as usize..(PAGE + 4) as usize].fill(9);
        expected.resize((3 * PAGE + 210) as usize, 0);
        expected[(3 * PAGE + 200) as usize..].fill(7);
        assert_eq!(overlay.len().unwrap(), expected.len() as u64);
        assert_eq!(read(&overlay, 0, expected.len()).unwrap(), expected);
        assert_eq!(std::fs::read(file.path()).unwrap(), original);
        assert!(read(&overlay, 0, expected.len() + 1).is_err());
    }

    #[test]
    fn a_truncated_database_is_a_verdict_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        drop(redb::Database::create(&path).unwrap());
        let len = std::fs::metadata(&path).unwrap().len();
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len / 2).unwrap();
        let before = std::fs::read(&path).unwrap();
        let failure = verify(&path).unwrap_err();
        assert_eq!(failure.reason, StorageErrorReason::Corrupt);
        assert!(failure.message.contains("damaged"), "{failure}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        // Panics outside a check still panic.
        assert!(std::panic::catch_unwind(|| panic!("elsewhere")).is_err());
    }

    #[test]
    fn shrinking_then_growing_reads_zeros() {
        let (_file, overlay) = view(&[5; 2 * PAGE as usize]);
        overlay.set_len(10).unwrap();
        overlay.set_len(2 * PAGE).unwrap();
        let bytes = read(&overlay, 0, 2 * PAGE as usize).unwrap();
        assert!(bytes[..10].iter().all(|b| *b == 5));
        assert!(bytes[10..].iter().all(|b| *b == 0));
    }
}
