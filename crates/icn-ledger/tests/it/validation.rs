//! Stateless validation: every `OpError`, none of which leaves the op held.

use icn_identity::Signature;
use icn_ledger::{InsertOutcome, Op, OpError, RejectKind};

use crate::*;

/// Inserts an op that must be refused; checks it is neither held nor folded and that the
/// refusal was counted under its kind.
fn refused(core: &mut LedgerCore, op: SignedOp, now: u64) -> OpError {
    let before = core.stats();
    let digest = core.state_digest();
    let id = op.id();
    let err = core.insert(op, now).unwrap_err();
    let after = core.stats();
    assert!(!core.contains(&id));
    assert_eq!(after.ops, before.ops);
    assert_eq!(core.state_digest(), digest);
    core.check_invariants().unwrap();
    let kind = err.kind();
    assert!(kind.is_stateless());
    assert_eq!(after.rejections_of(kind), before.rejections_of(kind) + 1);
    err
}

#[test]
fn forged_and_tampered_signatures() {
    let a = keypair(1);
    let b = keypair(2);
    let mut c = core();
    add(&mut c, create(&a, "USD", 100, T0));

    let mut zeroed = transfer(&a, "USD", b.did(), 5, 1, T0 + 1);
    zeroed.signature = Signature::from_bytes(&[0; 64]);
    assert_eq!(
        refused(&mut c, zeroed, NOW),
        OpError::BadSignature { author: a.did() }
    );

    // Signed by b but claiming a as author (and from).
    let Op::Transfer(t) = transfer(&a, "USD", b.did(), 5, 1, T0 + 1).op else {
        unreachable!()
    };
    let forged = SignedOp {
        signature: b.sign(&Op::from(t.clone()).signing_bytes(&a.did())),
        op: Op::from(t),
        author: a.did(),
    };
    assert!(matches!(
        refused(&mut c, forged, NOW),
        OpError::BadSignature { .. }
    ));

    // A field changed after signing.
    let mut tampered = transfer(&a, "USD", b.did(), 5, 1, T0 + 1);
    if let Op::Transfer(t) = &mut tampered.op {
        t.amount = 500;
    }
    assert!(matches!(
        refused(&mut c, tampered, NOW),
        OpError::BadSignature { .. }
    ));
    assert_eq!(c.stats().rejections_of(RejectKind::BadSignature), 3);

    // A held op is a duplicate before any check: a copy with a broken signature changes
    // nothing and is no rejection (the id covers every field but the signature).
    let held = transfer(&a, "USD", b.did(), 5, 1, T0 + 1);
    add(&mut c, held.clone());
    let mut copy = held.clone();
    copy.signature = Signature::from_bytes(&[0; 64]);
    assert!(matches!(
        c.insert(copy, NOW),
        Ok(InsertOutcome::Duplicate(id)) if id == held.id()
    ));
    assert_eq!(c.stats().rejections_of(RejectKind::BadSignature), 3);
    assert_eq!(c.op_count(), 2);
}

#[test]
fn own_ops_skip_only_the_signature_check() {
    let a = keypair(1);
    let b = keypair(2);
    let mut c = core();
    add(&mut c, create(&a, "USD", 100, T0));
    // `insert_own` trusts the signature (the node just made it)...
    let mut own = transfer(&a, "USD", b.did(), 5, 1, T0 + 1);
    own.signature = Signature::from_bytes(&[0; 64]);
    assert!(matches!(
        c.insert_own(own, NOW),
        Ok(InsertOutcome::Inserted { .. })
    ));
    // ...but every other check still applies.
    let future = transfer(&a, "USD", b.did(), 5, 2, NOW + 10 * 60 * 1000);
    assert!(matches!(
        c.insert_own(future, NOW),
        Err(OpError::FutureTimestamp { .. })
    ));
    c.check_invariants().unwrap();
    assert_eq!(c.op_count(), 2);
}

#[test]
fn author_must_be_the_actor() {
    let a = keypair(1);
    let b = keypair(2);
    let mut c = core();
    // b signs a transfer out of a's account.
    let op = Op::from(Transfer {
        currency: code("USD"),
        from: a.did(),
        to: b.did(),
        amount: 1,
        seq: 1,
        timestamp_ms: T0,
        memo: String::new(),
    })
    .sign(&b);
    assert_eq!(
        refused(&mut c, op, NOW),
        OpError::AuthorMismatch {
            author: b.did(),
            actor: a.did()
        }
    );
    // b creates a currency naming a as issuer.
    let op = Op::from(CreateCurrency {
        code: code("USD"),
        issuer: a.did(),
        default_credit_limit: 0,
        timestamp_ms: T0,
    })
    .sign(&b);
    assert!(matches!(
        refused(&mut c, op, NOW),
        OpError::AuthorMismatch { .. }
    ));
}

