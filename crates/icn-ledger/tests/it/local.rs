//! `validate_local`: predicting the fate of an op this node is about to sign.

use icn_ledger::{LocalError, Op, OpError, RejectReason};

use crate::*;

fn pay(from: &Keypair, to: &Keypair, amount: u64, seq: u64, ts: u64) -> Op {
    Op::from(Transfer {
        currency: code("USD"),
        from: from.did(),
        to: to.did(),
        amount,
        seq,
        timestamp_ms: ts,
        memo: String::new(),
    })
}

#[test]
fn predicts_apply_and_returns_the_id() {
    let (a, b) = (keypair(1), keypair(2));
    let mut c = core();
    add(&mut c, create(&a, "USD", 100, T0));
    let ts = c.next_timestamp(T0 + 5, 1);
    assert_eq!(ts, T0 + 5);
    let op = pay(&a, &b, 100, c.next_seq(&a.did()), ts);
    let id = c.validate_local(&op, &a.did(), T0 + 5).unwrap();
    let new = add(&mut c, op.sign(&a));
    assert_eq!((new.id, new.status), (id, OpStatus::Applied));
}

#[test]
fn refuses_an_overspend_with_balance_and_limit() {
    let (a, b) = (keypair(1), keypair(2));
    let mut c = core();
    add(&mut c, create(&a, "USD", 100, T0));
    add(&mut c, pay(&a, &b, 70, 1, T0 + 1).sign(&a));
    let err = c
        .validate_local(&pay(&a, &b, 31, 2, T0 + 2), &a.did(), T0 + 2)
        .unwrap_err();
    assert_eq!(
        err,
        LocalError::Rejected(RejectReason::OverLimit {
            balance: -70,
            limit: 100,
            amount: 31
        })
    );
    let text = err.to_string();
    assert!(
        text.contains("balance -70") && text.contains("credit limit 100"),
        "{text}"
    );
    // Nothing was inserted.
    assert_eq!(c.op_count(), 2);
}

#[test]
fn refuses_stale_seqs_and_stateless_errors() {
    let (a, b) = (keypair(1), keypair(2));
    let mut c = core();
    add(&mut c, create(&a, "USD", 100, T0));
    let first = add(&mut c, pay(&a, &b, 1, 1, T0 + 1).sign(&a)).id;
    assert_eq!(
        c.validate_local(&pay(&a, &b, 1, 1, T0 + 2), &a.did(), T0 + 2),
        Err(LocalError::Rejected(RejectReason::Equivocation {
            applied: first
        }))
    );
    assert_eq!(
        c.validate_local(&pay(&a, &b, 1, 3, T0 + 2), &a.did(), T0 + 2),
        Err(LocalError::Rejected(RejectReason::BadSeq { expected: 2 }))
    );
    assert_eq!(
        c.validate_local(&pay(&a, &b, 0, 2, T0 + 2), &a.did(), T0 + 2),
        Err(LocalError::Invalid(OpError::ZeroAmount))
    );
    assert!(matches!(
        c.validate_local(&pay(&a, &b, 1, 2, T0 + 2), &b.did(), T0 + 2),
        Err(LocalError::Invalid(OpError::AuthorMismatch { .. }))
    ));
    assert!(matches!(
        c.validate_local(&pay(&a, &b, 1, 2, T0 + 2 + 60_001), &a.did(), T0 + 2),
        Err(LocalError::Invalid(OpError::FutureTimestamp { .. }))
    ));
    assert_eq!(
        c.validate_local(
            &Op::from(SetCreditLimit {
                currency: code("USD"),
                account: b.did(),
                limit: 5,
                timestamp_ms: T0 + 3,
            }),
            &b.did(),
            T0 + 3
        ),
        Err(LocalError::Rejected(RejectReason::NotIssuer {
            issuer: a.did()
        }))
    );
}

#[test]
fn requires_a_timestamp_after_the_head() {
    let (a, b) = (keypair(1), keypair(2));
    let mut c = core();
    // A peer's op slightly in the future (within the skew) is the head.
    add(&mut c, create(&a, "USD", 100, T0 + 30_000));
    let now = T0;
    assert_eq!(
        c.validate_local(&pay(&a, &b, 1, 1, now), &a.did(), now),
        Err(LocalError::BehindHead {
            timestamp_ms: now,
            head_timestamp_ms: T0 + 30_000
        })
    );
    // A transfer sorts after the head in its millisecond (seq 1 > the creation's 0); an op
    // without a seq goes one past it.
    let ts = c.next_timestamp(now, 1);
    assert_eq!(ts, T0 + 30_000);
    assert!(
        c.validate_local(&pay(&a, &b, 1, 1, ts), &a.did(), now)
            .is_ok()
    );
    assert_eq!(c.next_timestamp(now, 0), T0 + 30_001);
    assert_eq!(core().next_timestamp(now, 0), now);
}

#[test]
fn hundreds_of_transfers_in_one_millisecond_stay_at_the_clock() {
    let (a, b) = (keypair(1), keypair(2));
    let mut c = core();
    add(&mut c, create(&a, "USD", 1_000_000, T0));
    // All made at the same clock reading, as a busy node's batch is.
    let now = T0 + 1;
    for _ in 0..500 {
        let seq = c.next_seq(&a.did());
        let ts = c.next_timestamp(now, seq);
        assert_eq!(ts, now, "seq {seq} moved ahead of the clock");
        let op = pay(&a, &b, 1, seq, ts);
        c.validate_local(&op, &a.did(), now).unwrap();
        assert_eq!(add(&mut c, op.sign(&a)).status, OpStatus::Applied);
    }
    assert_eq!(c.applied_transfers_count(), 500);
    // Another payer in the same millisecond, behind the head's seq, goes one past it.
    let ts = c.next_timestamp(now, 1);
    assert_eq!(ts, now + 1);
    c.validate_local(&pay(&b, &a, 1, 1, ts), &b.did(), now)
        .unwrap();
}
