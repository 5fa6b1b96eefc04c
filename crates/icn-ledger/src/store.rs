//! Durable ledger storage (redb): every held op, keyed by its timestamp and id.
//!
//! The state itself is not stored: [`crate::LedgerCore::restore`] sorts the ops into the fold
//! order and refolds them, and the core's undo log makes any position a checkpoint while
//! running.

use std::path::{Path, PathBuf};

use icn_gossip::db_file::{self, DbError, DbFailure, DbFile, WriteMode};
use icn_obs::labels::{CounterVec2, StorageErrorReason, Store};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::SignedOp;

/// Big-endian timestamp ‖ op id (unique, sorted by time) → encoded signed op.
const OPS: TableDefinition<'_, &[u8; 40], &[u8]> = TableDefinition::new("ops");

/// [`OPS`] in a file written by redb 2 (same name and layout).
const OPS_V2: redb2::TableDefinition<'_, &[u8; 40], &[u8]> = redb2::TableDefinition::new("ops");

/// The row key of `op` in [`OPS`].
fn row_key(op: &SignedOp) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..8].copy_from_slice(&op.op.timestamp_ms().to_be_bytes());
    key[8..].copy_from_slice(op.id().as_bytes());
    key
}

/// Store errors; the path is always named.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LedgerStoreError {
    /// The database could not be opened (damaged, unreadable, locked).
    #[error("cannot open ledger store {path}: {failure}")]
    Open {
        /// Database file.
        path: PathBuf,
        /// Why.
        failure: DbFailure,
    },
    /// A read or write failed (nothing of a failed write is stored).
    #[error("ledger store {path}: {failure}")]
    Failed {
        /// Database file.
        path: PathBuf,
        /// Why.
        failure: DbFailure,
    },
}

impl LedgerStoreError {
    /// The failure's class (`no_space` for a full disk).
    pub fn reason(&self) -> StorageErrorReason {
        match self {
            LedgerStoreError::Open { failure, .. } | LedgerStoreError::Failed { failure, .. } => {
                failure.reason
            }
        }
    }
}

/// The ledger database.
#[derive(Clone)]
pub struct LedgerStore {
    file: DbFile,
    max_op_bytes: usize,
}

fn create_tables(db: &Database) -> Result<(), DbError> {
    let tx = db.begin_write()?;
    tx.open_table(OPS)?;
    tx.commit()?;
    Ok(())
}

/// Writes the ops of a store file written by redb 2 into `new`, as they were (see
/// [`icn_gossip::db_file::upgrade`]; every op is checked again when the store is loaded).
fn copy_from_v2(old: &redb2::ReadTransaction, new: &redb::WriteTransaction) -> Result<(), DbError> {
    use redb2::ReadableTable as _;
    let v2 = DbError::from_v2;
    let mut ops = new.open_table(OPS)?;
    if let Some(table) = db_file::upgrade::open_v2_table(old, OPS_V2)? {
        for row in table.iter().map_err(v2)? {
            let (key, bytes) = row.map_err(v2)?;
            ops.insert(key.value(), bytes.value())?;
        }
    }
    Ok(())
}

impl LedgerStore {
    /// Opens (or creates) the store at `path`; ops larger than `max_op_bytes` never decode. An
    /// existing file is verified first and never modified when it is damaged.
    ///
    /// # Errors
    /// [`LedgerStoreError::Open`].
    pub fn open(path: &Path, max_op_bytes: usize) -> Result<Self, LedgerStoreError> {
        let file =
            DbFile::open(path, Store::Ledger, create_tables, copy_from_v2).map_err(|failure| {
                LedgerStoreError::Open {
                    path: path.to_path_buf(),
                    failure,
                }
            })?;
        Ok(Self { file, max_op_bytes })
    }

    /// Counts failed operations in `icn_system_storage_errors_total{store="ledger"}`.
    pub fn count_errors_in(&self, counters: CounterVec2<Store, StorageErrorReason>) {
        self.file.count_errors_in(counters);
    }

    fn with<T>(
        &self,
        op: impl FnOnce(&Database) -> Result<T, DbError>,
    ) -> Result<T, LedgerStoreError> {
        self.file
            .with(op)
            .map_err(|failure| LedgerStoreError::Failed {
                path: self.file.path().to_path_buf(),
                failure,
            })
    }

    /// Writes ops in one durable transaction (group commit).
    ///
    /// # Errors
    /// [`LedgerStoreError::Failed`]; nothing of the batch is stored then.
    pub fn put_batch(&self, ops: &[SignedOp]) -> Result<(), LedgerStoreError> {
        self.put_batch_with(ops, WriteMode::Durable)
    }

    /// [`LedgerStore::put_batch`] with a choice of when it reaches the disk: ops relayed from
    /// peers are written [`WriteMode::Deferred`] (the gossip store and their authors hold them;
    /// a crash before the next [`LedgerStore::sync`] only means catching up again at start).
    ///
    /// # Errors
    /// [`LedgerStoreError::Failed`]; nothing of the batch is stored then.
    pub fn put_batch_with(
        &self,
        ops: &[SignedOp],
        mode: WriteMode,
    ) -> Result<(), LedgerStoreError> {
        let encoded: Vec<Vec<u8>> = ops.iter().map(SignedOp::encode).collect();
        self.put_encoded_with(ops, &encoded, mode)
    }

