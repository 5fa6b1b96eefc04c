//! Anti-entropy between cores, its bounds, and determinism.

use rand::{RngCore, SeedableRng};

use super::*;
use crate::reconcile::ReconcileMessage;

fn entries(t: &str, range: std::ops::Range<u32>) -> Vec<Entry> {
    range.map(|i| entry(9, t, i)).collect()
}

fn union_ids(sets: &[&[Entry]]) -> Vec<EntryId> {
    let mut ids: Vec<EntryId> = sets.iter().flat_map(|s| s.iter().map(Entry::id)).collect();
    ids.sort();
    ids.dedup();
    ids
}

#[test]
fn connecting_reconciles_at_once() {
    let a = entries("a", 0..60);
    let b = entries("a", 40..100);
    let mut mesh = Mesh::new(
        &GossipConfig::default(),
        &[&["a"], &["a"]],
        vec![a.clone(), b.clone()],
    );
    mesh.connect_all();
    mesh.deliver_all();
    let union = union_ids(&[&a, &b]);
    assert_eq!(mesh.ids(0, "a"), union);
    assert_eq!(mesh.ids(1, "a"), union);
    let recovered: u64 = mesh
        .nodes
        .iter()
        .map(|(c, _)| c.stats().anti_entropy_recovered)
        .sum();
    assert_eq!(recovered, 80);
    let rounds: u64 = mesh
        .nodes
        .iter()
        .map(|(c, _)| c.stats().anti_entropy_rounds)
        .sum();
    assert_eq!(rounds, 1, "only the smaller DID initiates");
    for (core, _) in &mesh.nodes {
        assert_eq!(core.pending_requests(), 0);
    }
}

#[test]
fn periodic_rounds_repair_lost_announces() {
    let mut mesh = Mesh::new(
        &GossipConfig::default(),
        &[&["a", "b"], &["a"], &["a", "b"]],
        vec![vec![], vec![], vec![]],
    );
    mesh.connect_all();
    mesh.deliver_all();
    let e = Entry::sign(&key(0), topic("a"), T0, b"lost".to_vec());
    let f = Entry::sign(&key(0), topic("b"), T0, b"lost too".to_vec());
    mesh.input(0, Input::Publish(e.clone()));
    mesh.input(0, Input::Publish(f.clone()));
    // Every announce is lost.
    mesh.queue.clear();
    let mut waited = 0;
    while mesh.ids(1, "a") != [e.id()]
        || mesh.ids(2, "a") != [e.id()]
        || mesh.ids(2, "b") != [f.id()]
    {
        mesh.tick(100);
        waited += 100;
        assert!(waited <= 20_000, "not repaired after {waited} ms");
    }
    assert!(mesh.ids(1, "b").is_empty());
    assert!(
        mesh.log
            .iter()
            .any(|(_, o)| matches!(o, Output::AntiEntropyStarted { .. }))
    );
    // Converged: a round now costs one fingerprint and its skip.
    let before = mesh.sent;
    mesh.tick(5_000);
    mesh.tick(100);
    assert!(mesh.sent - before <= 20, "{}", mesh.sent - before);
}

#[test]
fn reconciliation_cost_follows_the_difference() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let common: Vec<(EntryId, Topic, u64)> = (0..5_000)
        .map(|_| {
            let mut id = [0u8; 32];
            rng.fill_bytes(&mut id);
            (EntryId::from_bytes(id), topic("a"), T0)
        })
        .collect();
    let only_a = entries("a", 0..3);
    let only_b = entries("a", 3..5);
    let build = |i: u8, extra: &[Entry]| {
        let meta = common.iter().cloned().chain(
            extra
                .iter()
                .map(|e| (e.id(), e.topic.clone(), e.timestamp_ms)),
        );
        let core = GossipCore::new(GossipConfig::default(), did(i), 1, meta, [topic("a")]);
        (core, extra.iter().map(|e| (e.id(), e.clone())).collect())
    };
    let mut mesh = Mesh::new(&GossipConfig::default(), &[], vec![]);
    mesh.nodes = vec![build(0, &only_a), build(1, &only_b)];
    mesh.connect_all();
    mesh.deliver_all();
    assert_eq!(mesh.nodes[0].0.entry_count(), 5_005);
    assert_eq!(mesh.nodes[1].0.entry_count(), 5_005);
    // Listing the ids alone would take 5000 * 33 bytes; 5 differences cost a few KB.
    assert!(mesh.bytes < 40_000, "{} bytes", mesh.bytes);
}

#[test]
fn late_subscriber_catches_up() {
    let a = entries("a", 0..20);
    let mut mesh = Mesh::new(
        &GossipConfig::default(),
        &[&["a"], &[]],
        vec![a.clone(), vec![]],
    );
    mesh.connect_all();
    mesh.deliver_all();
    mesh.input(1, Input::Subscribe(topic("a")));
    mesh.deliver_all();
    assert_eq!(mesh.ids(1, "a"), union_ids(&[&a]));
}

