//! Durable gossip storage (redb): entries in time order (keyed by timestamp and id, so that
//! writes append), a per-topic index, and the topics this node replicates. A reader names an
//! entry by its timestamp and id; the protocol core knows both for every entry it holds.
//!
//! Writes are batched: the actor hands every entry accepted while it processed a batch of inputs
//! to [`GossipStore::put_batch`], one transaction and one fsync for all of them (group commit).
//! A batch of entries relayed from peers may be written [`WriteMode::Deferred`]: visible to
//! readers at once, made durable by the next durable write or [`GossipStore::sync`].

mod pieces;
mod v2;

use std::path::{Path, PathBuf};

use icn_obs::labels::{CounterVec2, StorageErrorReason, Store};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use pieces::{Encoded, PIECES};

pub use crate::db_file::WriteMode;
use crate::db_file::{DbError, DbFailure, DbFile};
use crate::entry::{Entry, EntryId};
use crate::topic::Topic;

/// (timestamp_ms, id) → encoded entry. Keyed by time, so that new entries (whose timestamps are
/// close to now) land at the end of the tree: a batch dirties a few pages instead of one per
/// entry, as a table keyed by id alone did.
const ENTRIES: TableDefinition<'_, (u64, &[u8; 32]), &[u8]> =
    TableDefinition::new("entries_by_time");
/// (topic, timestamp_ms, id) → (): entries of a topic in time order.
const BY_TOPIC: TableDefinition<'_, (&str, u64, &[u8; 32]), ()> = TableDefinition::new("by_topic");
/// Topic → (): topics this node replicates.
const TOPICS: TableDefinition<'_, &str, ()> = TableDefinition::new("topics");

/// Largest encoded entry the store will decode (payload limit plus headroom).
const MAX_STORED_ENTRY: usize = 16 * 1024 * 1024;

/// Store errors. The path is always named.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened (damaged, unreadable, locked).
    #[error("cannot open gossip store {path}: {failure}")]
    Open {
        /// Database file.
        path: PathBuf,
        /// Why.
        failure: DbFailure,
    },
    /// A read or write failed (nothing of a failed write is stored).
    #[error("gossip store {path}: {failure}")]
    Failed {
        /// Database file.
        path: PathBuf,
        /// Why.
        failure: DbFailure,
    },
}

impl StoreError {
    /// The failure's class (`no_space` for a full disk).
    pub fn reason(&self) -> StorageErrorReason {
        match self {
            StoreError::Open { failure, .. } | StoreError::Failed { failure, .. } => failure.reason,
        }
    }
}

/// The gossip database.
#[derive(Clone)]
pub struct GossipStore {
    file: DbFile,
}

/// The encoding of `entry` around its payload's bytes: the fields before them and the
/// payload's length, then the signature (`head ‖ payload ‖ tail` is `entry`'s encoding).
fn encoding_around_payload(
    entry: &Entry,
) -> Result<(Vec<u8>, Vec<u8>), bincode::error::EncodeError> {
    let fields = (
        &entry.topic,
        &entry.author,
        entry.timestamp_ms,
        entry.payload.len() as u64,
    );
    let head = bincode::serde::encode_to_vec(fields, codec())?;
    let tail = bincode::serde::encode_to_vec(entry.signature, codec())?;
    Ok((head, tail))
}

fn codec() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_STORED_ENTRY>()
}

/// Creates the tables so readers never meet a missing table.
fn create_tables(db: &Database) -> Result<(), DbError> {
    let tx = db.begin_write()?;
    tx.open_table(ENTRIES)?;
    tx.open_table(PIECES)?;
    tx.open_table(BY_TOPIC)?;
    tx.open_table(TOPICS)?;
    tx.commit()?;
    Ok(())
}

/// The tables an entry is written to.
struct Tables<'t> {
    entries: redb::Table<'t, (u64, &'static [u8; 32]), &'static [u8]>,
    pieces: redb::Table<'t, (u64, &'static [u8; 32], u8), &'static [u8]>,
    by_topic: redb::Table<'t, (&'static str, u64, &'static [u8; 32]), ()>,
}

