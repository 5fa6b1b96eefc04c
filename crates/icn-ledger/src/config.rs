//! [`LedgerConfig`]: the validation bounds of the ledger core.

use serde::{Deserialize, Serialize};

use crate::op::MAX_OP_BYTES;

/// Bounds the core enforces in stateless validation.
///
/// `max_memo_bytes`, `max_code_len` and `max_op_bytes` are protocol parameters: a node with
/// stricter values refuses (and does not forward) ops that other nodes hold, so its state
/// diverges from theirs. Change them only on every node at once. `max_clock_skew_ms` only
/// delays acceptance of an op until the local clock has caught up with its timestamp.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    /// How far an op's `timestamp_ms` may be ahead of the local clock (default 60 000 ms).
    /// Bounds how far into the future an author can place an op, which would otherwise let
    /// it sort after (and so win against) every op made until then.
    pub max_clock_skew_ms: u64,
    /// Longest transfer memo, in UTF-8 bytes (default 256).
    pub max_memo_bytes: usize,
    /// Longest currency code (default 16; values above [`crate::MAX_CODE_LEN`] act as it).
    pub max_code_len: usize,
    /// Longest encoded [`crate::SignedOp`] accepted by [`crate::SignedOp::decode`] callers
    /// that pass this value (default and ceiling [`MAX_OP_BYTES`]).
    pub max_op_bytes: usize,
    /// Most bytes of own ops published in one gossip entry (default 64 KiB; a node never uses
    /// more than `gossip.max_payload_bytes`). Local only: peers accept any size gossip does.
    pub max_entry_bytes: usize,
}

/// Default [`LedgerConfig::max_entry_bytes`]: about 300 payments.
pub const DEFAULT_MAX_ENTRY_BYTES: usize = 64 * 1024;

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            max_clock_skew_ms: 60_000,
            max_memo_bytes: 256,
            max_code_len: 16,
            max_op_bytes: MAX_OP_BYTES,
            max_entry_bytes: DEFAULT_MAX_ENTRY_BYTES,
        }
    }
}
