//! Cost of folding: in-order appends do no replay work, and a late op refolds only the ops
//! after it. Assertions are on operation counters; wall times are printed, never asserted.

use std::time::Instant;

use crate::*;

const ACCOUNTS: usize = 10;

/// `n` honest transfers in timestamp order (every 2 ms), round-robin between accounts, all
/// applicable.
fn chain(keys: &[Keypair], n: u64) -> Vec<SignedOp> {
    let mut seqs = [0u64; ACCOUNTS];
    (0..n)
        .map(|i| {
            let from = (i % ACCOUNTS as u64) as usize;
            let to = (from + 1) % ACCOUNTS;
            seqs[from] += 1;
            transfer(
                &keys[from],
                "USD",
                keys[to].did(),
                1 + i % 7,
                seqs[from],
                T0 + 2 * (i + 1),
            )
        })
        .collect()
}

#[test]
fn one_hundred_thousand_in_order_transfers_fold_without_replays() {
    let n = 100_000u64;
    let keys: Vec<Keypair> = (0..ACCOUNTS as u64).map(keypair).collect();
    let t = Instant::now();
    let ops = chain(&keys, n);
    let sign = t.elapsed();

    let mut c = core();
    add(&mut c, create(&keys[0], "USD", u64::MAX, T0));
    let t = Instant::now();
    for op in ops {
        match c.insert(op, NOW) {
            Ok(InsertOutcome::Inserted { op, replay: None }) => {
                assert_eq!(op.status, OpStatus::Applied);
            }
            other => panic!("{other:?}"),
        }
    }
    let insert = t.elapsed();
    let s = c.stats();
    // Linear: no op was undone or folded twice, so each insert did O(1) fold work.
    assert_eq!((s.replays, s.refolded_ops), (0, 0));
    assert_eq!(s.applied_transfers, n);
    assert_eq!(s.ops, n + 1);
    assert_eq!(c.accounts_count(), ACCOUNTS);
    c.check_invariants().unwrap();

    // A late op refolds only the ops after it, not the whole history.
    // Between the 100th and 101st newest ops.
    let late = transfer(
        &keys[3],
        "USD",
        keypair(77).did(),
        1,
        1,
        T0 + 2 * (n - 100) + 1,
    );
    match c.insert(late, NOW).unwrap() {
        InsertOutcome::Inserted {
            replay: Some(r), ..
        } => assert_eq!(r.refolded, 100),
        other => panic!("{other:?}"),
    }
    c.check_invariants().unwrap();
    println!(
        "100k in-order transfers: signing {:.2?}, insert (verify + fold) {:.2?} ({:.0} ops/s, debug build)",
        sign,
        insert,
        n as f64 / insert.as_secs_f64()
    );
}

/// Informational: throughput of the fold alone (restore skips signatures) and with
/// verification (insert), in whatever profile the tests are built.
#[test]
fn in_order_apply_throughput() {
    let n = 20_000u64;
    let keys: Vec<Keypair> = (0..ACCOUNTS as u64).map(keypair).collect();
    let mut ops = chain(&keys, n);
    ops.insert(0, create(&keys[0], "USD", u64::MAX, T0));

    let t = Instant::now();
    let (restored, skipped) = LedgerCore::restore(LedgerConfig::default(), ops.clone());
    let fold = t.elapsed();
    assert!(skipped.is_empty());
    assert_eq!(restored.applied_transfers_count(), n);

    let mut c = core();
    let t = Instant::now();
    for op in ops {
        c.insert(op, NOW).unwrap();
    }
    let insert = t.elapsed();
    assert_eq!(c.stats().replays, 0);
    assert_eq!(c.state_digest(), restored.state_digest());

    let t = Instant::now();
    let _ = c.state_digest();
    let digest = t.elapsed();
    println!(
        "in-order apply: fold only {:.0} ops/s, insert with signature check {:.0} ops/s, \
         state_digest over {} ops {:.2?}",
        n as f64 / fold.as_secs_f64(),
        n as f64 / insert.as_secs_f64(),
        n + 1,
        digest
    );
}
