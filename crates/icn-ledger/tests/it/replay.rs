//! Out-of-order arrival: exactly the replays expected, batches and restore.

use icn_ledger::{BatchItem, RejectKind, RejectReason};

use crate::*;

fn replay_of(c: &mut LedgerCore, op: SignedOp) -> Option<u64> {
    let out = c.insert(op, NOW).unwrap();
    c.check_invariants().unwrap();
    match out {
        InsertOutcome::Inserted { replay, .. } => replay.map(|r| r.refolded),
        InsertOutcome::Duplicate(_) => panic!("duplicate"),
    }
}

#[test]
fn only_ops_sorting_before_the_head_replay_and_only_the_suffix_is_refolded() {
    let (a, b) = (keypair(1), keypair(2));
    let mut c = core();
    assert_eq!(replay_of(&mut c, create(&a, "USD", 100, T0 + 10)), None);
    assert_eq!(
        replay_of(&mut c, transfer(&a, "USD", b.did(), 1, 1, T0 + 20)),
        None
    );
    assert_eq!(
        replay_of(&mut c, transfer(&a, "USD", b.did(), 1, 2, T0 + 30)),
        None
    );
    assert_eq!(c.stats().replays, 0);
    // Between the creation and the first transfer: the two transfers are refolded.
    assert_eq!(
        replay_of(&mut c, transfer(&b, "USD", a.did(), 1, 1, T0 + 15)),
        Some(2)
    );
    // Before everything: all four.
    assert_eq!(replay_of(&mut c, create(&b, "EUR", 0, T0 + 5)), Some(4));
    // After the head again: no replay.
    assert_eq!(
        replay_of(&mut c, transfer(&b, "USD", a.did(), 1, 2, T0 + 35)),
        None
    );
    let s = c.stats();
    assert_eq!((s.replays, s.refolded_ops, s.ops), (2, 6, 6));
}

#[test]
fn equal_timestamps_are_ordered_by_id() {
    let (a, b) = (keypair(1), keypair(2));
    let mut c = core();
    add(&mut c, create(&a, "USD", 100, T0));
    let x = create(&b, "EUR", 0, T0 + 1);
    let y = create(&b, "GBP", 0, T0 + 1);
    let (lo, hi) = if x.id() < y.id() { (x, y) } else { (y, x) };
    assert_eq!(replay_of(&mut c, hi.clone()), None);
    assert_eq!(replay_of(&mut c, lo.clone()), Some(1));
    let keys: Vec<_> = c.ops_in_order().map(|h| h.key.id).collect();
    assert_eq!(keys[1..], [lo.id(), hi.id()]);
}

#[test]
fn a_late_currency_creation_applies_the_waiting_transfers() {
    let (a, b) = (keypair(1), keypair(2));
    let mut c = core();
    let t: Vec<SignedOp> = (1..=5)
        .map(|i| transfer(&a, "USD", b.did(), 1, i, T0 + 10 + i))
        .collect();
    for op in &t[..] {
        assert_eq!(
            status(&mut c, op.clone()),
            OpStatus::Rejected(RejectReason::UnknownCurrency)
        );
    }
    // Only the first is waiting on the currency; the others also on their predecessor, but the
    // reason recorded is the first failing check.
    assert_eq!(c.stats().pending, 5);
    match c.insert(create(&a, "USD", 100, T0), NOW).unwrap() {
        InsertOutcome::Inserted {
            op,
            replay: Some(replay),
        } => {
            assert_eq!(op.status, OpStatus::Applied);
            assert_eq!(replay.refolded, 5);
            assert_eq!(replay.changed.len(), 5);
            assert!(
                replay
                    .changed
                    .iter()
                    .all(|ch| ch.after == OpStatus::Applied)
            );
            let ids: Vec<_> = replay.changed.iter().map(|ch| ch.id).collect();
            assert_eq!(ids, t.iter().map(SignedOp::id).collect::<Vec<_>>());
        }
        other => panic!("{other:?}"),
    }
    c.check_invariants().unwrap();
    let s = c.stats();
    assert_eq!((s.pending, s.applied_transfers, s.rejected_ops), (0, 5, 0));
    // The events stay counted; the state no longer holds them.
    assert_eq!(s.rejections_of(RejectKind::UnknownCurrency), 5);
    assert_eq!(c.balance(&code("USD"), &b.did()), 5);
}

