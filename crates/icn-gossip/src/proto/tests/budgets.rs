//! Per-peer budgets: floods of announces, requests and reconcile messages are cut at the
//! budget, counted, and do not affect other peers; budgets refill each window.

use super::*;
use crate::reconcile::{self, ReconcileMessage};

fn random_ids(seed: u8, n: usize) -> Vec<EntryId> {
    (0..n)
        .map(|i| {
            let mut bytes = *blake3::hash(&[seed, (i >> 8) as u8, i as u8]).as_bytes();
            bytes[31] = seed;
            EntryId::from_bytes(bytes)
        })
        .collect()
}

fn budget_config() -> GossipConfig {
    GossipConfig {
        max_outstanding_per_peer: 10_000,
        max_pending_requests: 100_000,
        max_ids_per_message: 100,
        rate_window_ms: 1_000,
        max_announced_ids_per_window: 250,
        max_requested_ids_per_window: 150,
        max_reconciles_per_window: 3,
        ..GossipConfig::default()
    }
}

#[test]
fn announce_flood_is_cut_at_the_budget_and_counted() {
    let mut core = core_with(budget_config(), &["a"]);
    core.handle(up(1, &["a"]), T0);
    core.handle(up(2, &["a"]), T0);
    let flood = random_ids(1, 1000);
    let mut requested = 0;
    for chunk in flood.chunks(100) {
        let out = core.handle(msg(1, announce("a", chunk)), T0 + 10);
        requested += requests(&out)
            .iter()
            .map(|(_, ids)| ids.len())
            .sum::<usize>();
    }
    assert_eq!(requested, 250, "only the budget is requested");
    assert_eq!(core.stats().dropped(DropReason::RateLimited), 750);
    assert_eq!(core.pending_requests(), 250);
    // Another peer's announces are unaffected by peer 1's flood.
    let honest = random_ids(2, 5);
    let out = core.handle(msg(2, announce("a", &honest)), T0 + 20);
    assert_eq!(requests(&out), vec![(did(2), honest)]);
    // The next window refills peer 1's budget.
    let out = core.handle(msg(1, announce("a", &random_ids(3, 10))), T0 + 1_010);
    assert_eq!(requests(&out)[0].1.len(), 10);
    core.check_invariants().expect("invariants");
}

#[test]
fn request_loop_for_unknown_ids_is_rate_limited() {
    let mut core = core_with(budget_config(), &["a"]);
    let held = entry(0, "a", 1);
    core.handle(Input::Publish(held.clone()), T0);
    core.handle(up(1, &["a"]), T0);
    let unknown = random_ids(4, 100);
    for _ in 0..10 {
        let out = core.handle(
            msg(
                1,
                GossipMessage::Request {
                    ids: unknown.clone(),
                },
            ),
            T0 + 1,
        );
        assert!(out.is_empty(), "unknown ids cost no output");
    }
    // 1000 ids asked, 150 granted: the rest counted.
    assert_eq!(core.stats().dropped(DropReason::RateLimited), 850);
    // Over budget, even a known id is not served until the window turns.
    let ask = GossipMessage::Request {
        ids: vec![held.id()],
    };
    assert!(core.handle(msg(1, ask.clone()), T0 + 2).is_empty());
    let out = core.handle(msg(1, ask), T0 + 1_001);
    assert!(matches!(&out[..], [Output::SendEntries { ids, .. }] if ids == &vec![held.id()]));
}

#[test]
fn reconcile_flood_is_rate_limited() {
    let mut core = core_with(budget_config(), &["a"]);
    for n in 0..40 {
        core.handle(Input::Publish(entry(0, "a", n)), T0);
    }
    core.handle(up(1, &["a"]), T0);
    let probe = GossipMessage::Reconcile {
        topic: topic("a"),
        msg: Some(reconcile::initiate::<[reconcile::Id]>(&[])),
        have: Vec::new(),
    };
    let answered = (0..10)
        .filter(|_| !core.handle(msg(1, probe.clone()), T0 + 5).is_empty())
        .count();
    assert_eq!(answered, 3);
    assert_eq!(core.stats().dropped(DropReason::RateLimited), 7);
}

#[test]
fn an_empty_id_list_over_a_large_set_gets_a_bounded_answer() {
    // A peer claiming to hold nothing in the whole id space would make us list every id we
    // hold: the answer is capped at the reconcile id limit, and at the message cap on the wire.
    let ours: Vec<reconcile::Id> = {
        let mut v: Vec<_> = random_ids(5, 3000)
            .iter()
            .map(|id| *id.as_bytes())
            .collect();
        v.sort_unstable();
        v
    };
    let limits = reconcile::Limits {
        max_ranges: 64,
        max_ids: 500,
    };
    let probe = ReconcileMessage {
        ranges: vec![reconcile::Range {
            upper: reconcile::Bound::Infinity,
            mode: reconcile::RangeMode::IdList(Vec::new()),
        }],
    };
    let step = reconcile::respond(&ours, &probe, &limits).expect("valid probe");
    assert_eq!(step.have.len(), 500);
    assert!(step.have.windows(2).all(|w| w[0] < w[1]));
}
