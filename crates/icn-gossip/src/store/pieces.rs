//! Large entries stored in pieces that fill redb's pages exactly.
//!
//! redb gives a value bigger than a page a leaf of its own, in a region of 2ⁿ pages: an entry
//! of 64 KiB plus its header needs 17 pages and gets 32, so the disk writes twice the payload.
//! An encoded entry of at least a page is therefore cut into pieces sized to fill regions of
//! 2ⁿ pages exactly (largest first, in the `entry_pieces` table), and only what is left, less
//! than a page, stays in the entry's row, behind [`PIECED`] and the number of pieces. A row of
//! an entry stored whole begins with its bincode encoding, whose first byte (a varint) is never
//! [`PIECED`], so rows written before pieces existed read as they always did.

use std::borrow::Cow;

use redb::{ReadableTable, TableDefinition};

use crate::db_file::{DbError, PAGE_BYTES as PAGE};
use crate::entry::EntryId;

/// (timestamp_ms, id, piece) → the piece's bytes, in order.
pub(super) const PIECES: TableDefinition<'_, (u64, &[u8; 32], u8), &[u8]> =
    TableDefinition::new("entry_pieces");

/// First byte of a row whose entry is stored in pieces (bincode's varints never begin with it).
const PIECED: u8 = 0xFF;
/// What a leaf holding one piece needs besides the piece: its header (4 bytes), the value's end
/// offset (4) and the fixed-width key (8 + 32 + 1).
const LEAF_OVERHEAD: usize = 4 + 4 + 8 + 32 + 1;
/// Largest piece: a region of 2⁸ pages (1 MiB).
const MAX_ORDER: u32 = 8;

/// The sizes of the pieces an encoded entry of `len` bytes is cut into, largest first; what
/// they leave is less than the smallest piece (a page less [`LEAF_OVERHEAD`]). Empty for an
/// entry shorter than that.
pub(super) fn piece_sizes(len: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut left = len;
    while left >= PAGE - LEAF_OVERHEAD {
        let order = (0..=MAX_ORDER)
            .rev()
            .find(|&order| (PAGE << order) - LEAF_OVERHEAD <= left)
            .unwrap_or(0);
        let size = (PAGE << order) - LEAF_OVERHEAD;
        sizes.push(size);
        left -= size;
    }
    sizes
}

/// An encoded entry as the parts it is written from: what precedes the payload's bytes, the
/// payload, and what follows it. A large payload is then copied once, straight into the
/// store's pages, instead of into an encoding first.
pub(super) struct Encoded<'a> {
    parts: [&'a [u8]; 3],
}

impl<'a> Encoded<'a> {
    /// The encoding `head ‖ payload ‖ tail`.
    pub(super) fn new(head: &'a [u8], payload: &'a [u8], tail: &'a [u8]) -> Self {
        Self {
            parts: [head, payload, tail],
        }
    }

    /// An encoding held whole.
    pub(super) fn whole(bytes: &'a [u8]) -> Self {
        Self::new(bytes, &[], &[])
    }

    /// The encoding's length.
    pub(super) fn len(&self) -> usize {
        self.parts.iter().map(|part| part.len()).sum()
    }

    /// Fills `out` with the encoding's bytes from `at` on.
    fn copy_to(&self, mut at: usize, out: &mut [u8]) {
        let mut written = 0;
        for part in self.parts {
            if written == out.len() {
                break;
            }
            if at >= part.len() {
                at -= part.len();
                continue;
            }
            let n = (part.len() - at).min(out.len() - written);
            out[written..written + n].copy_from_slice(&part[at..at + n]);
            written += n;
            at = 0;
        }
        debug_assert_eq!(written, out.len(), "the encoding ends before `out` is full");
    }
}

