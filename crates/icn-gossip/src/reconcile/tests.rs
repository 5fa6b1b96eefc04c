//! Tests for range-based reconciliation: convergence (seeded and proptest), malformed input,
//! determinism, and a size measurement (`cargo test -p icn-gossip reconcile -- --nocapture`).

use std::collections::BTreeSet;

use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

/// Bound on messages per session in the convergence tests (default limits).
const MAX_MESSAGES: usize = 64;

fn encoded_len(msg: &ReconcileMessage) -> usize {
    bincode::serde::encode_to_vec(msg, bincode::config::standard())
        .expect("encode")
        .len()
}

/// Result of one full session between `a` (initiator) and `b`.
#[derive(Debug)]
struct Session {
    /// Messages exchanged, both directions, the opening one included.
    messages: usize,
    /// Bincode bytes of all those messages.
    bytes: usize,
    /// Ids each side ends up receiving (pushed by the peer's `have`, or fetched by its `need`).
    received: [BTreeSet<Id>; 2],
}

/// Runs a session to completion; checks every `have`/`need` is exact as it goes.
fn run(a: &[Id], b: &[Id], limits: &Limits, max_messages: usize) -> Session {
    let sets = [a, b];
    let mut msg = initiate(a);
    let mut messages = 1;
    let mut bytes = encoded_len(&msg);
    let mut received = [BTreeSet::new(), BTreeSet::new()];
    let mut side = 1;
    loop {
        assert!(
            messages <= max_messages,
            "no termination after {messages} messages"
        );
        let step = respond(sets[side], &msg, limits).expect("honest peer's message is valid");
        let other = 1 - side;
        for id in &step.have {
            assert!(
                sets[side].binary_search(id).is_ok(),
                "have: we do not hold it"
            );
            assert!(
                sets[other].binary_search(id).is_err(),
                "have: peer already holds it"
            );
            received[other].insert(*id);
        }
        for id in &step.need {
            assert!(
                sets[other].binary_search(id).is_ok(),
                "need: peer does not hold it"
            );
            assert!(
                sets[side].binary_search(id).is_err(),
                "need: we already hold it"
            );
            received[side].insert(*id);
        }
        match step.reply {
            None => break,
            Some(reply) => {
                assert!(reply.ranges.len() <= limits.max_ranges);
                messages += 1;
                bytes += encoded_len(&reply);
                msg = reply;
                side = other;
            }
        }
    }
    Session {
        messages,
        bytes,
        received,
    }
}

/// Runs a session and asserts both sides end with the union.
fn converge(a: &[Id], b: &[Id], limits: &Limits, max_messages: usize) -> Session {
    let session = run(a, b, limits, max_messages);
    let union: BTreeSet<Id> = a.iter().chain(b).copied().collect();
    for (side, set) in [a, b].into_iter().enumerate() {
        let mut after: BTreeSet<Id> = set.iter().copied().collect();
        after.extend(session.received[side].iter().copied());
        assert_eq!(after, union, "side {side} did not converge");
    }
    session
}

