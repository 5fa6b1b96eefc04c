//! Stateful rules: every `RejectReason`, limits and overflow.

use icn_ledger::{RejectKind, RejectReason};

use crate::*;

#[test]
fn transfers_move_balances_and_seqs() {
    let (a, b, d) = (keypair(1), keypair(2), keypair(3));
    let mut c = core();
    assert_eq!(c.next_seq(&a.did()), 1);
    add(&mut c, create(&a, "USD", 100, T0));
    assert_eq!(
        status(&mut c, transfer(&a, "USD", b.did(), 30, 1, T0 + 1)),
        OpStatus::Applied
    );
    assert_eq!(
        status(&mut c, transfer(&b, "USD", d.did(), 50, 1, T0 + 2)),
        OpStatus::Applied
    );
    assert_eq!(
        status(&mut c, transfer(&a, "USD", d.did(), 5, 2, T0 + 3)),
        OpStatus::Applied
    );
    assert_eq!(c.balance(&code("USD"), &a.did()), -35);
    assert_eq!(c.balance(&code("USD"), &b.did()), -20);
    assert_eq!(c.balance(&code("USD"), &d.did()), 55);
    assert_eq!(c.balance(&code("EUR"), &d.did()), 0);
    let all = c.balances(&code("USD"));
    assert_eq!(all.len(), 3);
    assert_eq!(all.values().sum::<i64>(), 0);
    assert_eq!((c.last_seq(&a.did()), c.next_seq(&a.did())), (2, 3));
    assert_eq!(c.last_seq(&d.did()), 0);
    assert_eq!(c.accounts_count(), 3);
    assert_eq!(c.applied_transfers_count(), 3);
    assert_eq!(c.op_count(), 4);
    assert_eq!(c.history(&a.did()).len(), 3);
    assert_eq!(c.history(&d.did()).len(), 2);
    assert_eq!(c.history(&keypair(9).did()).len(), 0);
}

#[test]
fn currencies_and_duplicates() {
    let (a, b) = (keypair(1), keypair(2));
    let mut c = core();
    let first = add(&mut c, create(&a, "USD", 10, T0)).id;
    assert_eq!(
        rejected(&mut c, create(&b, "USD", 99, T0 + 1)),
        RejectReason::DuplicateCurrency { existing: first }
    );
    add(&mut c, create(&b, "EUR", 0, T0 + 2));
    let list = c.currencies();
    assert_eq!(
        list.iter().map(|x| x.code.as_str()).collect::<Vec<_>>(),
        ["EUR", "USD"]
    );
    let usd = c.currency(&code("USD")).unwrap();
    assert_eq!(
        (usd.issuer, usd.default_credit_limit, usd.created_by),
        (a.did(), 10, first)
    );
    assert_eq!(c.currencies_count(), 2);
    assert_eq!(c.credit_limit(&code("USD"), &b.did()), Some(10));
    assert_eq!(c.credit_limit(&code("XXX"), &b.did()), None);
    assert!(c.currency(&code("XXX")).is_none());
}

#[test]
fn unknown_currency() {
    let (a, b) = (keypair(1), keypair(2));
    let mut c = core();
    assert_eq!(
        rejected(&mut c, transfer(&a, "USD", b.did(), 1, 1, T0)),
        RejectReason::UnknownCurrency
    );
    assert_eq!(
        rejected(&mut c, set_limit(&a, "USD", b.did(), 1, T0)),
        RejectReason::UnknownCurrency
    );
    assert_eq!(c.stats().pending, 2);
    // The failed transfer did not use up seq 1.
    assert_eq!(c.next_seq(&a.did()), 1);
}