/// Writes `encoded` (an entry's encoding) under `key` (its timestamp and id) into `entries`,
/// its leading part in pieces when it is big enough; each value is written in place, in the
/// page redb reserves for it.
pub(super) fn put(
    entries: &mut redb::Table<'_, (u64, &'static [u8; 32]), &'static [u8]>,
    pieces: &mut redb::Table<'_, (u64, &'static [u8; 32], u8), &'static [u8]>,
    key: (u64, &[u8; 32]),
    encoded: &Encoded<'_>,
) -> Result<(), DbError> {
    let len = encoded.len();
    let sizes = piece_sizes(len);
    if sizes.is_empty() {
        encoded.copy_to(0, entries.insert_reserve(key, len)?.as_mut());
        return Ok(());
    }
    // At most 24 pieces: MAX_STORED_ENTRY (16 MiB) holds 16 of the largest.
    let count = u8::try_from(sizes.len()).map_err(|_| DbError::corrupted("entry too large"))?;
    let mut at = 0;
    for (index, size) in (0..count).zip(&sizes) {
        let mut piece = pieces.insert_reserve((key.0, key.1, index), *size)?;
        encoded.copy_to(at, piece.as_mut());
        at += size;
    }
    let mut row = entries.insert_reserve(key, 2 + len - at)?;
    let row = row.as_mut();
    row[0] = PIECED;
    row[1] = count;
    encoded.copy_to(at, &mut row[2..]);
    Ok(())
}