/// Shapes of ids: uniform hashes, and families sharing long prefixes (adversarial bounds).
fn random_id(rng: &mut ChaCha8Rng, shape: u8) -> Id {
    let mut id = [0u8; 32];
    rng.fill_bytes(&mut id);
    match shape {
        0 => {}
        // Only the last byte varies.
        1 => id[..31].fill(0xab),
        // Only the last three bytes vary, within one of two families.
        2 => id[..29].fill(if rng.r#gen::<bool>() { 0x00 } else { 0xff }),
        // Mixed: long runs of zeros or ones, small and huge values.
        _ => {
            let keep = rng.gen_range(0..=32);
            let fill = if rng.r#gen::<bool>() { 0x00 } else { 0xff };
            id[..32 - keep].fill(fill);
        }
    }
    id
}

/// Two sorted sets: `common` shared ids, plus `only_a` and `only_b` ids at random positions.
fn make_sets(
    seed: u64,
    shape: u8,
    common: usize,
    only_a: usize,
    only_b: usize,
) -> (Vec<Id>, Vec<Id>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let total = common + only_a + only_b;
    let mut distinct = BTreeSet::new();
    // Narrow shapes may have fewer distinct ids than asked for; take what exists.
    for _ in 0..total * 4 {
        if distinct.len() == total {
            break;
        }
        distinct.insert(random_id(&mut rng, shape));
    }
    let mut pool: Vec<Id> = distinct.into_iter().collect();
    pool.shuffle(&mut rng);
    let common_len = common.min(pool.len());
    let a_len = only_a.min(pool.len() - common_len);
    let (shared, rest) = pool.split_at(common_len);
    let (a_only, b_only) = rest.split_at(a_len);
    let mut a: Vec<Id> = shared.iter().chain(a_only).copied().collect();
    let mut b: Vec<Id> = shared.iter().chain(b_only).copied().collect();
    a.sort_unstable();
    b.sort_unstable();
    (a, b)
}

#[test]
fn fixed_cases_converge() {
    let limits = Limits::default();
    let cases: &[(&str, usize, usize, usize)] = &[
        ("both empty", 0, 0, 0),
        ("initiator empty", 0, 0, 5000),
        ("responder empty", 0, 5000, 0),
        ("equal", 5000, 0, 0),
        ("disjoint", 0, 2000, 2000),
        ("one each", 5000, 1, 1),
        ("small equal", 10, 0, 0),
        ("tiny vs large", 3, 0, 4000),
    ];
    for shape in 0..4 {
        for &(name, common, only_a, only_b) in cases {
            let (a, b) = make_sets(7 + u64::from(shape), shape, common, only_a, only_b);
            let s = converge(&a, &b, &limits, MAX_MESSAGES);
            if only_a == 0 && only_b == 0 {
                assert_eq!(s.messages, 1, "{name}/{shape}: equal sets take one message");
            }
            // Mirror: the responder initiates.
            converge(&b, &a, &limits, MAX_MESSAGES);
        }
    }
}

#[test]
fn extreme_ids_converge() {
    let low: Vec<Id> = (0..40u8)
        .map(|i| {
            let mut id = [0u8; 32];
            id[31] = i;
            id
        })
        .collect();
    let high: Vec<Id> = (0..40u8)
        .map(|i| {
            let mut id = [0xff; 32];
            id[31] = 0xff - i;
            id
        })
        .collect();
    let mut a: Vec<Id> = low.iter().chain(&high).copied().step_by(2).collect();
    let mut b: Vec<Id> = low
        .iter()
        .chain(&high)
        .copied()
        .skip(1)
        .step_by(3)
        .collect();
    a.sort_unstable();
    b.sort_unstable();
    converge(&a, &b, &Limits::default(), MAX_MESSAGES);
    converge(&b, &a, &Limits::MIN, 10_000);
}

#[test]
fn minimum_limits_still_converge() {
    let (a, b) = make_sets(11, 0, 3000, 700, 900);
    let s = converge(&a, &b, &Limits::MIN, 100_000);
    println!(
        "minimum limits, 3000 common + 700/900 differing: {} messages",
        s.messages
    );
    let (a, b) = make_sets(12, 3, 500, 0, 2500);
    converge(&a, &b, &Limits::MIN, 100_000);
}

#[test]
fn slice_and_btreeset_agree_and_output_is_deterministic() {
    let (a, b) = make_sets(3, 0, 3000, 40, 25);
    let a_tree: BTreeSet<Id> = a.iter().copied().collect();
    let b_tree: BTreeSet<Id> = b.iter().copied().collect();
    let mut from_slice = initiate(a.as_slice());
    assert_eq!(from_slice, initiate(&a_tree));
    let limits = Limits::default();
    let mut sides: [(&[Id], &BTreeSet<Id>); 2] = [(&b, &b_tree), (&a, &a_tree)];
    for _ in 0..MAX_MESSAGES {
        let (slice, tree) = sides[0];
        let step = respond(slice, &from_slice, &limits).expect("valid");
        let again = respond(slice, &from_slice, &limits).expect("valid");
        assert_eq!(step, again);
        assert_eq!(step, respond(tree, &from_slice, &limits).expect("valid"));
        let Some(reply) = step.reply else { return };
        let bytes =
            bincode::serde::encode_to_vec(&reply, bincode::config::standard()).expect("enc");
        let (decoded, _): (ReconcileMessage, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).expect("dec");
        assert_eq!(decoded, reply);
        from_slice = decoded;
        sides.swap(0, 1);
    }
    panic!("no termination");
}

#[test]
fn fingerprint_is_order_independent_and_carries() {
    let max = [0xff; 32];
    let one = {
        let mut id = [0u8; 32];
        id[0] = 1;
        id
    };
    assert_eq!(fingerprint([&max, &one]), fingerprint([&one, &max]));
    // max + 1 wraps to zero: same sum as {zero, zero}, but the count differs from {zero}.
    assert_ne!(fingerprint([&max, &one]), fingerprint([&MIN_ID]));
    assert_ne!(fingerprint([&max]), fingerprint([&one]));
}

#[test]
fn separator_is_shortest_and_in_range() {
    let mut prev = [0x12; 32];
    let mut next = prev;
    prev[5] = 0x30;
    next[5] = 0x31;
    assert_eq!(separator(&prev, &next), Bound::Prefix(next[..6].to_vec()));
    let key = parse_bound(&separator(&prev, &next))
        .expect("canonical")
        .expect("finite");
    assert!(prev < key && key <= next);
}

// ---- malformed messages ----------------------------------------------------------------

fn prefix(bytes: &[u8]) -> Bound {
    Bound::Prefix(bytes.to_vec())
}

fn range(upper: Bound, mode: RangeMode) -> Range {
    Range { upper, mode }
}

fn id(first: u8) -> Id {
    let mut id = [0x11; 32];
    id[0] = first;
    id
}

fn check(ranges: Vec<Range>) -> Result<Step, ReconcileError> {
    let set: Vec<Id> = (0..100u8)
        .map(|i| id(i.wrapping_mul(2)))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    respond(
        set.as_slice(),
        &ReconcileMessage { ranges },
        &Limits::default(),
    )
}

#[test]
fn malformed_messages_are_errors() {
    use RangeMode::{Fingerprint as Fp, IdList, Skip};
    use ReconcileError as E;
    let fp = Fp([0; 16]);
    assert_eq!(check(vec![]), Err(E::Empty));
    assert_eq!(
        check(vec![range(prefix(&[5]), Skip)]),
        Err(E::MissingInfinity)
    );
    assert_eq!(
        check(vec![
            range(prefix(&[5]), Skip),
            range(prefix(&[5]), fp.clone()),
            range(Bound::Infinity, Skip)
        ]),
        Err(E::UnorderedBounds { index: 1 })
    );
    assert_eq!(
        check(vec![
            range(prefix(&[9]), Skip),
            range(prefix(&[5]), Skip),
            range(Bound::Infinity, Skip)
        ]),
        Err(E::UnorderedBounds { index: 1 })
    );
    assert_eq!(
        check(vec![
            range(Bound::Infinity, Skip),
            range(Bound::Infinity, Skip)
        ]),
        Err(E::UnorderedBounds { index: 1 })
    );
    for bad in [vec![], vec![5, 0], vec![1; 33]] {
        assert_eq!(
            check(vec![
                range(Bound::Prefix(bad), Skip),
                range(Bound::Infinity, Skip)
            ]),
            Err(E::MalformedBound { index: 0 })
        );
    }
    assert_eq!(
        check(vec![range(Bound::Infinity, IdList(vec![id(3), id(2)]))]),
        Err(E::UnsortedIds { index: 0 })
    );
    assert_eq!(
        check(vec![range(Bound::Infinity, IdList(vec![id(3), id(3)]))]),
        Err(E::UnsortedIds { index: 0 })
    );
    // Below the lower bound, then at the (exclusive) upper bound.
    assert_eq!(
        check(vec![
            range(prefix(&[5]), Skip),
            range(Bound::Infinity, IdList(vec![id(4), id(9)]))
        ]),
        Err(E::IdOutOfRange { index: 1 })
    );
    let mut at_bound = [0u8; 32];
    at_bound[0] = 5;
    assert_eq!(
        check(vec![
            range(prefix(&[5]), IdList(vec![id(1), at_bound])),
            range(Bound::Infinity, Skip)
        ]),
        Err(E::IdOutOfRange { index: 0 })
    );
    let limits = Limits::default();
    let many: Vec<Range> = (1..=limits.max_ranges + 1)
        .map(|i| {
            let upper = if i == limits.max_ranges + 1 {
                Bound::Infinity
            } else {
                let mut p = (i as u32).to_be_bytes().to_vec();
                p.push(1);
                Bound::Prefix(p)
            };
            range(upper, fp.clone())
        })
        .collect();
    assert!(matches!(
        check(many),
        Err(E::TooLarge {
            what: Excess::Ranges,
            ..
        })
    ));
    let ids: Vec<Id> = (0..=limits.max_ids as u32)
        .map(|i| {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&i.to_be_bytes());
            id
        })
        .collect();
    assert!(matches!(
        check(vec![range(Bound::Infinity, IdList(ids))]),
        Err(E::TooLarge {
            what: Excess::Ids,
            ..
        })
    ));
    let too_small = Limits {
        max_ranges: 3,
        max_ids: 3,
    };
    assert_eq!(
        respond(&BTreeSet::new(), &initiate(&BTreeSet::new()), &too_small),
        Err(E::InvalidLimits)
    );
    // Well-formed control: accepted.
    assert!(
        check(vec![
            range(prefix(&[5]), IdList(vec![id(1)])),
            range(Bound::Infinity, fp)
        ])
        .is_ok()
    );
}