impl<'t> Tables<'t> {
    fn open(tx: &'t redb::WriteTransaction) -> Result<Self, DbError> {
        Ok(Self {
            entries: tx.open_table(ENTRIES)?,
            pieces: tx.open_table(PIECES)?,
            by_topic: tx.open_table(BY_TOPIC)?,
        })
    }

    /// Stores `encoded` (the encoding of `entry`) under its time and `id` (in pieces when it
    /// is large), and indexes it under its topic.
    fn insert(
        &mut self,
        entry: &Entry,
        id: &EntryId,
        encoded: &Encoded<'_>,
    ) -> Result<(), DbError> {
        let key = (entry.timestamp_ms, id.as_bytes());
        pieces::put(&mut self.entries, &mut self.pieces, key, encoded)?;
        self.by_topic.insert(
            (entry.topic.as_str(), entry.timestamp_ms, id.as_bytes()),
            (),
        )?;
        Ok(())
    }
}

/// The tables an entry is read from.
struct Readers {
    entries: redb::ReadOnlyTable<(u64, &'static [u8; 32]), &'static [u8]>,
    pieces: redb::ReadOnlyTable<(u64, &'static [u8; 32], u8), &'static [u8]>,
}

impl Readers {
    fn open(tx: &redb::ReadTransaction) -> Result<Self, DbError> {
        Ok(Self {
            entries: tx.open_table(ENTRIES)?,
            pieces: tx.open_table(PIECES)?,
        })
    }

    /// The entry stored under `timestamp_ms` and `id`, checked against the id.
    fn get(&self, timestamp_ms: u64, id: EntryId) -> Result<Option<Entry>, DbError> {
        let Some(row) = self.entries.get((timestamp_ms, id.as_bytes()))? else {
            return Ok(None);
        };
        let bytes = pieces::assemble(&self.pieces, (timestamp_ms, &id), row.value())?;
        decode(id, &bytes).map(Some)
    }
}

/// Decodes a stored entry and checks it is the one stored under `id`.
fn decode(id: EntryId, bytes: &[u8]) -> Result<Entry, DbError> {
    let corrupt = |why: String| DbError::corrupted(format!("entry {id}: {why}"));
    let (entry, read): (Entry, usize) = bincode::serde::borrow_decode_from_slice(bytes, codec())
        .map_err(|e| corrupt(e.to_string()))?;
    if read != bytes.len() {
        return Err(corrupt("trailing bytes".into()));
    }
    if entry.id() != id {
        return Err(corrupt("stored under another id".into()));
    }
    Ok(entry)
}

impl GossipStore {
    /// Opens (or creates) the store at `path`. An existing file is verified first and never
    /// modified when it is damaged.
    ///
    /// # Errors
    /// [`StoreError::Open`] naming the file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let file = DbFile::open(path, Store::Gossip, create_tables, v2::copy_from_v2).map_err(
            |failure| StoreError::Open {
                path: path.to_path_buf(),
                failure,
            },
        )?;
        Ok(Self { file })
    }

    /// Counts failed operations in `icn_system_storage_errors_total{store="gossip"}`.
    pub fn count_errors_in(&self, counters: CounterVec2<Store, StorageErrorReason>) {
        self.file.count_errors_in(counters);
    }

    fn with<T>(&self, op: impl FnOnce(&Database) -> Result<T, DbError>) -> Result<T, StoreError> {
        self.file.with(op).map_err(|failure| StoreError::Failed {
            path: self.file.path().to_path_buf(),
            failure,
        })
    }

    /// Writes entries (already validated) in one durable transaction. Entries already present
    /// are skipped.
    ///
    /// # Errors
    /// [`StoreError::Failed`]; nothing of the batch is stored then.
    pub fn put_batch(&self, entries: &[Entry]) -> Result<(), StoreError> {
        self.put_batch_with(entries, WriteMode::Durable)
    }

