//! Request deduplication, timeouts and retries, caps, announce batching.

use super::*;

fn ids(n: u32) -> Vec<EntryId> {
    (0..n).map(|i| entry(9, "a", i).id()).collect()
}

#[test]
fn one_request_per_id_across_announcers() {
    let mut core = core(&["a"]);
    for p in 1..=3 {
        core.handle(up(p, &["a"]), T0);
    }
    let id = ids(1);
    let out = core.handle(msg(1, announce("a", &id)), T0);
    assert_eq!(requests(&out), vec![(did(1), id.clone())]);
    // Other announcers are remembered, not asked.
    for p in 2..=3 {
        let out = core.handle(msg(p, announce("a", &id)), T0 + 10);
        assert!(requests(&out).is_empty());
    }
    // Duplicates inside one announce: one request.
    let more = ids(3)[1..].to_vec();
    let doubled: Vec<EntryId> = more.iter().chain(&more).copied().collect();
    let out = core.handle(msg(2, announce("a", &doubled)), T0);
    assert_eq!(requests(&out), vec![(did(2), more)]);
    assert_eq!(core.pending_requests(), 3);
}

#[test]
fn timeout_retries_the_next_announcer_then_gives_up() {
    let mut core = core(&["a"]);
    for p in 1..=2 {
        core.handle(up(p, &["a"]), T0);
    }
    let id = ids(1);
    core.handle(msg(1, announce("a", &id)), T0);
    core.handle(msg(2, announce("a", &id)), T0);
    // Not yet.
    assert!(requests(&core.handle(Input::Tick, T0 + 1_999)).is_empty());
    let out = core.handle(Input::Tick, T0 + 2_000);
    assert_eq!(requests(&out), vec![(did(2), id.clone())]);
    let out = core.handle(Input::Tick, T0 + 4_000);
    assert_eq!(requests(&out), vec![(did(1), id.clone())]);
    // Third failure: max_request_tries (3) reached.
    let out = core.handle(Input::Tick, T0 + 6_000);
    assert!(requests(&out).is_empty());
    assert_eq!(core.pending_requests(), 0);
    assert_eq!(core.stats().dropped(DropReason::GaveUp), 1);
    // A late answer is now unsolicited.
    let out = core.handle(msg(1, response(&[entry(9, "a", 0)])), T0 + 6_001);
    assert_eq!(rejected(&out), vec![RejectReason::Unsolicited]);
}

#[test]
fn late_answer_from_the_first_peer_is_still_accepted() {
    let mut core = core(&["a"]);
    for p in 1..=2 {
        core.handle(up(p, &["a"]), T0);
    }
    let id = ids(1);
    core.handle(msg(1, announce("a", &id)), T0);
    core.handle(msg(2, announce("a", &id)), T0);
    core.handle(Input::Tick, T0 + 2_000);
    let out = core.handle(msg(1, response(&[entry(9, "a", 0)])), T0 + 2_100);
    assert_eq!(stored(&out), id);
    core.check_invariants().expect("outstanding released");
}

#[test]
fn peer_down_moves_requests_to_another_announcer() {
    let mut core = core(&["a"]);
    for p in 1..=2 {
        core.handle(up(p, &["a"]), T0);
    }
    let id = ids(2);
    core.handle(msg(1, announce("a", &id)), T0);
    core.handle(msg(2, announce("a", &id[..1])), T0);
    let out = core.handle(Input::PeerDown { peer: did(1) }, T0 + 5);
    // The id only peer 1 had is abandoned; the other goes to peer 2 at once.
    assert_eq!(requests(&out), vec![(did(2), id[..1].to_vec())]);
    assert_eq!(core.pending_requests(), 1);
    assert_eq!(core.stats().dropped(DropReason::NoSource), 1);
}

#[test]
fn ids_of_a_busy_announcer_wait_for_a_free_slot_oldest_first() {
    let config = GossipConfig {
        max_outstanding_per_peer: 2,
        max_pending_per_peer: 5,
        ..GossipConfig::default()
    };
    let mut core = core_with(config, &["a"]);
    core.handle(up(1, &["a"]), T0);
    let entries: Vec<Entry> = (0..6).map(|i| entry(9, "a", i)).collect();
    let id: Vec<EntryId> = entries.iter().map(Entry::id).collect();
    // Two are asked, three wait, the sixth is over the peer's pending share.
    let out = core.handle(msg(1, announce("a", &id)), T0);
    assert_eq!(requests(&out), vec![(did(1), id[..2].to_vec())]);
    assert_eq!(core.pending_requests(), 5);
    assert_eq!(core.stats().dropped(DropReason::PeerBusy), 1);
    // Each answer frees a slot, and the oldest waiting id is asked at once, before any tick.
    let out = core.handle(msg(1, response(&entries[..1])), T0 + 1);
    assert_eq!(requests(&out), vec![(did(1), id[2..3].to_vec())]);
    let out = core.handle(msg(1, response(&entries[1..3])), T0 + 2);
    assert_eq!(requests(&out), vec![(did(1), id[3..5].to_vec())]);
    core.check_invariants().expect("consistent while waiting");
    let out = core.handle(msg(1, response(&entries[3..5])), T0 + 3);
    assert!(requests(&out).is_empty());
    assert_eq!(core.pending_requests(), 0);
    assert!(entries[..5].iter().all(|e| core.has(&e.id())));
    assert_eq!(core.memory().max_introduced, 0);
    core.check_invariants().expect("consistent when done");
}

