//! Property: the state is a function of the held set, whatever the arrival order or batching,
//! with honest and malicious ops mixed (overspends, reused seqs, gaps, equivocations, foreign
//! limit changes, duplicate currencies, forged signatures, huge amounts), and the invariants
//! hold after every insert.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use icn_ledger::{BatchItem, Equivocation, Op, OpError, RejectKind};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::*;

const ACCOUNTS: usize = 5;
/// `BIG` has an unbounded default limit, so huge amounts reach the `i64` edges.
const CODES: [&str; 3] = ["USD", "EUR", "BIG"];

fn keys() -> &'static [Keypair] {
    static KEYS: OnceLock<Vec<Keypair>> = OnceLock::new();
    KEYS.get_or_init(|| (0..ACCOUNTS as u64).map(|i| keypair(100 + i)).collect())
}

#[derive(Debug, Clone)]
enum Spec {
    Create {
        issuer: usize,
        cur: usize,
        limit: u64,
        ts: u64,
    },
    Limit {
        author: usize,
        cur: usize,
        account: usize,
        limit: u64,
        ts: u64,
    },
    Pay {
        from: usize,
        to: usize,
        cur: usize,
        amount: u64,
        seq: u64,
        ts: u64,
    },
    /// Honest payer: consecutive seqs from 1 with increasing timestamps.
    Chain {
        from: usize,
        to: usize,
        cur: usize,
        amount: u64,
        len: u64,
        ts: u64,
    },
    /// Claims `from` as author but is signed by `signer`'s key.
    Forged {
        from: usize,
        signer: usize,
        to: usize,
        amount: u64,
        seq: u64,
        ts: u64,
    },
}

fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![8 => 1..60u64, 1 => any::<u64>().prop_map(|x| x.max(1)), 1 => Just(i64::MAX as u64)]
}

fn limit() -> impl Strategy<Value = u64> {
    prop_oneof![8 => 0..100u64, 1 => Just(u64::MAX), 1 => any::<u64>()]
}

fn spec() -> impl Strategy<Value = Spec> {
    let idx = || 0..ACCOUNTS;
    let cur = || 0..CODES.len();
    let ts = || 0..40u64;
    prop_oneof![
        1 => (0..2usize, cur(), limit(), ts())
            .prop_map(|(issuer, cur, limit, ts)| Spec::Create { issuer, cur, limit, ts }),
        2 => (idx(), cur(), idx(), limit(), ts())
            .prop_map(|(author, cur, account, limit, ts)| Spec::Limit { author, cur, account, limit, ts }),
        6 => (idx(), idx(), cur(), amount(), 1..6u64, ts())
            .prop_map(|(from, to, cur, amount, seq, ts)| Spec::Pay { from, to, cur, amount, seq, ts }),
        3 => (idx(), idx(), cur(), 1..40u64, 1..6u64, ts())
            .prop_map(|(from, to, cur, amount, len, ts)| Spec::Chain { from, to, cur, amount, len, ts }),
        1 => (idx(), idx(), idx(), amount(), 1..4u64, ts())
            .prop_map(|(from, signer, to, amount, seq, ts)| Spec::Forged { from, signer, to, amount, seq, ts }),
    ]
}

fn pay_op(from: usize, to: usize, cur: usize, amount: u64, seq: u64, ts: u64) -> Op {
    let k = keys();
    let to = if to == from { (to + 1) % ACCOUNTS } else { to };
    Op::from(Transfer {
        currency: code(CODES[cur]),
        from: k[from].did(),
        to: k[to].did(),
        amount,
        seq,
        timestamp_ms: T0 + ts,
        memo: String::new(),
    })
}

/// Signs the specs; returns the valid ops (always starting with the three currencies) and the
/// forged ones.
fn build(specs: &[Spec]) -> (Vec<SignedOp>, Vec<SignedOp>) {
    let k = keys();
    let mut ops = vec![
        create(&k[0], "USD", 50, T0 + 3),
        create(&k[1], "EUR", 20, T0 + 8),
        create(&k[2], "BIG", u64::MAX, T0 + 1),
    ];
    let mut forged = Vec::new();
    for s in specs {
        match *s {
            Spec::Create {
                issuer,
                cur,
                limit,
                ts,
            } => ops.push(create(&k[issuer], CODES[cur], limit, T0 + ts)),
            Spec::Limit {
                author,
                cur,
                account,
                limit,
                ts,
            } => ops.push(set_limit(
                &k[author],
                CODES[cur],
                k[account].did(),
                limit,
                T0 + ts,
            )),
            Spec::Pay {
                from,
                to,
                cur,
                amount,
                seq,
                ts,
            } => ops.push(pay_op(from, to, cur, amount, seq, ts).sign(&k[from])),
            Spec::Chain {
                from,
                to,
                cur,
                amount,
                len,
                ts,
            } => {
                for seq in 1..=len {
                    ops.push(pay_op(from, to, cur, amount, seq, ts + 2 * seq).sign(&k[from]));
                }
            }
            Spec::Forged {
                from,
                signer,
                to,
                amount,
                seq,
                ts,
            } => {
                let op = pay_op(from, to, 0, amount, seq, ts);
                let signer = if signer == from {
                    (signer + 1) % ACCOUNTS
                } else {
                    signer
                };
                let signature = k[signer].sign(&op.signing_bytes(&k[from].did()));
                forged.push(SignedOp {
                    op,
                    author: k[from].did(),
                    signature,
                });
            }
        }
    }
    (ops, forged)
}