    /// [`GossipStore::put_batch`] with a choice of when it reaches the disk.
    ///
    /// # Errors
    /// [`StoreError::Failed`]; nothing of the batch is stored then.
    pub fn put_batch_with(&self, entries: &[Entry], mode: WriteMode) -> Result<(), StoreError> {
        let ids: Vec<EntryId> = entries.iter().map(Entry::id).collect();
        self.put_identified(entries, &ids, mode)
    }

    /// [`GossipStore::put_batch_with`] for entries whose ids the caller computed already
    /// (`ids[i]` must be `entries[i].id()`: hashing a 64 KiB entry costs ~40 µs). A wrong id
    /// stores the entry under it, and reads of it then fail as `corrupt`.
    ///
    /// # Errors
    /// [`StoreError::Failed`]; nothing of the batch is stored.
    pub fn put_identified(
        &self,
        entries: &[Entry],
        ids: &[EntryId],
        mode: WriteMode,
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.with(|db| {
            let tx = mode.begin_write(db)?;
            {
                let mut tables = Tables::open(&tx)?;
                for (entry, id) in entries.iter().zip(ids) {
                    let (head, tail) = encoding_around_payload(entry)
                        .map_err(|e| DbError::corrupted(format!("entry {id}: {e}")))?;
                    let encoded = Encoded::new(&head, &entry.payload, &tail);
                    if encoded.len() > MAX_STORED_ENTRY {
                        return Err(DbError::corrupted(format!(
                            "entry {id}: {} bytes encoded, above the {MAX_STORED_ENTRY}-byte limit",
                            encoded.len()
                        )));
                    }
                    tables.insert(entry, id, &encoded)?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Makes every deferred write durable (one empty durable transaction).
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    pub fn sync(&self) -> Result<(), StoreError> {
        self.with(crate::db_file::sync)
    }

    /// The entry with `id` and timestamp `timestamp_ms`, if stored.
    ///
    /// # Errors
    /// [`StoreError::Failed`], `corrupt` when it does not decode.
    pub fn get(&self, timestamp_ms: u64, id: &EntryId) -> Result<Option<Entry>, StoreError> {
        self.with(|db| Readers::open(&db.begin_read()?)?.get(timestamp_ms, *id))
    }

    /// The stored entries among `keys` (timestamp and id), in the order given; unknown ones
    /// are skipped.
    ///
    /// # Errors
    /// [`StoreError::Failed`], `corrupt` when one does not decode.
    pub fn get_many(&self, keys: &[(u64, EntryId)]) -> Result<Vec<Entry>, StoreError> {
        self.with(|db| {
            let readers = Readers::open(&db.begin_read()?)?;
            let mut out = Vec::with_capacity(keys.len());
            for (timestamp_ms, id) in keys {
                out.extend(readers.get(*timestamp_ms, *id)?);
            }
            Ok(out)
        })
    }

    /// Every stored entry's id, topic and timestamp (what the protocol core reloads at start).
    ///
    /// # Errors
    /// [`StoreError::Failed`], or a corrupt index.
    pub fn index(&self) -> Result<Vec<(EntryId, Topic, u64)>, StoreError> {
        self.with(|db| {
            let tx = db.begin_read()?;
            let table = tx.open_table(BY_TOPIC)?;
            let mut out = Vec::new();
            for row in table.iter()? {
                let (key, _) = row?;
                let (topic, timestamp, id) = key.value();
                let topic = Topic::new(topic)
                    .map_err(|e| DbError::corrupted(format!("bad topic in index: {e}")))?;
                out.push((EntryId::from_bytes(*id), topic, timestamp));
            }
            Ok(out)
        })
    }

    /// Up to `limit` entries of `topic`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    pub fn entries(&self, topic: &Topic, limit: usize) -> Result<Vec<Entry>, StoreError> {
        self.topic_range(topic, limit, false)
    }

    /// The newest `limit` entries of `topic`, returned oldest first.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    pub fn latest(&self, topic: &Topic, limit: usize) -> Result<Vec<Entry>, StoreError> {
        let mut newest_first = self.topic_range(topic, limit, true)?;
        newest_first.reverse();
        Ok(newest_first)
    }

    /// Up to `limit` entries of `topic` in time order, or newest first when `newest_first`.
    fn topic_range(
        &self,
        topic: &Topic,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<Entry>, StoreError> {
        self.with(|db| {
            let tx = db.begin_read()?;
            let index = tx.open_table(BY_TOPIC)?;
            let readers = Readers::open(&tx)?;
            let name = topic.as_str();
            let lower = (name, 0u64, &[0u8; 32]);
            let upper = (name, u64::MAX, &[0xFFu8; 32]);
            let range = index.range(lower..=upper)?;
            let rows: Box<dyn Iterator<Item = _>> = if newest_first {
                Box::new(range.rev())
            } else {
                Box::new(range)
            };
            let mut out = Vec::new();
            for row in rows {
                if out.len() >= limit {
                    break;
                }
                let (key, _) = row?;
                let (_, timestamp_ms, id) = key.value();
                out.extend(readers.get(timestamp_ms, EntryId::from_bytes(*id))?);
            }
            Ok(out)
        })
    }

    /// Number of stored entries.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    pub fn count(&self) -> Result<u64, StoreError> {
        self.with(|db| {
            let tx = db.begin_read()?;
            let table = tx.open_table(ENTRIES)?;
            Ok(table.len()?)
        })
    }

    /// Topics this node replicates.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    pub fn topics(&self) -> Result<Vec<Topic>, StoreError> {
        self.with(|db| {
            let tx = db.begin_read()?;
            let table = tx.open_table(TOPICS)?;
            let mut out = Vec::new();
            for row in table.iter()? {
                let (key, _) = row?;
                if let Ok(topic) = Topic::new(key.value()) {
                    out.push(topic);
                }
            }
            Ok(out)
        })
    }

    /// Records that this node joins (`true`) or leaves (`false`) a topic, durably.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    pub fn set_topic(&self, topic: &Topic, joined: bool) -> Result<(), StoreError> {
        self.with(|db| {
            let tx = db.begin_write()?;
            {
                let mut table = tx.open_table(TOPICS)?;
                if joined {
                    table.insert(topic.as_str(), ())?;
                } else {
                    table.remove(topic.as_str())?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use icn_identity::Keypair;

    fn entry(key: &Keypair, topic: &Topic, ts: u64) -> Entry {
        Entry::sign(key, topic.clone(), ts, ts.to_be_bytes().to_vec())
    }

    #[test]
    fn entries_index_and_topics_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gossip.redb");
        let key = Keypair::generate();
        let (a, b) = (Topic::new("a").unwrap(), Topic::new("b").unwrap());
        let batch: Vec<Entry> = (1..=5)
            .map(|ts| entry(&key, &a, ts))
            .chain([entry(&key, &b, 9)])
            .collect();
        {
            let store = GossipStore::open(&path).unwrap();
            store.put_batch(&batch).unwrap();
            store.put_batch(&batch[..2]).unwrap(); // already stored: no duplicate index rows
            store.set_topic(&a, true).unwrap();
            store.set_topic(&b, true).unwrap();
            store.set_topic(&b, false).unwrap();
        }
        let store = GossipStore::open(&path).unwrap();
        assert_eq!(store.count().unwrap(), 6);
        assert_eq!(store.index().unwrap().len(), 6);
        assert_eq!(store.topics().unwrap(), vec![a.clone()]);
        let oldest: Vec<u64> = store
            .entries(&a, 2)
            .unwrap()
            .iter()
            .map(|e| e.timestamp_ms)
            .collect();
        assert_eq!(oldest, vec![1, 2]);
        let newest: Vec<u64> = store
            .latest(&a, 2)
            .unwrap()
            .iter()
            .map(|e| e.timestamp_ms)
            .collect();
        assert_eq!(newest, vec![4, 5]);
        assert_eq!(
            store.get(9, &batch[5].id()).unwrap().as_ref(),
            Some(&batch[5])
        );
        assert_eq!(store.get(8, &batch[5].id()).unwrap(), None, "keyed by time");
        let some = store
            .get_many(&[
                (1, batch[0].id()),
                (1, EntryId::from_bytes([0; 32])),
                (2, batch[1].id()),
            ])
            .unwrap();
        assert_eq!(some, vec![batch[0].clone(), batch[1].clone()]);
    }

    #[test]
    fn an_entry_stored_under_a_wrong_id_reads_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let store = GossipStore::open(&dir.path().join("gossip.redb")).unwrap();
        let key = Keypair::generate();
        let t = Topic::new("t").unwrap();
        let (a, b) = (entry(&key, &t, 1), entry(&key, &t, 2));
        store
            .put_identified(std::slice::from_ref(&a), &[a.id()], WriteMode::Deferred)
            .unwrap();
        assert_eq!(store.get(1, &a.id()).unwrap(), Some(a));
        let wrong = EntryId::from_bytes([7; 32]);
        store
            .put_identified(&[b], &[wrong], WriteMode::Deferred)
            .unwrap();
        let err = store.get(2, &wrong).unwrap_err();
        assert_eq!(err.reason(), StorageErrorReason::Corrupt, "{err}");
    }

    /// What a crash would leave: a copy of the file taken while the store is open.
    fn crash_copy(path: &Path, dir: &Path, name: &str) -> GossipStore {
        let copy = dir.join(name);
        std::fs::copy(path, &copy).unwrap();
        GossipStore::open(&copy).unwrap()
    }

    #[test]
    fn deferred_writes_are_visible_at_once_and_durable_after_a_sync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gossip.redb");
        let key = Keypair::generate();
        let t = Topic::new("t").unwrap();
        let store = GossipStore::open(&path).unwrap();
        let durable = entry(&key, &t, 1);
        store.put_batch(std::slice::from_ref(&durable)).unwrap();
        let relayed: Vec<Entry> = (2..=4).map(|ts| entry(&key, &t, ts)).collect();
        store.put_batch_with(&relayed, WriteMode::Deferred).unwrap();
        assert_eq!(store.count().unwrap(), 4, "readers see deferred writes");
        assert_eq!(
            store.get(2, &relayed[0].id()).unwrap().as_ref(),
            Some(&relayed[0])
        );

        let crashed = crash_copy(&path, dir.path(), "before-sync.redb");
        assert_eq!(
            crashed.count().unwrap(),
            1,
            "a crash keeps only the durable write"
        );
        assert_eq!(
            crashed.get(1, &durable.id()).unwrap(),
            Some(durable.clone())
        );

        store.sync().unwrap();
        let crashed = crash_copy(&path, dir.path(), "after-sync.redb");
        assert_eq!(crashed.count().unwrap(), 4);
        assert_eq!(crashed.index().unwrap().len(), 4);
    }

    #[test]
    fn a_damaged_file_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gossip.redb");
        let key = Keypair::generate();
        let t = Topic::new("t").unwrap();
        let marker = b"MARKER-to-be-damaged";
        {
            let store = GossipStore::open(&path).unwrap();
            let batch: Vec<Entry> = (1..=3)
                .map(|ts| Entry::sign(&key, t.clone(), ts, marker.to_vec()))
                .collect();
            store.put_batch(&batch).unwrap();
        }
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes
            .windows(marker.len())
            .position(|w| w == marker)
            .unwrap();
        bytes[at..at + marker.len()].fill(0xA5);
        std::fs::write(&path, &bytes).unwrap();
        let err = GossipStore::open(&path).err().unwrap();
        assert_eq!(err.reason(), StorageErrorReason::Corrupt, "{err}");
        assert!(err.to_string().contains("gossip.redb"), "{err}");
        assert!(err.to_string().contains("damaged"), "{err}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "the file was modified"
        );
    }

    #[test]
    fn a_file_that_is_not_a_database_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gossip.redb");
        std::fs::write(&path, b"this is not a redb file at all, just some bytes").unwrap();
        let err = GossipStore::open(&path).err().unwrap().to_string();
        assert!(err.contains("gossip.redb"), "{err}");
    }
}