#[test]
fn caps_drop_work_instead_of_growing() {
    let config = GossipConfig {
        max_pending_requests: 10,
        max_outstanding_per_peer: 4,
        max_pending_per_peer: 5,
        max_ids_per_message: 6,
        max_announcers_per_id: 2,
        ..GossipConfig::default()
    };
    let mut core = core_with(config, &["a"]);
    for p in 1..=5 {
        core.handle(up(p, &["a"]), T0);
    }
    let all = ids(30);
    // 8 ids: 2 over the message cap; of the 6 left, 5 fit peer 1's pending share, and 4 of
    // those its outstanding cap (the fifth waits).
    let out = core.handle(msg(1, announce("a", &all[..8])), T0);
    assert_eq!(requests(&out), vec![(did(1), all[..4].to_vec())]);
    assert_eq!(core.stats().dropped(DropReason::TooManyIds), 2);
    assert_eq!(core.stats().dropped(DropReason::PeerBusy), 1);
    assert_eq!(core.pending_requests(), 5);
    // Peers 2 and 3 fill the pending cap (10).
    core.handle(msg(2, announce("a", &all[10..14])), T0);
    let out = core.handle(msg(3, announce("a", &all[14..18])), T0);
    assert_eq!(requests(&out), vec![(did(3), all[14..15].to_vec())]);
    assert_eq!(core.pending_requests(), 10);
    assert_eq!(core.stats().dropped(DropReason::PendingFull), 3);
    // Announcers per id are capped too.
    for p in 2..=5 {
        core.handle(msg(p, announce("a", &all[..1])), T0);
    }
    let m = core.memory();
    assert_eq!(m.max_announcers, 2);
    assert_eq!(m.max_outstanding, 4);
    assert_eq!(m.max_introduced, 5);
    core.check_invariants().expect("caps");
    // Oversized requests and responses are truncated.
    let out = core.handle(msg(1, GossipMessage::Request { ids: all.clone() }), T0);
    assert!(out.is_empty());
    assert_eq!(core.stats().dropped(DropReason::TooManyIds), 2 + 24);
}

#[test]
fn peer_topics_are_capped() {
    let config = GossipConfig {
        max_topics_per_peer: 2,
        ..GossipConfig::default()
    };
    let mut core = core_with(config, &["a"]);
    core.handle(up(1, &["x", "y", "z"]), T0);
    assert_eq!(core.memory().max_peer_topics, 2);
    assert_eq!(core.stats().dropped(DropReason::TooManyTopics), 1);
}

#[test]
fn announces_are_batched_and_skip_known_holders() {
    let pull_only = GossipConfig {
        relay_push: false,
        ..GossipConfig::default()
    };
    let mut core = core_with(pull_only.clone(), &["a", "b"]);
    core.handle(up(1, &["a", "b"]), T0);
    core.handle(up(2, &["a"]), T0);
    core.handle(up(3, &["a", "b"]), T0);
    let entries: Vec<Entry> = (0..5).map(|i| entry(9, "a", i)).collect();
    let b = entry(9, "b", 0);
    let a_ids: Vec<EntryId> = entries.iter().map(Entry::id).collect();
    core.handle(msg(1, announce("a", &a_ids)), T0);
    core.handle(msg(1, announce("b", &[b.id()])), T0);
    // Peer 3 announced the first one too: it holds it.
    core.handle(msg(3, announce("a", &a_ids[..1])), T0);
    let mut all = entries.clone();
    all.push(b.clone());
    let out = core.handle(msg(1, response(&all)), T0);
    assert_eq!(stored(&out).len(), 6);
    // One announce per (peer, topic), holding every new id of the topic.
    let mut got = announces(&out);
    got.sort();
    let mut expected = vec![
        (did(2), a_ids.clone()),
        (did(3), a_ids[1..].to_vec()),
        (did(3), vec![b.id()]),
    ];
    expected.sort();
    assert_eq!(got, expected);

    // A response with more entries than max_ids_per_message is truncated.
    let config = GossipConfig {
        max_ids_per_message: 2,
        ..pull_only
    };
    let mut core = core_with(config, &["a"]);
    core.handle(up(1, &["a"]), T0);
    core.handle(up(2, &["a"]), T0);
    core.handle(msg(1, announce("a", &a_ids[..2])), T0);
    core.handle(msg(1, announce("a", &a_ids[2..4])), T0);
    let out = core.handle(msg(1, response(&entries[..4])), T0);
    assert_eq!(announces(&out), vec![(did(2), a_ids[..2].to_vec())]);
    assert_eq!(core.stats().dropped(DropReason::TooManyIds), 2);
}

#[test]
fn unsubscribe_forgets_the_topic() {
    let mut core = core(&["a", "b"]);
    core.handle(up(1, &["a", "b"]), T0);
    let e = entry(9, "a", 0);
    core.handle(msg(1, announce("a", &[e.id()])), T0);
    core.handle(msg(1, response(std::slice::from_ref(&e))), T0);
    core.handle(msg(1, announce("a", &ids(3)[1..])), T0);
    assert_eq!(core.pending_requests(), 2);
    let out = core.handle(Input::Unsubscribe(topic("a")), T0);
    assert!(out.contains(&Output::TopicsChanged(vec![topic("b")])));
    assert!(out.contains(&Output::Send {
        to: did(1),
        msg: GossipMessage::Topics {
            topics: vec![topic("b")]
        }
    }));
    assert_eq!(core.entry_count(), 0);
    assert_eq!(core.pending_requests(), 0);
    core.check_invariants().expect("consistent");
}