// ---- property tests ----------------------------------------------------------------------

fn arb_bound() -> impl Strategy<Value = Bound> {
    prop_oneof![
        1 => Just(Bound::Infinity),
        4 => proptest::collection::vec(any::<u8>(), 0..34).prop_map(Bound::Prefix),
    ]
}

fn arb_mode() -> impl Strategy<Value = RangeMode> {
    prop_oneof![
        Just(RangeMode::Skip),
        any::<[u8; 16]>().prop_map(RangeMode::Fingerprint),
        proptest::collection::vec(any::<[u8; 32]>(), 0..4).prop_map(RangeMode::IdList),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Random sets of 0..5000 common ids plus small or large differences, in every shape,
    /// converge from both directions within a bounded number of messages.
    #[test]
    fn random_sets_converge(
        seed in any::<u64>(),
        shape in 0u8..4,
        common in 0usize..5000,
        only_a in prop_oneof![Just(0usize), 0usize..20, 0usize..3000],
        only_b in prop_oneof![Just(0usize), 0usize..20, 0usize..3000],
    ) {
        let (a, b) = make_sets(seed, shape, common, only_a, only_b);
        converge(&a, &b, &Limits::default(), MAX_MESSAGES);
        converge(&b, &a, &Limits::default(), MAX_MESSAGES);
    }

    /// Arbitrary messages never panic.
    #[test]
    fn arbitrary_messages_do_not_panic(
        ranges in proptest::collection::vec((arb_bound(), arb_mode()), 0..12),
        seed in any::<u64>(),
    ) {
        let (set, _) = make_sets(seed, 3, 200, 0, 0);
        let msg = ReconcileMessage { ranges: ranges.into_iter().map(|(upper, mode)| Range { upper, mode }).collect() };
        let _ = respond(set.as_slice(), &msg, &Limits::default());
    }

    /// Honest messages with one field corrupted are rejected or handled, never a panic; and
    /// random bytes never decode into something that panics.
    #[test]
    fn corrupted_messages_do_not_panic(
        seed in any::<u64>(),
        which in any::<prop::sample::Index>(),
        byte in any::<prop::sample::Index>(),
        value in any::<u8>(),
        noise in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let (a, b) = make_sets(seed, 0, 2000, 30, 30);
        let first = respond(b.as_slice(), &initiate(a.as_slice()), &Limits::default()).expect("valid");
        let Some(msg) = first.reply else { return Ok(()) };
        let mut bytes = bincode::serde::encode_to_vec(&msg, bincode::config::standard()).expect("enc");
        let at = byte.index(bytes.len());
        bytes[at] = value;
        let config = bincode::config::standard().with_limit::<{ 1 << 20 }>();
        for input in [&bytes, &noise] {
            if let Ok((msg, _)) = bincode::serde::decode_from_slice::<ReconcileMessage, _>(input, config) {
                let _ = respond(a.as_slice(), &msg, &Limits::default());
            }
        }
        let mut msg = msg;
        let i = which.index(msg.ranges.len());
        msg.ranges.swap(0, i);
        let _ = respond(a.as_slice(), &msg, &Limits::default());
    }
}

// ---- measurement --------------------------------------------------------------------------

/// Sizes for 100 000-id sets; run with `--nocapture` to see the table.
#[test]
fn measure_bytes_and_rounds() {
    const N: usize = 100_000;
    let limits = Limits::default();
    let full = N * 32;
    let scenarios: &[(&str, usize, usize, usize, usize)] = &[
        // name, common, only_a, only_b, byte bound
        ("equal", N, 0, 0, 200),
        ("5 + 5 differ", N - 5, 5, 5, 40_000),
        ("10 on one side", N - 10, 10, 0, 40_000),
        ("10 on other side", N - 10, 0, 10, 40_000),
        ("500 + 500 differ", N - 500, 500, 500, 1_500_000),
        ("1000 on one side", N - 1000, 1000, 0, 1_500_000),
        // The full side lists at most `max_ids` ids per step (the cap on what a short
        // message can make it build) and hands the rest back as fingerprinted ranges.
        ("empty vs full", 0, 0, N, 1_500_000),
    ];
    println!("reconcile: {N} ids per set (full id list = {full} bytes)");
    println!(
        "{:<18} {:>9} {:>9} {:>11}",
        "scenario", "messages", "bytes", "% of list"
    );
    for (i, &(name, common, only_a, only_b, bound)) in scenarios.iter().enumerate() {
        let (a, b) = make_sets(1000 + i as u64, 0, common, only_a, only_b);
        let s = converge(&a, &b, &limits, MAX_MESSAGES);
        println!(
            "{:<18} {:>9} {:>9} {:>10.3}%",
            name,
            s.messages,
            s.bytes,
            100.0 * s.bytes as f64 / full as f64
        );
        assert!(s.bytes < bound, "{name}: {} bytes >= {bound}", s.bytes);
        // Each step lists at most `max_ids` of the side's extra ids: a one-sided difference
        // of d ids takes about 2·d/max_ids more messages.
        let max_messages = 12 + 2 * (only_a + only_b) / limits.max_ids;
        assert!(
            s.messages <= max_messages,
            "{name}: {} messages",
            s.messages
        );
    }
}