#[derive(Debug, PartialEq)]
struct Summary {
    digest: [u8; 32],
    balances: Vec<BTreeMap<icn_identity::Did, i64>>,
    equivocations: Vec<Equivocation>,
    equivocation_count: u64,
    applied: u64,
    statuses: Vec<(icn_ledger::OpId, OpStatus)>,
}

fn summary(c: &LedgerCore) -> Summary {
    Summary {
        digest: c.state_digest(),
        balances: CODES.iter().map(|s| c.balances(&code(s))).collect(),
        equivocations: c.equivocations(),
        equivocation_count: c.stats().equivocations,
        applied: c.applied_transfers_count(),
        statuses: c.ops_in_order().map(|h| (h.key.id, h.status)).collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_arrival_order_gives_the_same_state(
        specs in prop::collection::vec(spec(), 5..25),
        seed in any::<u64>(),
    ) {
        let (ops, forged) = build(&specs);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);

        // Reference: every valid op, sorted, folded once.
        let (reference, skipped) = LedgerCore::restore(LedgerConfig::default(), ops.clone());
        prop_assert!(skipped.is_empty());
        reference.check_invariants().map_err(TestCaseError::fail)?;
        let expected = summary(&reference);

        // One op at a time, in a random order, forged ones mixed in.
        let mut arrivals: Vec<SignedOp> = ops.iter().chain(forged.iter()).cloned().collect();
        arrivals.shuffle(&mut rng);
        let mut c = core();
        let mut flagged = 0u64;
        for op in arrivals {
            let is_forged = forged.contains(&op);
            match c.insert(op, NOW) {
                Err(OpError::BadSignature { .. }) => prop_assert!(is_forged),
                Err(e) => prop_assert!(false, "unexpected refusal {e}"),
                Ok(InsertOutcome::Inserted { op, .. }) => {
                    prop_assert!(!is_forged);
                    flagged += u64::from(op.equivocation);
                }
                Ok(InsertOutcome::Duplicate(_)) => prop_assert!(!is_forged),
            }
            c.check_invariants().map_err(TestCaseError::fail)?;
            // The count never decreases and matches the flags seen so far.
            prop_assert_eq!(c.stats().equivocations, flagged);
        }
        prop_assert_eq!(c.stats().rejections_of(RejectKind::BadSignature), forged.len() as u64);
        prop_assert_eq!(&summary(&c), &expected);

        // Random batches (signatures checked together from 4 ops), forged ones mixed in, in
        // another random order: a forged op is refused alone.
        let mut arrivals: Vec<SignedOp> = ops.iter().chain(forged.iter()).cloned().collect();
        arrivals.shuffle(&mut rng);
        let mut b = core();
        let mut rest = &arrivals[..];
        while !rest.is_empty() {
            let n = rand::Rng::gen_range(&mut rng, 1..=rest.len().min(12));
            let out = b.insert_batch(rest[..n].to_vec(), NOW);
            for (op, item) in rest[..n].iter().zip(&out.items) {
                if forged.contains(op) {
                    prop_assert!(matches!(item, Err(OpError::BadSignature { .. })), "{item:?}");
                } else {
                    prop_assert!(matches!(item, Ok(BatchItem::Inserted(_) | BatchItem::Duplicate(_))), "{item:?}");
                }
            }
            b.check_invariants().map_err(TestCaseError::fail)?;
            rest = &rest[n..];
        }
        prop_assert_eq!(b.stats().rejections_of(RejectKind::BadSignature), forged.len() as u64);
        prop_assert_eq!(&summary(&b), &expected);

        // Newest first: the worst case for replays.
        let mut r = core();
        let mut sorted = ops.clone();
        sorted.sort_by_key(SignedOp::order_key);
        for op in sorted.into_iter().rev() {
            r.insert(op, NOW).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        r.check_invariants().map_err(TestCaseError::fail)?;
        prop_assert_eq!(&summary(&r), &expected);
    }
}

/// The generator reaches every stateful outcome, so the property above is not vacuous.
#[test]
fn generator_covers_every_stateful_reason() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = prop::collection::vec(spec(), 5..25);
    let mut seen = std::collections::BTreeSet::new();
    let mut applied = 0;
    let mut forged = 0;
    for _ in 0..200 {
        let specs = strategy.new_tree(&mut runner).unwrap().current();
        let (ops, f) = build(&specs);
        forged += f.len();
        let (c, _) = LedgerCore::restore(LedgerConfig::default(), ops);
        for h in c.ops_in_order() {
            match h.status.reject_kind() {
                Some(k) => {
                    seen.insert(k);
                }
                None => applied += 1,
            }
        }
        assert!(c.stats().equivocations <= c.op_count() as u64);
    }
    let stateful: Vec<_> = RejectKind::ALL
        .iter()
        .filter(|k| !k.is_stateless())
        .copied()
        .collect();
    for k in stateful {
        assert!(seen.contains(&k), "{k} never produced");
    }
    assert!(applied > 1000, "{applied} applied");
    assert!(forged > 50, "{forged} forged");
}