/// The encoded entry stored under `key` whose row is `row`: the row itself, or its pieces
/// followed by what the row holds.
pub(super) fn assemble<'r>(
    pieces: &impl ReadableTable<(u64, &'static [u8; 32], u8), &'static [u8]>,
    key: (u64, &EntryId),
    row: &'r [u8],
) -> Result<Cow<'r, [u8]>, DbError> {
    let [PIECED, count, rest @ ..] = row else {
        return Ok(Cow::Borrowed(row));
    };
    let (timestamp_ms, id) = key;
    let missing = || DbError::corrupted(format!("entry {id}: a piece is missing"));
    let mut bytes = Vec::new();
    let range = (timestamp_ms, id.as_bytes(), 0)..=(timestamp_ms, id.as_bytes(), u8::MAX);
    let mut found = 0u8;
    for piece in pieces.range(range)? {
        let (piece_key, piece) = piece?;
        if piece_key.value().2 != found || found == *count {
            return Err(missing());
        }
        if bytes.is_empty() {
            bytes.reserve(piece.value().len() * usize::from(*count) + rest.len());
        }
        bytes.extend_from_slice(piece.value());
        found += 1;
    }
    if found != *count {
        return Err(missing());
    }
    bytes.extend_from_slice(rest);
    Ok(Cow::Owned(bytes))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use icn_identity::Keypair;
    use icn_obs::labels::StorageErrorReason;
    use redb::ReadableTableMetadata as _;

    use super::*;
    use crate::entry::Entry;
    use crate::store::{ENTRIES, GossipStore, codec};
    use crate::topic::Topic;

    fn entries(sizes: &[usize]) -> Vec<Entry> {
        let key = Keypair::generate();
        let topic = Topic::new("big").unwrap();
        let mut ts = 0;
        sizes
            .iter()
            .map(|&size| {
                ts += 1;
                let payload: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
                Entry::sign(&key, topic.clone(), ts, payload)
            })
            .collect()
    }

    /// Runs `edit` in a write transaction on the store file itself, bypassing the store.
    fn edit_file(path: &Path, edit: impl FnOnce(&redb::WriteTransaction)) {
        let db = redb::Database::open(path).unwrap();
        let tx = db.begin_write().unwrap();
        edit(&tx);
        tx.commit().unwrap();
    }

    /// Bytes of the file's allocated pages.
    fn allocated_bytes(path: &Path) -> u64 {
        let db = redb::Database::open(path).unwrap();
        let tx = db.begin_write().unwrap();
        let stats = tx.stats().unwrap();
        stats.allocated_pages() * stats.page_size() as u64
    }

    #[test]
    fn large_entries_read_back_whole_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gossip.redb");
        let batch = entries(&[10, 4_000, 4_100, 8_192, 65_536, 100_000, 3_000_000]);
        GossipStore::open(&path).unwrap().put_batch(&batch).unwrap();
        let store = GossipStore::open(&path).unwrap();
        let keys: Vec<(u64, EntryId)> = batch.iter().map(|e| (e.timestamp_ms, e.id())).collect();
        assert_eq!(store.get_many(&keys).unwrap(), batch);
        assert_eq!(store.entries(&batch[0].topic, 100).unwrap(), batch);
        assert_eq!(store.count().unwrap(), batch.len() as u64);
        assert_eq!(store.index().unwrap().len(), batch.len());
        store.put_batch(&batch[4..5]).unwrap();
        assert_eq!(store.index().unwrap().len(), batch.len(), "stored once");
        assert_eq!(
            store.get(5, &batch[4].id()).unwrap().as_ref(),
            Some(&batch[4])
        );
    }

    #[test]
    fn a_64_kib_entry_takes_its_size_on_the_disk_not_twice_that() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gossip.redb");
        let batch = entries(&[65_536; 64]);
        let empty = {
            GossipStore::open(&path).unwrap();
            allocated_bytes(&path)
        };
        GossipStore::open(&path).unwrap().put_batch(&batch).unwrap();
        let used = allocated_bytes(&path) - empty;
        let payload = 64 * 65_536;
        // Whole, each entry took a region of 32 pages: 2.0x.
        assert!(
            used < payload + payload / 8,
            "{used} bytes allocated for {payload} bytes of payload"
        );
    }

    #[test]
    fn an_entry_missing_a_piece_reads_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gossip.redb");
        let batch = entries(&[200_000]);
        let id = batch[0].id();
        GossipStore::open(&path).unwrap().put_batch(&batch).unwrap();
        edit_file(&path, |tx| {
            tx.open_table(PIECES)
                .unwrap()
                .remove((1, id.as_bytes(), 1))
                .unwrap();
        });
        let err = GossipStore::open(&path).unwrap().get(1, &id).unwrap_err();
        assert_eq!(err.reason(), StorageErrorReason::Corrupt, "{err}");
        assert!(err.to_string().contains("piece is missing"), "{err}");
    }

    #[test]
    fn a_large_entry_stored_whole_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gossip.redb");
        let batch = entries(&[65_536]);
        let id = batch[0].id();
        GossipStore::open(&path).unwrap();
        edit_file(&path, |tx| {
            let whole = bincode::serde::encode_to_vec(&batch[0], codec()).unwrap();
            tx.open_table(ENTRIES)
                .unwrap()
                .insert((1, id.as_bytes()), whole.as_slice())
                .unwrap();
            assert!(tx.open_table(PIECES).unwrap().is_empty().unwrap());
        });
        let store = GossipStore::open(&path).unwrap();
        assert_eq!(store.get(1, &id).unwrap().as_ref(), Some(&batch[0]));
    }

    #[test]
    fn an_entry_written_from_its_parts_is_its_encoding() {
        for entry in entries(&[0, 1, 250, 251, 65_535, 65_536, 70_000]) {
            let whole = bincode::serde::encode_to_vec(&entry, codec()).unwrap();
            let (head, tail) = crate::store::encoding_around_payload(&entry).unwrap();
            let encoded = Encoded::new(&head, &entry.payload, &tail);
            assert_eq!(encoded.len(), whole.len());
            let mut out = vec![0; whole.len()];
            encoded.copy_to(0, &mut out);
            assert_eq!(out, whole, "{} bytes of payload", entry.payload.len());
            // Any window, across the parts' boundaries.
            for (at, len) in [(0, 1), (head.len() - 1, 2), (whole.len() - 70, 70), (3, 0)] {
                let mut window = vec![0; len];
                encoded.copy_to(at, &mut window);
                assert_eq!(window, whole[at..at + len]);
            }
        }
    }

    #[test]
    fn pieces_fill_whole_regions_and_leave_less_than_a_page() {
        for len in [
            0,
            100,
            4000,
            4047,
            4048,
            8191,
            65_536 + 150,
            100_000,
            3_000_000,
        ] {
            let sizes = piece_sizes(len);
            let total: usize = sizes.iter().sum();
            assert!(len - total < PAGE - LEAF_OVERHEAD, "{len}: {sizes:?}");
            for size in &sizes {
                let region = size + LEAF_OVERHEAD;
                assert!(region.is_power_of_two() && region >= PAGE, "{len}: {size}");
            }
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{len}: {sizes:?}");
        }
        assert_eq!(piece_sizes(4000), Vec::<usize>::new());
        assert_eq!(piece_sizes(65_536 + 150), vec![65_536 - LEAF_OVERHEAD]);
    }
}
