//! Reading a gossip store file written by redb 2 (ICN before 2026-11-25) once, when it is
//! upgraded (see [`crate::db_file::upgrade`]). Its `by_topic` index is not copied but rebuilt
//! from the entries: redb 3 changed how such keys are encoded.

use redb2::{ReadableTable as _, TableDefinition};

use super::{Encoded, TOPICS, Tables, decode};
use crate::db_file::DbError;
use crate::db_file::upgrade::open_v2_table;
use crate::entry::EntryId;

/// (timestamp_ms, id) → encoded entry.
const V2_ENTRIES: TableDefinition<'_, (u64, &[u8; 32]), &[u8]> =
    TableDefinition::new("entries_by_time");
/// Id → encoded entry: the layout before entries were keyed by time.
const V2_ENTRIES_BY_ID: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("entries");
/// Topic → (): topics this node replicates.
const V2_TOPICS: TableDefinition<'_, &str, ()> = TableDefinition::new("topics");

/// Writes the rows of the old file into `new`: every entry (checked against its id as it is
/// read), its topic index, and the replicated topics.
pub(super) fn copy_from_v2(
    old: &redb2::ReadTransaction,
    new: &redb::WriteTransaction,
) -> Result<(), DbError> {
    let v2 = DbError::from_v2;
    let mut tables = Tables::open(new)?;
    let mut copy_entry = |id: &[u8; 32], bytes: &[u8]| {
        let id = EntryId::from_bytes(*id);
        let entry = decode(id, bytes)?;
        tables.insert(&entry, &id, &Encoded::whole(bytes))
    };
    if let Some(table) = open_v2_table(old, V2_ENTRIES)? {
        for row in table.iter().map_err(v2)? {
            let (key, bytes) = row.map_err(v2)?;
            copy_entry(key.value().1, bytes.value())?;
        }
    }
    if let Some(table) = open_v2_table(old, V2_ENTRIES_BY_ID)? {
        for row in table.iter().map_err(v2)? {
            let (id, bytes) = row.map_err(v2)?;
            copy_entry(id.value(), bytes.value())?;
        }
    }
    let mut topics = new.open_table(TOPICS)?;
    if let Some(table) = open_v2_table(old, V2_TOPICS)? {
        for row in table.iter().map_err(v2)? {
            let (topic, _) = row.map_err(v2)?;
            topics.insert(topic.value(), ())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use icn_identity::Keypair;
    use icn_obs::labels::StorageErrorReason;

    use super::*;
    use crate::db_file::upgrade::backup_path;
    use crate::entry::Entry;
    use crate::store::GossipStore;
    use crate::store::codec;
    use crate::topic::Topic;

    /// The topic index as redb 2 stored it.
    const V2_BY_TOPIC: TableDefinition<'_, (&str, u64, &[u8; 32]), ()> =
        TableDefinition::new("by_topic");

    /// Writes a store file as ICN did with redb 2: `by_time` in `entries_by_time`, `by_id` in
    /// the older by-id table, both indexed by topic; `topics` replicated.
    fn write_v2(path: &Path, by_time: &[Entry], by_id: &[Entry], topics: &[&Topic]) {
        let db = redb2::Database::create(path).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut time_table = tx.open_table(V2_ENTRIES).unwrap();
            let mut id_table = tx.open_table(V2_ENTRIES_BY_ID).unwrap();
            let mut index = tx.open_table(V2_BY_TOPIC).unwrap();
            for (entry, keyed_by_time) in by_time
                .iter()
                .map(|e| (e, true))
                .chain(by_id.iter().map(|e| (e, false)))
            {
                let id = entry.id();
                let bytes = bincode::serde::encode_to_vec(entry, codec()).unwrap();
                if keyed_by_time {
                    time_table
                        .insert((entry.timestamp_ms, id.as_bytes()), bytes.as_slice())
                        .unwrap();
                } else {
                    id_table.insert(id.as_bytes(), bytes.as_slice()).unwrap();
                }
                index
                    .insert(
                        (entry.topic.as_str(), entry.timestamp_ms, id.as_bytes()),
                        (),
                    )
                    .unwrap();
            }
            let mut topic_table = tx.open_table(V2_TOPICS).unwrap();
            for topic in topics {
                topic_table.insert(topic.as_str(), ()).unwrap();
            }
        }
        tx.commit().unwrap();
    }

    /// A redb 2 store in a fresh directory, holding one entry (returned) of the replicated
    /// topic `t`.
    fn one_entry_v2() -> (tempfile::TempDir, PathBuf, Entry) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gossip.redb");
        let t = Topic::new("t").unwrap();
        let entry = Entry::sign(&Keypair::generate(), t.clone(), 1, vec![1]);
        write_v2(&path, std::slice::from_ref(&entry), &[], &[&t]);
        (dir, path, entry)
    }

    fn times(store: &GossipStore, topic: &Topic) -> Vec<u64> {
        let entries = store.entries(topic, 100).unwrap();
        entries.iter().map(|e| e.timestamp_ms).collect()
    }

    #[test]
    fn a_store_written_by_redb_2_is_upgraded_once_and_the_old_file_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gossip.redb");
        let key = Keypair::generate();
        let (a, b) = (Topic::new("a").unwrap(), Topic::new("b").unwrap());
        let sign = |topic: &Topic, ts: u64| Entry::sign(&key, topic.clone(), ts, vec![ts as u8]);
        let by_time = [sign(&a, 30), sign(&a, 10), sign(&b, 20)];
        let by_id = [sign(&a, 15)];
        write_v2(&path, &by_time, &by_id, &[&a, &b]);
        let original = std::fs::read(&path).unwrap();

        let store = GossipStore::open(&path).unwrap();
        assert_eq!(store.count().unwrap(), 4);
        assert_eq!(times(&store, &a), vec![10, 15, 30]);
        assert_eq!(times(&store, &b), vec![20]);
        assert_eq!(store.topics().unwrap(), vec![a.clone(), b.clone()]);
        assert_eq!(
            store.get(15, &by_id[0].id()).unwrap().as_ref(),
            Some(&by_id[0])
        );
        let backup = backup_path(&path);
        assert_eq!(std::fs::read(&backup).unwrap(), original, "kept as it was");
        assert_ne!(std::fs::read(&path).unwrap(), original, "replaced");

        // The upgraded file opens as it is; new writes work.
        store.put_batch(&[sign(&b, 40)]).unwrap();
        drop(store);
        let store = GossipStore::open(&path).unwrap();
        assert_eq!(times(&store, &b), vec![20, 40]);
        assert_eq!(std::fs::read(&backup).unwrap(), original);
        let leftovers: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "gossip.redb" && name != "gossip.redb.v2.bak")
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn an_upgrade_refuses_to_overwrite_an_earlier_backup() {
        let (_dir, path, _) = one_entry_v2();
        std::fs::write(backup_path(&path), b"an older backup").unwrap();
        let original = std::fs::read(&path).unwrap();
        let error = GossipStore::open(&path).err().unwrap();
        assert_eq!(error.reason(), StorageErrorReason::Other);
        assert!(error.to_string().contains("v2.bak"), "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), original);
        assert_eq!(
            std::fs::read(backup_path(&path)).unwrap(),
            b"an older backup"
        );
    }

    #[test]
    fn an_upgrade_stopped_after_keeping_the_original_runs_again() {
        let (_dir, path, stored) = one_entry_v2();
        let original = std::fs::read(&path).unwrap();
        // The state a crash between the hard link and the rename leaves.
        std::fs::hard_link(&path, backup_path(&path)).unwrap();
        let store = GossipStore::open(&path).unwrap();
        assert_eq!(store.get(1, &stored.id()).unwrap(), Some(stored));
        assert_eq!(std::fs::read(backup_path(&path)).unwrap(), original);
    }

    #[test]
    fn a_file_another_process_holds_is_not_upgraded() {
        let (dir, path, _) = one_entry_v2();
        let original = std::fs::read(&path).unwrap();
        // An older node still running on the file holds redb's exclusive lock.
        let held = std::fs::File::open(&path).unwrap();
        held.lock().unwrap();
        let error = GossipStore::open(&path).err().unwrap();
        assert_eq!(error.reason(), StorageErrorReason::Other);
        assert!(error.to_string().contains("another process"), "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), original);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        drop(held);
        assert_eq!(GossipStore::open(&path).unwrap().count().unwrap(), 1);
    }

    #[test]
    fn an_entry_that_does_not_match_its_id_fails_the_upgrade_and_changes_nothing() {
        let (dir, path, stored) = one_entry_v2();
        {
            // Store a second entry under the first one's id.
            let db = redb2::Database::open(&path).unwrap();
            let tx = db.begin_write().unwrap();
            {
                let mut table = tx.open_table(V2_ENTRIES).unwrap();
                let other = Entry::sign(&Keypair::generate(), stored.topic.clone(), 2, vec![2]);
                let bytes = bincode::serde::encode_to_vec(&other, codec()).unwrap();
                table
                    .insert((2, stored.id().as_bytes()), bytes.as_slice())
                    .unwrap();
            }
            tx.commit().unwrap();
        }
        let original = std::fs::read(&path).unwrap();
        let error = GossipStore::open(&path).err().unwrap();
        assert_eq!(error.reason(), StorageErrorReason::Corrupt);
        assert_eq!(std::fs::read(&path).unwrap(), original);
        assert!(!backup_path(&path).exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
