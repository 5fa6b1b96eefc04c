//! Durable gossip storage (redb): entries by id, a per-topic index in time order, and the topics
//! this node replicates.
//!
//! Writes are batched: the actor hands every entry accepted while it processed a batch of inputs
//! to [`GossipStore::put_batch`], one transaction and one fsync for all of them (group commit).

use std::path::{Path, PathBuf};

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::entry::{Entry, EntryId};
use crate::topic::Topic;

/// Entry id → encoded entry.
const ENTRIES: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("entries");
/// (topic, timestamp_ms, id) → (): entries of a topic in time order.
const BY_TOPIC: TableDefinition<'_, (&str, u64, &[u8; 32]), ()> = TableDefinition::new("by_topic");
/// Topic → (): topics this node replicates.
const TOPICS: TableDefinition<'_, &str, ()> = TableDefinition::new("topics");

/// Largest encoded entry the store will decode (payload limit plus headroom).
const MAX_STORED_ENTRY: usize = 16 * 1024 * 1024;

/// Store errors. The path is always named.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened (missing, corrupt, locked).
    #[error("cannot open gossip store {path}: {message}")]
    Open {
        /// Database file.
        path: PathBuf,
        /// redb's explanation.
        message: String,
    },
    /// A read or write failed.
    #[error("gossip store {path}: {message}")]
    Io {
        /// Database file.
        path: PathBuf,
        /// redb's explanation.
        message: String,
    },
    /// A stored entry does not decode (corruption).
    #[error("gossip store {path}: corrupt entry {id}: {message}")]
    Corrupt {
        /// Database file.
        path: PathBuf,
        /// Entry id.
        id: EntryId,
        /// Decoder's explanation.
        message: String,
    },
}

/// The gossip database.
#[derive(Clone)]
pub struct GossipStore {
    db: std::sync::Arc<Database>,
    path: PathBuf,
}

fn codec() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_STORED_ENTRY>()
}