#[test]
fn large_differences_take_several_rounds_within_caps() {
    let config = GossipConfig {
        max_ids_per_message: 16,
        max_pending_requests: 20,
        max_outstanding_per_peer: 8,
        max_pending_per_peer: 12,
        ..GossipConfig::default()
    };
    let a = entries("a", 0..100);
    let mut mesh = Mesh::new(&config, &[&["a"], &["a"]], vec![a.clone(), vec![]]);
    mesh.connect_all();
    mesh.deliver_all();
    let mut waited = 0;
    while mesh.ids(1, "a").len() < 100 {
        mesh.tick(100);
        waited += 100;
        assert!(waited <= 120_000, "stuck at {}", mesh.ids(1, "a").len());
    }
    assert_eq!(mesh.ids(1, "a"), union_ids(&[&a]));
    assert!(mesh.nodes[1].0.stats().dropped(DropReason::PeerBusy) > 0);
}

#[test]
fn malformed_reconcile_is_dropped() {
    let mut core = core(&["a"]);
    core.handle(up(1, &["a"]), T0);
    let bad = GossipMessage::Reconcile {
        topic: topic("a"),
        msg: Some(ReconcileMessage { ranges: vec![] }),
        have: vec![],
    };
    let out = core.handle(msg(1, bad), T0);
    assert!(out.is_empty());
    assert_eq!(core.stats().dropped(DropReason::BadReconcile), 1);
    // For a topic we do not follow: ignored.
    let other = GossipMessage::Reconcile {
        topic: topic("b"),
        msg: Some(crate::reconcile::initiate(
            &Vec::<crate::reconcile::Id>::new(),
        )),
        have: vec![EntryId::from_bytes([1; 32])],
    };
    assert!(core.handle(msg(1, other), T0).is_empty());
    assert_eq!(core.pending_requests(), 0);
}

#[test]
fn sessions_are_capped_and_expire() {
    let config = GossipConfig {
        max_reconcile_sessions: 1,
        ..GossipConfig::default()
    };
    // Find a peer with a larger DID than ours, so connecting starts sessions.
    let peer = (1..=u8::MAX)
        .find(|p| did(0) < did(*p))
        .expect("some larger did");
    let mut core = core_with(config, &["a", "b", "c"]);
    let out = core.handle(up(peer, &["a", "b", "c"]), T0);
    let started = out
        .iter()
        .filter(|o| matches!(o, Output::AntiEntropyStarted { .. }))
        .count();
    assert_eq!(started, 1);
    assert_eq!(core.stats().dropped(DropReason::SessionLimit), 2);
    assert_eq!(core.memory().sessions, 1);
    core.handle(Input::Tick, T0 + 10_000);
    assert_eq!(core.memory().sessions, 0);
    assert_eq!(core.stats().dropped(DropReason::SessionTimeout), 1);
}

/// The full scenario of `periodic_rounds_repair_lost_announces`, as a log of every output.
fn scenario() -> (Vec<(usize, Output)>, usize) {
    let mut mesh = Mesh::new(
        &GossipConfig::default(),
        &[&["a", "b"], &["a"], &["a", "b"], &["b"]],
        vec![entries("a", 0..10), vec![], entries("b", 0..7), vec![]],
    );
    mesh.connect_all();
    for i in 0..4u8 {
        let e = Entry::sign(&key(i), topic("b"), T0, vec![i]);
        if mesh.nodes[usize::from(i)].0.is_subscribed(&topic("b")) {
            mesh.input(usize::from(i), Input::Publish(e));
        }
        if i == 1 {
            mesh.queue.clear();
        }
    }
    for _ in 0..150 {
        mesh.tick(100);
    }
    (mesh.log, mesh.sent)
}

#[test]
fn same_seed_same_outputs() {
    let (first, sent) = scenario();
    let (second, sent_again) = scenario();
    assert_eq!(sent, sent_again);
    assert_eq!(first, second);
}

#[test]
fn entries_the_store_failed_to_write_are_forgotten_and_fetched_again() {
    let mut mesh = Mesh::new(
        &GossipConfig::default(),
        &[&["a"], &["a"]],
        vec![vec![], vec![]],
    );
    mesh.connect_all();
    mesh.deliver_all();
    let e = Entry::sign(&key(0), topic("a"), T0, b"written once".to_vec());
    mesh.input(0, Input::Publish(e.clone()));
    mesh.deliver_all();
    assert_eq!(mesh.ids(1, "a"), [e.id()]);
    // Node 1's store refused the write (say, a full disk): its core must not keep claiming it.
    mesh.input(1, Input::StoreFailed(vec![e.id()]));
    assert!(mesh.ids(1, "a").is_empty());
    assert!(!mesh.nodes[1].0.has(&e.id()));
    mesh.nodes[1].0.check_invariants().unwrap();
    let mut waited = 0;
    while mesh.ids(1, "a") != [e.id()] {
        mesh.tick(100);
        waited += 100;
        assert!(waited <= 20_000, "not fetched again after {waited} ms");
    }
}
