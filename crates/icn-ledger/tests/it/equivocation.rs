//! Equivocation: detection, evidence, the resolution rule and counting once.

use icn_ledger::{Equivocation, RejectReason, StatusChange};

use crate::*;

/// Every permutation of `items` (Heap's algorithm), for small sets.
pub fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    fn go<T: Clone>(k: usize, a: &mut Vec<T>, out: &mut Vec<Vec<T>>) {
        if k <= 1 {
            out.push(a.clone());
            return;
        }
        for i in 0..k {
            go(k - 1, a, out);
            let j = if k.is_multiple_of(2) { i } else { 0 };
            a.swap(j, k - 1);
        }
    }
    let mut out = Vec::new();
    go(items.len(), &mut items.to_vec(), &mut out);
    out
}

#[test]
fn second_transfer_with_a_used_seq_is_an_equivocation() {
    let (a, b, d) = (keypair(1), keypair(2), keypair(3));
    let mut c = core();
    add(&mut c, create(&a, "USD", 100, T0));
    let t1 = add(&mut c, transfer(&a, "USD", b.did(), 10, 1, T0 + 1));
    assert!(!t1.equivocation);
    let t2 = add(&mut c, transfer(&a, "USD", d.did(), 10, 1, T0 + 2));
    assert!(t2.equivocation);
    assert_eq!(
        t2.status,
        OpStatus::Rejected(RejectReason::Equivocation { applied: t1.id })
    );
    assert_eq!(c.stats().equivocations, 1);
    assert_eq!(
        c.equivocations(),
        [Equivocation {
            from: a.did(),
            seq: 1,
            ops: vec![t1.id, t2.id],
            applied: Some(t1.id)
        }]
    );
    // Both are held as evidence; only one moved money.
    assert!(c.contains(&t1.id) && c.contains(&t2.id));
    assert_eq!(c.balance(&code("USD"), &d.did()), 0);
    // Reusing an old seq much later is the same thing.
    add(&mut c, transfer(&a, "USD", b.did(), 1, 2, T0 + 3));
    let t3 = add(&mut c, transfer(&a, "USD", d.did(), 1, 1, T0 + 4));
    assert!(t3.equivocation);
    assert_eq!(
        t3.status,
        OpStatus::Rejected(RejectReason::Equivocation { applied: t1.id })
    );
    assert_eq!(c.stats().equivocations, 2);
    assert_eq!(c.equivocations()[0].ops, [t1.id, t2.id, t3.id]);
}

#[test]
fn reverse_arrival_gives_the_same_result_and_count() {
    let (a, b, d) = (keypair(1), keypair(2), keypair(3));
    let cur = create(&a, "USD", 100, T0);
    let t1 = transfer(&a, "USD", b.did(), 10, 1, T0 + 1);
    let t2 = transfer(&a, "USD", d.did(), 10, 1, T0 + 2);

    let mut fwd = core();
    for op in [cur.clone(), t1.clone(), t2.clone()] {
        add(&mut fwd, op);
    }
    let mut rev = core();
    add(&mut rev, cur);
    let first = add(&mut rev, t2.clone());
    assert_eq!(first.status, OpStatus::Applied);
    assert!(!first.equivocation);
    // t1 sorts before t2: replay; t2 loses the seq.
    match rev.insert(t1.clone(), NOW).unwrap() {
        InsertOutcome::Inserted { op, replay } => {
            assert!(op.equivocation);
            assert_eq!(op.status, OpStatus::Applied);
            let replay = replay.unwrap();
            assert_eq!(replay.refolded, 1);
            assert_eq!(
                replay.changed,
                [StatusChange {
                    id: t2.id(),
                    before: OpStatus::Applied,
                    after: OpStatus::Rejected(RejectReason::Equivocation { applied: t1.id() }),
                }]
            );
        }
        other => panic!("{other:?}"),
    }
    rev.check_invariants().unwrap();
    assert_eq!(rev.state_digest(), fwd.state_digest());
    assert_eq!(rev.equivocations(), fwd.equivocations());
    assert_eq!(rev.stats().equivocations, 1);
    assert_eq!(fwd.stats().equivocations, 1);
}