#[test]
fn a_replay_that_changes_nothing_reports_no_change() {
    let (a, b, d) = (keypair(1), keypair(2), keypair(3));
    let mut c = core();
    add(&mut c, create(&a, "USD", 100, T0));
    add(&mut c, transfer(&a, "USD", b.did(), 1, 1, T0 + 10));
    match c
        .insert(transfer(&d, "USD", b.did(), 1, 1, T0 + 5), NOW)
        .unwrap()
    {
        InsertOutcome::Inserted {
            replay: Some(r), ..
        } => {
            assert_eq!(r.refolded, 1);
            assert!(r.changed.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_batch_replays_at_most_once_from_its_earliest_op() {
    let (a, b, d) = (keypair(1), keypair(2), keypair(3));
    let base = vec![
        create(&a, "USD", 100, T0),
        transfer(&a, "USD", b.did(), 10, 1, T0 + 10),
        transfer(&a, "USD", b.did(), 10, 2, T0 + 20),
        transfer(&b, "USD", d.did(), 5, 1, T0 + 30),
    ];
    let late = vec![
        transfer(&d, "USD", a.did(), 3, 2, T0 + 25),
        transfer(&d, "USD", a.did(), 3, 1, T0 + 15),
        transfer(&a, "USD", d.did(), 3, 3, T0 + 40),
    ];
    let mut c = core();
    for op in base.clone() {
        add(&mut c, op);
    }
    let mut with_dup = late.clone();
    with_dup.push(late[0].clone());
    with_dup.push(base[0].clone());
    let mut bad = transfer(&d, "USD", a.did(), 0, 9, T0 + 1);
    bad.author = b.did();
    with_dup.push(bad);
    let out = c.insert_batch(with_dup, NOW);
    c.check_invariants().unwrap();
    let replay = out.replay.unwrap();
    // From T0 + 15: the ops at T0 + 20 and T0 + 30.
    assert_eq!(replay.refolded, 2);
    assert_eq!(c.stats().replays, 1);
    assert_eq!(out.items.len(), 6);
    for (item, op) in out.items[..3].iter().zip(&late) {
        match item {
            Ok(BatchItem::Inserted(n)) => {
                assert_eq!(n.id, op.id());
                assert_eq!(n.status, OpStatus::Applied);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(out.items[3], Ok(BatchItem::Duplicate(late[0].id())));
    assert_eq!(out.items[4], Ok(BatchItem::Duplicate(base[0].id())));
    assert!(out.items[5].is_err());

    // Same set, one by one in another order: same state.
    let mut one = core();
    for op in late.iter().chain(base.iter()).rev() {
        add(&mut one, op.clone());
    }
    assert_eq!(one.state_digest(), c.state_digest());

    // A batch entirely after the head, unsorted inside: no replay.
    let tail = vec![
        transfer(&b, "USD", a.did(), 1, 3, T0 + 60),
        transfer(&b, "USD", a.did(), 1, 2, T0 + 50),
    ];
    let out = c.insert_batch(tail, NOW);
    assert!(out.replay.is_none());
    assert!(
        out.items
            .iter()
            .all(|i| matches!(i, Ok(BatchItem::Inserted(n)) if n.status == OpStatus::Applied))
    );
    assert_eq!(c.stats().replays, 1);
}

#[test]
fn restore_rebuilds_the_same_state_without_replays() {
    let (a, b) = (keypair(1), keypair(2));
    let mut c = core();
    add(&mut c, create(&a, "USD", 100, T0 + 50));
    add(&mut c, transfer(&a, "USD", b.did(), 10, 1, T0 + 60));
    add(
        &mut c,
        transfer_memo(&b, "USD", a.did(), 1, 1, T0 + 10, &"x".repeat(100)),
    );
    add(&mut c, transfer(&a, "USD", b.did(), 500, 2, T0 + 70));
    assert_eq!(c.stats().replays, 1);
    let stored: Vec<SignedOp> = c.ops_in_order().map(|h| h.op.clone()).collect();
    let (r, skipped) = LedgerCore::restore(LedgerConfig::default(), stored.iter().cloned().rev());
    assert!(skipped.is_empty());
    r.check_invariants().unwrap();
    assert_eq!(r.state_digest(), c.state_digest());
    assert_eq!(r.stats().replays, 0);
    let statuses: Vec<_> = r.ops_in_order().map(|h| h.status).collect();
    assert_eq!(
        statuses,
        c.ops_in_order().map(|h| h.status).collect::<Vec<_>>()
    );
    // A stricter configuration skips what it no longer accepts, and says so.
    let strict = LedgerConfig {
        max_memo_bytes: 10,
        ..LedgerConfig::default()
    };
    let (s, skipped) = LedgerCore::restore(strict, stored);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].1.kind(), RejectKind::MemoTooLong);
    assert_eq!(s.op_count(), 3);
    s.check_invariants().unwrap();
}

#[test]
fn get_and_history_follow_replays() {
    let (a, b) = (keypair(1), keypair(2));
    let mut c = core();
    let t = transfer(&a, "USD", b.did(), 1, 1, T0 + 10);
    add(&mut c, t.clone());
    assert_eq!(
        c.get(&t.id()).unwrap().status,
        OpStatus::Rejected(RejectReason::UnknownCurrency)
    );
    add(&mut c, create(&a, "USD", 100, T0));
    let held = c.get(&t.id()).unwrap();
    assert_eq!((held.status, held.op), (OpStatus::Applied, &t));
    let h = c.history(&b.did());
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].key, t.order_key());
    assert_eq!(c.head(), Some(t.order_key()));
}