impl GossipStore {
    /// Opens (or creates) the store at `path`.
    ///
    /// # Errors
    /// [`StoreError::Open`] naming the file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open_err = |e: &dyn std::fmt::Display| StoreError::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let db = Database::create(path).map_err(|e| open_err(&e))?;
        let store = Self {
            db: std::sync::Arc::new(db),
            path: path.to_path_buf(),
        };
        // Create the tables so readers never meet a missing table.
        let tx = store.db.begin_write().map_err(|e| open_err(&e))?;
        {
            tx.open_table(ENTRIES).map_err(|e| open_err(&e))?;
            tx.open_table(BY_TOPIC).map_err(|e| open_err(&e))?;
            tx.open_table(TOPICS).map_err(|e| open_err(&e))?;
        }
        tx.commit().map_err(|e| open_err(&e))?;
        Ok(store)
    }

    fn io(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Writes entries (already validated) in one durable transaction. Entries already present
    /// are skipped.
    ///
    /// # Errors
    /// [`StoreError::Io`]; nothing of the batch is stored then.
    pub fn put_batch(&self, entries: &[Entry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write().map_err(|e| self.io(e))?;
        {
            let mut by_id = tx.open_table(ENTRIES).map_err(|e| self.io(e))?;
            let mut by_topic = tx.open_table(BY_TOPIC).map_err(|e| self.io(e))?;
            for entry in entries {
                let id = entry.id();
                let bytes =
                    bincode::serde::encode_to_vec(entry, codec()).map_err(|e| self.io(e))?;
                let previous = by_id
                    .insert(id.as_bytes(), bytes.as_slice())
                    .map_err(|e| self.io(e))?;
                if previous.is_none() {
                    by_topic
                        .insert(
                            (entry.topic.as_str(), entry.timestamp_ms, id.as_bytes()),
                            (),
                        )
                        .map_err(|e| self.io(e))?;
                }
            }
        }
        tx.commit().map_err(|e| self.io(e))
    }

    /// The entry with `id`, if stored.
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::Corrupt`].
    pub fn get(&self, id: &EntryId) -> Result<Option<Entry>, StoreError> {
        let tx = self.db.begin_read().map_err(|e| self.io(e))?;
        let table = tx.open_table(ENTRIES).map_err(|e| self.io(e))?;
        let Some(bytes) = table.get(id.as_bytes()).map_err(|e| self.io(e))? else {
            return Ok(None);
        };
        self.decode(*id, bytes.value()).map(Some)
    }

    /// The stored entries among `ids`, in the order given; unknown ids are skipped.
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::Corrupt`].
    pub fn get_many(&self, ids: &[EntryId]) -> Result<Vec<Entry>, StoreError> {
        let tx = self.db.begin_read().map_err(|e| self.io(e))?;
        let table = tx.open_table(ENTRIES).map_err(|e| self.io(e))?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(bytes) = table.get(id.as_bytes()).map_err(|e| self.io(e))? {
                out.push(self.decode(*id, bytes.value())?);
            }
        }
        Ok(out)
    }

    fn decode(&self, id: EntryId, bytes: &[u8]) -> Result<Entry, StoreError> {
        let corrupt = |message: String| StoreError::Corrupt {
            path: self.path.clone(),
            id,
            message,
        };
        let (entry, read): (Entry, usize) = bincode::serde::decode_from_slice(bytes, codec())
            .map_err(|e| corrupt(e.to_string()))?;
        if read != bytes.len() {
            return Err(corrupt("trailing bytes".into()));
        }
        if entry.id() != id {
            return Err(corrupt("stored under another id".into()));
        }
        Ok(entry)
    }

    /// Every stored entry's id, topic and timestamp (what the protocol core reloads at start).
    ///
    /// # Errors
    /// [`StoreError::Io`], or a corrupt index.
    pub fn index(&self) -> Result<Vec<(EntryId, Topic, u64)>, StoreError> {
        let tx = self.db.begin_read().map_err(|e| self.io(e))?;
        let table = tx.open_table(BY_TOPIC).map_err(|e| self.io(e))?;
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| self.io(e))? {
            let (key, _) = row.map_err(|e| self.io(e))?;
            let (topic, timestamp, id) = key.value();
            let topic =
                Topic::new(topic).map_err(|e| self.io(format!("bad topic in index: {e}")))?;
            out.push((EntryId::from_bytes(*id), topic, timestamp));
        }
        Ok(out)
    }

    /// Up to `limit` entries of `topic`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::Corrupt`].
    pub fn entries(&self, topic: &Topic, limit: usize) -> Result<Vec<Entry>, StoreError> {
        self.topic_range(topic, limit, false)
    }

    /// The newest `limit` entries of `topic`, returned oldest first.
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::Corrupt`].
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
        let tx = self.db.begin_read().map_err(|e| self.io(e))?;
        let index = tx.open_table(BY_TOPIC).map_err(|e| self.io(e))?;
        let by_id = tx.open_table(ENTRIES).map_err(|e| self.io(e))?;
        let name = topic.as_str();
        let lower = (name, 0u64, &[0u8; 32]);
        let upper = (name, u64::MAX, &[0xFFu8; 32]);
        let range = index.range(lower..=upper).map_err(|e| self.io(e))?;
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
            let (key, _) = row.map_err(|e| self.io(e))?;
            let id = EntryId::from_bytes(*key.value().2);
            if let Some(bytes) = by_id.get(id.as_bytes()).map_err(|e| self.io(e))? {
                out.push(self.decode(id, bytes.value())?);
            }
        }
        Ok(out)
    }

    /// Number of stored entries.
    ///
    /// # Errors
    /// [`StoreError::Io`].
    pub fn count(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(|e| self.io(e))?;
        let table = tx.open_table(ENTRIES).map_err(|e| self.io(e))?;
        table.len().map_err(|e| self.io(e))
    }

    /// Topics this node replicates.
    ///
    /// # Errors
    /// [`StoreError::Io`].
    pub fn topics(&self) -> Result<Vec<Topic>, StoreError> {
        let tx = self.db.begin_read().map_err(|e| self.io(e))?;
        let table = tx.open_table(TOPICS).map_err(|e| self.io(e))?;
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| self.io(e))? {
            let (key, _) = row.map_err(|e| self.io(e))?;
            if let Ok(topic) = Topic::new(key.value()) {
                out.push(topic);
            }
        }
        Ok(out)
    }

    /// Records that this node joins (`true`) or leaves (`false`) a topic, durably.
    ///
    /// # Errors
    /// [`StoreError::Io`].
    pub fn set_topic(&self, topic: &Topic, joined: bool) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(|e| self.io(e))?;
        {
            let mut table = tx.open_table(TOPICS).map_err(|e| self.io(e))?;
            if joined {
                table.insert(topic.as_str(), ()).map_err(|e| self.io(e))?;
            } else {
                table.remove(topic.as_str()).map_err(|e| self.io(e))?;
            }
        }
        tx.commit().map_err(|e| self.io(e))
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
        assert_eq!(store.get(&batch[5].id()).unwrap().as_ref(), Some(&batch[5]));
        let some = store
            .get_many(&[batch[0].id(), EntryId::from_bytes([0; 32]), batch[1].id()])
            .unwrap();
        assert_eq!(some, vec![batch[0].clone(), batch[1].clone()]);
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