#[test]
fn the_first_transfer_that_passes_takes_the_seq() {
    let (a, b, d, e) = (keypair(1), keypair(2), keypair(3), keypair(4));
    let mut c = core();
    add(&mut c, create(&a, "USD", 100, T0));
    // Too big for a's limit: rejected for that, and seq 1 stays free.
    let big = add(&mut c, transfer(&a, "USD", b.did(), 150, 1, T0 + 10));
    assert!(matches!(
        big.status,
        OpStatus::Rejected(RejectReason::OverLimit { .. })
    ));
    // A retry with the same seq applies, and is counted as an equivocation (evidence).
    let retry = add(&mut c, transfer(&a, "USD", b.did(), 90, 1, T0 + 11));
    assert_eq!(retry.status, OpStatus::Applied);
    assert!(retry.equivocation);
    assert_eq!(c.equivocations()[0].applied, Some(retry.id));
    // A credit to `a` that sorts before `big` makes it affordable: it now takes the seq and the
    // retry becomes the equivocation. The count does not change.
    match c
        .insert(transfer(&e, "USD", a.did(), 60, 1, T0 + 5), NOW)
        .unwrap()
    {
        InsertOutcome::Inserted {
            replay: Some(replay),
            ..
        } => {
            assert_eq!(replay.refolded, 2);
            let changed: Vec<_> = replay.changed.iter().map(|c| (c.id, c.after)).collect();
            assert_eq!(
                changed,
                [
                    (big.id, OpStatus::Applied),
                    (
                        retry.id,
                        OpStatus::Rejected(RejectReason::Equivocation { applied: big.id })
                    ),
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    c.check_invariants().unwrap();
    assert_eq!(c.stats().equivocations, 1);
    assert_eq!(c.equivocations()[0].applied, Some(big.id));
    assert_eq!(c.balance(&code("USD"), &a.did()), 60 - 150);
    assert_eq!(c.balance(&code("USD"), &d.did()), 0);
}

#[test]
fn count_is_once_per_extra_op_in_every_arrival_order() {
    let (a, b, d) = (keypair(1), keypair(2), keypair(3));
    let ops = vec![
        create(&a, "USD", 100, T0),
        transfer(&a, "USD", b.did(), 10, 1, T0 + 1),
        transfer(&a, "USD", d.did(), 20, 1, T0 + 1),
        transfer(&a, "USD", d.did(), 30, 1, T0 + 3),
        transfer(&a, "USD", b.did(), 5, 2, T0 + 2),
    ];
    let mut reference = None;
    for perm in permutations(&ops) {
        let mut c = core();
        let mut flagged = 0;
        for op in perm {
            // Inserting twice (duplicate) and replays must not count again.
            let new = add(&mut c, op.clone());
            flagged += usize::from(new.equivocation);
            assert!(matches!(c.insert(op, NOW), Ok(InsertOutcome::Duplicate(_))));
        }
        assert_eq!(flagged, 2);
        let s = c.stats();
        assert_eq!(s.equivocations, 2);
        let eq = c.equivocations();
        assert_eq!(eq.len(), 1);
        assert_eq!(eq[0].ops.len(), 3);
        let seen = (c.state_digest(), eq, c.balances(&code("USD")));
        match &reference {
            None => reference = Some(seen),
            Some(r) => assert_eq!(*r, seen),
        }
    }
    assert_eq!(permutations(&ops).len(), 120);
}

#[test]
fn restore_counts_equivocations_like_inserts() {
    let (a, b, d) = (keypair(1), keypair(2), keypair(3));
    let ops = vec![
        create(&a, "USD", 100, T0),
        transfer(&a, "USD", b.did(), 10, 1, T0 + 1),
        transfer(&a, "USD", d.did(), 20, 1, T0 + 2),
    ];
    let mut c = core();
    for op in ops.clone() {
        add(&mut c, op);
    }
    let (r, skipped) = LedgerCore::restore(LedgerConfig::default(), ops.into_iter().rev());
    assert!(skipped.is_empty());
    r.check_invariants().unwrap();
    assert_eq!(r.stats().equivocations, 1);
    assert_eq!(r.equivocations(), c.equivocations());
    assert_eq!(r.state_digest(), c.state_digest());
}