#[test]
fn transfer_fields() {
    let a = keypair(1);
    let b = keypair(2);
    let mut c = core();
    assert_eq!(
        refused(&mut c, transfer(&a, "USD", b.did(), 0, 1, T0), NOW),
        OpError::ZeroAmount
    );
    assert_eq!(
        refused(&mut c, transfer(&a, "USD", b.did(), 1, 0, T0), NOW),
        OpError::ZeroSeq
    );
    assert_eq!(
        refused(&mut c, transfer(&a, "USD", a.did(), 1, 1, T0), NOW),
        OpError::SelfTransfer
    );
}

#[test]
fn memo_length_bound_is_inclusive() {
    let a = keypair(1);
    let b = keypair(2);
    let mut c = core();
    add(&mut c, create(&a, "USD", 100, T0));
    let ok = transfer_memo(&a, "USD", b.did(), 1, 1, T0 + 1, &"m".repeat(256));
    assert_eq!(status(&mut c, ok), OpStatus::Applied);
    // Bytes, not characters: 129 two-byte characters are 258 bytes.
    let long = transfer_memo(&a, "USD", b.did(), 1, 2, T0 + 2, &"é".repeat(129));
    assert_eq!(
        refused(&mut c, long, NOW),
        OpError::MemoTooLong { len: 258, max: 256 }
    );
}

#[test]
fn code_length_follows_the_config() {
    let a = keypair(1);
    let b = keypair(2);
    let mut c = core();
    let sixteen = "A".repeat(16);
    let seventeen = "A".repeat(17);
    assert_eq!(
        status(&mut c, create(&a, &sixteen, 0, T0)),
        OpStatus::Applied
    );
    for op in [
        create(&a, &seventeen, 0, T0),
        set_limit(&a, &seventeen, b.did(), 1, T0),
        transfer(&a, &seventeen, b.did(), 1, 1, T0),
    ] {
        assert!(matches!(
            refused(&mut c, op, NOW),
            OpError::InvalidCode { .. }
        ));
    }
    let mut wide = LedgerCore::new(LedgerConfig {
        max_code_len: 32,
        ..LedgerConfig::default()
    });
    assert!(wide.insert(create(&a, &seventeen, 0, T0), NOW).is_ok());
}

#[test]
fn future_timestamps_beyond_the_skew_bound() {
    let a = keypair(1);
    let mut c = core();
    let now = T0;
    let skew = LedgerConfig::default().max_clock_skew_ms;
    assert_eq!(skew, 60_000);
    let late = create(&a, "EUR", 0, now + skew + 1);
    assert_eq!(
        refused(&mut c, late.clone(), now),
        OpError::FutureTimestamp {
            timestamp_ms: now + skew + 1,
            now_ms: now,
            max_skew_ms: skew
        }
    );
    // Exactly at the bound is accepted.
    assert_eq!(
        status_at(&mut c, create(&a, "USD", 0, now + skew), now),
        OpStatus::Applied
    );
    // The refused op is accepted once the clock has caught up.
    assert_eq!(status_at(&mut c, late, now + 1), OpStatus::Applied);
    // Saturation: a clock near u64::MAX does not overflow the bound.
    assert!(
        c.insert(create(&a, "GBP", 0, u64::MAX), u64::MAX - 1)
            .is_ok()
    );
}

fn status_at(c: &mut LedgerCore, op: SignedOp, now: u64) -> OpStatus {
    match c.insert(op, now).unwrap() {
        InsertOutcome::Inserted { op, .. } => op.status,
        InsertOutcome::Duplicate(_) => panic!("duplicate"),
    }
}

#[test]
fn duplicates_are_reported_not_refolded() {
    let a = keypair(1);
    let mut c = core();
    let op = create(&a, "USD", 0, T0);
    let id = add(&mut c, op.clone()).id;
    let digest = c.state_digest();
    assert_eq!(
        c.insert(op.clone(), NOW).unwrap(),
        InsertOutcome::Duplicate(id)
    );
    // Through the wire form too.
    let decoded = SignedOp::decode(&op.encode(), icn_ledger::MAX_OP_BYTES).unwrap();
    assert_eq!(
        c.insert(decoded, NOW).unwrap(),
        InsertOutcome::Duplicate(id)
    );
    assert_eq!(c.state_digest(), digest);
    assert_eq!(c.op_count(), 1);
    assert_eq!(c.stats().replays, 0);
}

#[test]
fn reject_kind_labels_are_a_closed_unique_set() {
    let mut seen = std::collections::HashSet::new();
    for (i, k) in RejectKind::ALL.iter().enumerate() {
        assert_eq!(k.index(), i);
        assert!(seen.insert(k.as_str()), "{k} twice");
        assert!(
            k.as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_')
        );
    }
    assert_eq!(seen.len(), RejectKind::COUNT);
    assert_eq!(
        RejectKind::ALL.iter().filter(|k| k.is_stateless()).count(),
        10
    );
}