#[test]
fn credit_limit_is_inclusive() {
    let (a, b) = (keypair(1), keypair(2));
    let mut c = core();
    add(&mut c, create(&a, "USD", 100, T0));
    assert_eq!(
        status(&mut c, transfer(&b, "USD", a.did(), 60, 1, T0 + 1)),
        OpStatus::Applied
    );
    assert_eq!(
        rejected(&mut c, transfer(&b, "USD", a.did(), 41, 2, T0 + 2)),
        RejectReason::OverLimit {
            balance: -60,
            limit: 100,
            amount: 41
        }
    );
    // The rejected transfer left seq 2 free; exactly reaching -limit applies.
    assert_eq!(
        status(&mut c, transfer(&b, "USD", a.did(), 40, 2, T0 + 3)),
        OpStatus::Applied
    );
    assert_eq!(c.balance(&code("USD"), &b.did()), -100);
    assert_eq!(
        rejected(&mut c, transfer(&b, "USD", a.did(), 1, 3, T0 + 4)),
        RejectReason::OverLimit {
            balance: -100,
            limit: 100,
            amount: 1
        }
    );
    // A zero default means no credit: only received units can be spent.
    add(&mut c, create(&a, "HRS", 0, T0 + 5));
    assert!(matches!(
        rejected(&mut c, transfer(&b, "HRS", a.did(), 1, 3, T0 + 6)),
        RejectReason::OverLimit {
            balance: 0,
            limit: 0,
            ..
        }
    ));
    assert_eq!(c.stats().rejections_of(RejectKind::OverLimit), 3);
}

#[test]
fn issuer_sets_limits() {
    let (a, b, d) = (keypair(1), keypair(2), keypair(3));
    let mut c = core();
    add(&mut c, create(&a, "USD", 10, T0));
    assert_eq!(
        rejected(&mut c, set_limit(&b, "USD", b.did(), 1000, T0 + 1)),
        RejectReason::NotIssuer { issuer: a.did() }
    );
    assert_eq!(c.credit_limit(&code("USD"), &b.did()), Some(10));
    assert_eq!(
        status(&mut c, set_limit(&a, "USD", b.did(), 1000, T0 + 2)),
        OpStatus::Applied
    );
    assert_eq!(c.credit_limit(&code("USD"), &b.did()), Some(1000));
    assert_eq!(c.credit_limit(&code("USD"), &d.did()), Some(10));
    assert_eq!(
        status(&mut c, transfer(&b, "USD", d.did(), 700, 1, T0 + 3)),
        OpStatus::Applied
    );
    // Lowering below the debt would break "no balance below -limit".
    assert_eq!(
        rejected(&mut c, set_limit(&a, "USD", b.did(), 699, T0 + 4)),
        RejectReason::LimitBelowBalance {
            balance: -700,
            limit: 699
        }
    );
    // Down to exactly the debt freezes further spending.
    assert_eq!(
        status(&mut c, set_limit(&a, "USD", b.did(), 700, T0 + 5)),
        OpStatus::Applied
    );
    assert!(matches!(
        rejected(&mut c, transfer(&b, "USD", d.did(), 1, 2, T0 + 6)),
        RejectReason::OverLimit {
            balance: -700,
            limit: 700,
            ..
        }
    ));
    // The issuer may set its own limit.
    assert_eq!(
        status(&mut c, set_limit(&a, "USD", a.did(), 0, T0 + 7)),
        OpStatus::Applied
    );
    assert_eq!(c.credit_limit(&code("USD"), &a.did()), Some(0));
}

#[test]
fn seq_gaps_are_bad_seq() {
    let (a, b) = (keypair(1), keypair(2));
    let mut c = core();
    add(&mut c, create(&a, "USD", 100, T0));
    assert_eq!(
        rejected(&mut c, transfer(&a, "USD", b.did(), 1, 2, T0 + 1)),
        RejectReason::BadSeq { expected: 1 }
    );
    assert_eq!(
        status(&mut c, transfer(&a, "USD", b.did(), 1, 1, T0 + 2)),
        OpStatus::Applied
    );
    assert_eq!(
        rejected(&mut c, transfer(&a, "USD", b.did(), 1, 7, T0 + 3)),
        RejectReason::BadSeq { expected: 2 }
    );
    assert_eq!(
        rejected(&mut c, transfer(&a, "USD", b.did(), 1, u64::MAX, T0 + 4)),
        RejectReason::BadSeq { expected: 2 }
    );
    let s = c.stats();
    assert_eq!(
        (
            s.pending,
            s.rejected_ops,
            s.rejections_of(RejectKind::BadSeq)
        ),
        (3, 3, 3)
    );
}

