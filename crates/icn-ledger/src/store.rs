//! Durable ledger storage (redb): every held op, keyed by its position in the fold order.
//!
//! The state itself is not stored: [`crate::LedgerCore::restore`] refolds the ops in key order,
//! and the core's undo log makes any position a checkpoint while running.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::SignedOp;

/// Order key (40 bytes: timestamp ‖ op id) → encoded signed op.
const OPS: TableDefinition<'_, &[u8; 40], &[u8]> = TableDefinition::new("ops");

/// Store errors; the path is always named.
#[derive(Debug, thiserror::Error)]
pub enum LedgerStoreError {
    /// The database could not be opened (missing, corrupt, locked).
    #[error("cannot open ledger store {path}: {message}")]
    Open {
        /// Database file.
        path: PathBuf,
        /// redb's explanation.
        message: String,
    },
    /// A read or write failed.
    #[error("ledger store {path}: {message}")]
    Io {
        /// Database file.
        path: PathBuf,
        /// Explanation.
        message: String,
    },
}

/// The ledger database.
#[derive(Clone)]
pub struct LedgerStore {
    db: std::sync::Arc<Database>,
    path: PathBuf,
    max_op_bytes: usize,
}

impl LedgerStore {
    /// Opens (or creates) the store at `path`; ops larger than `max_op_bytes` never decode.
    ///
    /// # Errors
    /// [`LedgerStoreError::Open`].
    pub fn open(path: &Path, max_op_bytes: usize) -> Result<Self, LedgerStoreError> {
        let open_err = |e: &dyn std::fmt::Display| LedgerStoreError::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let db = Database::create(path).map_err(|e| open_err(&e))?;
        let tx = db.begin_write().map_err(|e| open_err(&e))?;
        tx.open_table(OPS).map_err(|e| open_err(&e))?;
        tx.commit().map_err(|e| open_err(&e))?;
        Ok(Self {
            db: std::sync::Arc::new(db),
            path: path.to_path_buf(),
            max_op_bytes,
        })
    }

    fn io(&self, e: impl std::fmt::Display) -> LedgerStoreError {
        LedgerStoreError::Io {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Writes ops in one durable transaction (group commit).
    ///
    /// # Errors
    /// [`LedgerStoreError::Io`]; nothing of the batch is stored then.
    pub fn put_batch(&self, ops: &[SignedOp]) -> Result<(), LedgerStoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write().map_err(|e| self.io(e))?;
        {
            let mut table = tx.open_table(OPS).map_err(|e| self.io(e))?;
            for op in ops {
                let key = op.order_key().to_bytes();
                table
                    .insert(&key, op.encode().as_slice())
                    .map_err(|e| self.io(e))?;
            }
        }
        tx.commit().map_err(|e| self.io(e))
    }

    /// Every stored op in fold order.
    ///
    /// # Errors
    /// [`LedgerStoreError::Io`], including an op that no longer decodes (corruption).
    pub fn load_all(&self) -> Result<Vec<SignedOp>, LedgerStoreError> {
        let tx = self.db.begin_read().map_err(|e| self.io(e))?;
        let table = tx.open_table(OPS).map_err(|e| self.io(e))?;
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| self.io(e))? {
            let (key, value) = row.map_err(|e| self.io(e))?;
            let op = SignedOp::decode(value.value(), self.max_op_bytes).map_err(|e| {
                self.io(format!("corrupt op at key {:02x?}: {e}", &key.value()[..8]))
            })?;
            out.push(op);
        }
        Ok(out)
    }

    /// Number of stored ops.
    ///
    /// # Errors
    /// [`LedgerStoreError::Io`].
    pub fn count(&self) -> Result<u64, LedgerStoreError> {
        let tx = self.db.begin_read().map_err(|e| self.io(e))?;
        let table = tx.open_table(OPS).map_err(|e| self.io(e))?;
        table.len().map_err(|e| self.io(e))
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
    fn ops_come_back_in_fold_order_after_reopen() {
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
}
