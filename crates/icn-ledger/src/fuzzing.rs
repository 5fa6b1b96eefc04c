//! Fuzz harness body for ledger op validation and apply, shared by the cargo-fuzz target in
//! `fuzz/` and the bounded test that runs in CI. Not a stable API.
//!
//! [`ledger_ops`] reads arbitrary bytes as batches of ops for one [`LedgerCore`]: currency
//! creations, credit limits and transfers between four accounts with fields from the bytes
//! (zero amounts, stale or repeated seqs, self transfers, foreign issuers, future timestamps,
//! long memos), signed by their author or by someone else, with corrupted signatures, or
//! decoded from raw bytes. The oracles: no panic; the invariants hold after every batch; and
//! the state is a function of the held *set*: the same ops inserted one by one in reverse
//! order, and restored from storage, give the same digest.

use std::sync::LazyLock;

use arbitrary::Unstructured;
use icn_identity::{Keypair, Signature};

use crate::op::{CreateCurrency, CurrencyCode, Op, SetCreditLimit, SignedOp, Transfer};
use crate::{BatchItem, LedgerConfig, LedgerCore, MAX_OP_BYTES};

/// Harness clock: every op timestamp is near it, some beyond the allowed skew.
const NOW_MS: u64 = 1_800_000_000_000;

/// Most ops in one run (each costs a signature and a verification).
const MAX_OPS: usize = 48;

static KEYS: LazyLock<Vec<Keypair>> = LazyLock::new(|| {
    (1..=4u8)
        .map(|n| Keypair::from_secret_bytes(&[n; 32]))
        .collect()
});

static CODES: LazyLock<Vec<CurrencyCode>> = LazyLock::new(|| {
    ["H", "USD", "K9"]
        .iter()
        .filter_map(|c| CurrencyCode::new(c).ok())
        .collect()
});

fn config() -> LedgerConfig {
    LedgerConfig {
        max_memo_bytes: 8,
        max_code_len: 3,
        ..LedgerConfig::default()
    }
}

/// Runs one script; see the module documentation.
pub fn ledger_ops(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut core = LedgerCore::new(config());
    let mut held: Vec<SignedOp> = Vec::new();
    let mut made = 0;
    while !u.is_empty() && made < MAX_OPS {
        let n = u.int_in_range(1..=8usize).unwrap_or(1);
        let mut batch = Vec::new();
        for _ in 0..n {
            if let Ok(Some(op)) = signed_op(&mut u) {
                batch.push(op);
            }
        }
        made += n;
        let outcome = core.insert_batch(batch.clone(), NOW_MS);
        assert_eq!(outcome.items.len(), batch.len(), "one result per op");
        for (op, item) in batch.into_iter().zip(&outcome.items) {
            if let Ok(BatchItem::Inserted(_)) = item {
                held.push(op);
            }
        }
        if let Err(e) = core.check_invariants() {
            panic!("ledger invariant broken: {e}");
        }
    }
    assert_eq!(core.op_count(), held.len(), "held ops counted once");
    let mut reversed = LedgerCore::new(config());
    for op in held.iter().rev() {
        if let Err(e) = reversed.insert(op.clone(), NOW_MS) {
            panic!("an op accepted once is refused later: {e}");
        }
    }
    assert_eq!(
        core.state_digest(),
        reversed.state_digest(),
        "state depends on arrival order"
    );
    let (restored, skipped) = LedgerCore::restore(config(), held);
    assert!(skipped.is_empty(), "restore skipped held ops: {skipped:?}");
    assert_eq!(
        core.state_digest(),
        restored.state_digest(),
        "restored state differs"
    );
}

fn signed_op(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<SignedOp>> {
    if u.ratio(1, 16)? {
        // Raw wire bytes, as a peer could send them.
        let len = u.int_in_range(0..=200)?;
        return Ok(SignedOp::decode(u.bytes(len)?, MAX_OP_BYTES).ok());
    }
    let author = u.choose(&KEYS)?;
    let other = u.choose(&KEYS)?.did();
    let code = u.choose(&CODES)?.clone();
    let timestamp_ms = NOW_MS - 5_000 + u64::from(u.arbitrary::<u16>()?) * 2;
    let op: Op = match u.int_in_range(0..=5u8)? {
        0 => CreateCurrency {
            code,
            issuer: if u.ratio(7, 8)? { author.did() } else { other },
            default_credit_limit: u.int_in_range(0..=50)?,
            timestamp_ms,
        }
        .into(),
        1 => SetCreditLimit {
            currency: code,
            account: other,
            limit: if u.ratio(1, 8)? {
                u.arbitrary()?
            } else {
                u.int_in_range(0..=100)?
            },
            timestamp_ms,
        }
        .into(),
        _ => Transfer {
            currency: code,
            from: if u.ratio(7, 8)? { author.did() } else { other },
            to: other,
            amount: if u.ratio(1, 8)? {
                u.arbitrary()?
            } else {
                u.int_in_range(0..=40)?
            },
            seq: u.int_in_range(0..=5)?,
            timestamp_ms,
            memo: "m".repeat(u.int_in_range(0..=10)?),
        }
        .into(),
    };
    let mut signed = op.sign(author);
    if u.ratio(1, 16)? {
        let mut bytes = [0u8; 64];
        u.fill_buffer(&mut bytes)?;
        signed.signature = Signature::from_bytes(&bytes);
    }
    Ok(Some(signed))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        // Each case signs and verifies up to 48 ops three times over: keep the count modest.
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// The fuzz harness over random scripts.
        #[test]
        fn ledger_ops_harness(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
            super::ledger_ops(&data);
        }
    }
}