#[test]
fn seqs_are_shared_across_currencies() {
    let (a, b) = (keypair(1), keypair(2));
    let mut c = core();
    add(&mut c, create(&a, "USD", 100, T0));
    add(&mut c, create(&a, "EUR", 100, T0 + 1));
    assert_eq!(
        status(&mut c, transfer(&a, "USD", b.did(), 1, 1, T0 + 2)),
        OpStatus::Applied
    );
    assert_eq!(
        status(&mut c, transfer(&a, "EUR", b.did(), 1, 2, T0 + 3)),
        OpStatus::Applied
    );
    assert!(matches!(
        rejected(&mut c, transfer(&a, "EUR", b.did(), 1, 1, T0 + 4)),
        RejectReason::Equivocation { .. }
    ));
}

#[test]
fn overflow_with_limits_near_u64_max() {
    let (a, b, d, e) = (keypair(1), keypair(2), keypair(3), keypair(4));
    let mut c = core();
    add(&mut c, create(&a, "BIG", u64::MAX, T0));
    let usd = code("BIG");
    // One transfer can move i64::MAX.
    assert_eq!(
        status(
            &mut c,
            transfer(&a, "BIG", b.did(), i64::MAX as u64, 1, T0 + 1)
        ),
        OpStatus::Applied
    );
    assert_eq!(c.balance(&usd, &b.did()), i64::MAX);
    assert_eq!(c.balance(&usd, &a.did()), -i64::MAX);
    // The payee cannot go above i64::MAX.
    assert_eq!(
        rejected(&mut c, transfer(&d, "BIG", b.did(), 1, 1, T0 + 2)),
        RejectReason::Overflow
    );
    // The payer is within its limit (u64::MAX) but would go below i64::MIN.
    assert_eq!(
        rejected(&mut c, transfer(&a, "BIG", d.did(), 2, 2, T0 + 3)),
        RejectReason::Overflow
    );
    // Exactly i64::MIN is fine.
    assert_eq!(
        status(&mut c, transfer(&a, "BIG", d.did(), 1, 2, T0 + 4)),
        OpStatus::Applied
    );
    assert_eq!(c.balance(&usd, &a.did()), i64::MIN);
    // The largest amount: beyond i64 for both sides.
    assert_eq!(
        rejected(&mut c, transfer(&d, "BIG", e.did(), u64::MAX, 1, T0 + 5)),
        RejectReason::Overflow
    );
    // Over the limit wins over overflow when both hold.
    add(&mut c, set_limit(&a, "BIG", e.did(), 1 << 63, T0 + 6));
    assert!(matches!(
        rejected(&mut c, transfer(&e, "BIG", d.did(), u64::MAX, 1, T0 + 7)),
        RejectReason::OverLimit { .. }
    ));
    // An amount above i64::MAX still applies when both balances stay in range: b (at
    // i64::MAX) pays 2^63 + 5 to a (at i64::MIN).
    assert_eq!(
        status(
            &mut c,
            transfer(&b, "BIG", a.did(), (1 << 63) + 5, 1, T0 + 8)
        ),
        OpStatus::Applied
    );
    assert_eq!(c.balance(&usd, &a.did()), 5);
    assert_eq!(c.balance(&usd, &b.did()), -6);
    assert_eq!(c.stats().rejections_of(RejectKind::Overflow), 3);
    c.check_invariants().unwrap();
}

#[test]
fn reasons_display_useful_messages() {
    let r = RejectReason::OverLimit {
        balance: -60,
        limit: 100,
        amount: 41,
    };
    let text = r.to_string();
    assert!(
        text.contains("-60") && text.contains("100") && text.contains("41"),
        "{text}"
    );
    assert_eq!(r.kind().as_str(), "over_limit");
}
