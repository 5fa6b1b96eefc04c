//! Integration tests of icn-ledger's public API (one test binary, see STYLE.md).

// Helpers outside `#[test]` functions unwrap too; clippy's in-test exemption misses them.
#![allow(clippy::unwrap_used)]

mod codec;
mod equivocation;
mod local;
mod props;
mod replay;
mod rules;
mod scale;
mod validation;

use icn_identity::{Did, Keypair};
use icn_ledger::{
    CreateCurrency, CurrencyCode, InsertOutcome, LedgerConfig, LedgerCore, NewOp, OpStatus,
    RejectReason, SetCreditLimit, SignedOp, Transfer,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// A plausible clock (2023-11-14) for op timestamps.
pub const T0: u64 = 1_700_000_000_000;

/// A local clock far enough ahead that no test op is refused as coming from the future.
pub const NOW: u64 = T0 + 1_000_000_000;

/// A deterministic keypair for `seed`.
pub fn keypair(seed: u64) -> Keypair {
    Keypair::generate_with(&mut StdRng::seed_from_u64(seed))
}

/// A currency code (must be valid).
pub fn code(s: &str) -> CurrencyCode {
    CurrencyCode::new(s).unwrap()
}

/// `issuer` creates `code` with a default credit limit.
pub fn create(issuer: &Keypair, c: &str, default_credit_limit: u64, ts: u64) -> SignedOp {
    icn_ledger::Op::from(CreateCurrency {
        code: code(c),
        issuer: issuer.did(),
        default_credit_limit,
        timestamp_ms: ts,
    })
    .sign(issuer)
}

/// `author` sets `account`'s limit in `c`.
pub fn set_limit(author: &Keypair, c: &str, account: Did, limit: u64, ts: u64) -> SignedOp {
    icn_ledger::Op::from(SetCreditLimit {
        currency: code(c),
        account,
        limit,
        timestamp_ms: ts,
    })
    .sign(author)
}

/// `from` pays `amount` of `c` to `to` with `seq`.
pub fn transfer(from: &Keypair, c: &str, to: Did, amount: u64, seq: u64, ts: u64) -> SignedOp {
    transfer_memo(from, c, to, amount, seq, ts, "")
}

/// [`transfer`] with a memo.
pub fn transfer_memo(
    from: &Keypair,
    c: &str,
    to: Did,
    amount: u64,
    seq: u64,
    ts: u64,
    memo: &str,
) -> SignedOp {
    icn_ledger::Op::from(Transfer {
        currency: code(c),
        from: from.did(),
        to,
        amount,
        seq,
        timestamp_ms: ts,
        memo: memo.to_owned(),
    })
    .sign(from)
}

/// A core with the default configuration.
pub fn core() -> LedgerCore {
    LedgerCore::new(LedgerConfig::default())
}

/// Inserts an op that must pass validation and be new; checks the invariants; returns what
/// happened to it.
pub fn add(core: &mut LedgerCore, op: SignedOp) -> NewOp {
    let out = core.insert(op, NOW).unwrap();
    core.check_invariants().unwrap();
    match out {
        InsertOutcome::Inserted { op, .. } => op,
        InsertOutcome::Duplicate(id) => panic!("unexpected duplicate {id}"),
    }
}

/// Inserts an op and returns its status.
pub fn status(core: &mut LedgerCore, op: SignedOp) -> OpStatus {
    add(core, op).status
}

/// Inserts an op and returns its rejection reason (it must be rejected).
pub fn rejected(core: &mut LedgerCore, op: SignedOp) -> RejectReason {
    match status(core, op) {
        OpStatus::Rejected(r) => r,
        OpStatus::Applied => panic!("op applied, expected a rejection"),
    }
}