    /// [`LedgerStore::put_batch_with`] for ops already in their wire form: `encoded[i]` is
    /// `ops[i].encode()` (the caller reuses it for the gossip payload).
    ///
    /// # Errors
    /// [`LedgerStoreError::Failed`]; nothing of the batch is stored then.
    pub fn put_encoded_with(
        &self,
        ops: &[SignedOp],
        encoded: &[Vec<u8>],
        mode: WriteMode,
    ) -> Result<(), LedgerStoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        self.with(|db| {
            let tx = mode.begin_write(db)?;
            {
                let mut table = tx.open_table(OPS)?;
                for (op, bytes) in ops.iter().zip(encoded) {
                    table.insert(&row_key(op), bytes.as_slice())?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Makes every deferred write durable.
    ///
    /// # Errors
    /// [`LedgerStoreError::Failed`].
    pub fn sync(&self) -> Result<(), LedgerStoreError> {
        self.with(db_file::sync)
    }

    /// Every stored op, by timestamp (ops of one millisecond by id, not yet in fold order).
    ///
    /// # Errors
    /// [`LedgerStoreError::Failed`], `corrupt` for an op that no longer decodes.
    pub fn load_all(&self) -> Result<Vec<SignedOp>, LedgerStoreError> {
        self.with(|db| {
            let tx = db.begin_read()?;
            let table = tx.open_table(OPS)?;
            let mut out = Vec::new();
            for row in table.iter()? {
                let (key, value) = row?;
                let op = SignedOp::decode(value.value(), self.max_op_bytes).map_err(|e| {
                    DbError::corrupted(format!("corrupt op at key {:02x?}: {e}", &key.value()[..8]))
                })?;
                out.push(op);
            }
            Ok(out)
        })
    }

    /// Number of stored ops.
    ///
    /// # Errors
    /// [`LedgerStoreError::Failed`].
    pub fn count(&self) -> Result<u64, LedgerStoreError> {
        self.with(|db| {
            let tx = db.begin_read()?;
            let table = tx.open_table(OPS)?;
            Ok(table.len()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CreateCurrency, CurrencyCode, Op};
    use icn_identity::Keypair;

    fn create(key: &Keypair, code: &str, ts: u64) -> SignedOp {
        Op::CreateCurrency(CreateCurrency {
            code: CurrencyCode::new(code).unwrap(),
            issuer: key.did(),
            default_credit_limit: 10,
            timestamp_ms: ts,
        })
        .sign(key)
    }

    #[test]
    fn ops_come_back_in_time_order_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        let key = Keypair::generate();
        let ops = vec![
            create(&key, "C", 30),
            create(&key, "A", 10),
            create(&key, "B", 20),
        ];
        {
            let store = LedgerStore::open(&path, 4096).unwrap();
            store.put_batch(&ops).unwrap();
            store.put_batch(&ops[..1]).unwrap(); // idempotent
        }
        let store = LedgerStore::open(&path, 4096).unwrap();
        assert_eq!(store.count().unwrap(), 3);
        let loaded: Vec<u64> = store
            .load_all()
            .unwrap()
            .iter()
            .map(|op| op.op.timestamp_ms())
            .collect();
        assert_eq!(loaded, vec![10, 20, 30]);
    }

    #[test]
    fn deferred_ops_are_visible_at_once_and_durable_after_a_sync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        let key = Keypair::generate();
        let store = LedgerStore::open(&path, 4096).unwrap();
        store.put_batch(&[create(&key, "A", 10)]).unwrap();
        let relayed = [create(&key, "B", 20), create(&key, "C", 30)];
        store.put_batch_with(&relayed, WriteMode::Deferred).unwrap();
        assert_eq!(store.count().unwrap(), 3, "readers see deferred writes");

        // A copy of the open file is what a crash leaves.
        let crashed = |name: &str| {
            let copy = dir.path().join(name);
            std::fs::copy(&path, &copy).unwrap();
            LedgerStore::open(&copy, 4096).unwrap().count().unwrap()
        };
        assert_eq!(crashed("before-sync.redb"), 1);
        store.sync().unwrap();
        assert_eq!(crashed("after-sync.redb"), 3);
    }

    #[test]
    fn a_store_written_by_redb_2_is_upgraded_with_every_op() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        let key = Keypair::generate();
        let ops = [create(&key, "B", 20), create(&key, "A", 10)];
        {
            // The file as ICN wrote it with redb 2.
            let db = redb2::Database::create(&path).unwrap();
            let tx = db.begin_write().unwrap();
            {
                let mut table = tx.open_table(OPS_V2).unwrap();
                for op in &ops {
                    let bytes = op.encode();
                    table.insert(&row_key(op), bytes.as_slice()).unwrap();
                }
            }
            tx.commit().unwrap();
        }
        let original = std::fs::read(&path).unwrap();
        let store = LedgerStore::open(&path, 4096).unwrap();
        assert_eq!(
            store.load_all().unwrap(),
            vec![ops[1].clone(), ops[0].clone()]
        );
        let backup = icn_gossip::db_file::upgrade::backup_path(&path);
        assert_eq!(std::fs::read(backup).unwrap(), original);
    }
}
