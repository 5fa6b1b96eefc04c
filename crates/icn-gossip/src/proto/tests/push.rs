//! Pushes: an author sends its own new entries unasked, and relays pass small entries on the
//! same way; receivers check them like fetched entries and pass them on to none of the peers
//! they were pushed to.

use super::*;

fn push(entries: &[Entry], pushed_to: &[u8]) -> GossipMessage {
    GossipMessage::Push {
        entries: entries.to_vec(),
        pushed_to: pushed_to.iter().map(|n| did(*n)).collect(),
    }
}

#[test]
fn own_entries_are_pushed_to_followers_of_their_topic_only() {
    let mut core = core(&["a", "b"]);
    core.handle(up(1, &["a"]), T0);
    core.handle(up(2, &["a", "b"]), T0);
    core.handle(up(3, &["b"]), T0);
    let a: Vec<Entry> = (1..=3).map(|n| entry(0, "a", n)).collect();
    let mut out = Vec::new();
    for e in &a {
        out.extend(core.handle(Input::Publish(e.clone()), T0));
    }
    let mut expected_to = vec![did(1), did(2)];
    expected_to.sort();
    for (to, ids) in pushes(&out) {
        assert_eq!(to, expected_to);
        assert_eq!(ids.len(), 1);
    }
    assert_eq!(pushes(&out).len(), 3);
    assert!(announces(&out).is_empty(), "own entries are not announced");

    // Another author's entry, published here, is announced as before: only its author
    // may push it.
    let other = entry(5, "b", 1);
    let out = core.handle(Input::Publish(other.clone()), T0);
    assert!(pushes(&out).is_empty());
    let mut announced: Vec<Did> = announces(&out).into_iter().map(|(to, _)| to).collect();
    announced.sort();
    let mut expected = vec![did(2), did(3)];
    expected.sort();
    assert_eq!(announced, expected);
}

/// An entry of `author` in topic `t` whose payload is `len` bytes, numbered `n`.
fn sized_entry(author: u8, t: &str, n: u8, len: usize) -> Entry {
    Entry::sign(&key(author), topic(t), T0, vec![n; len])
}

#[test]
fn a_small_pushed_entry_is_stored_and_pushed_on_only_to_peers_not_pushed_to() {
    let mut core = core(&["a"]);
    for peer in 1..=4 {
        core.handle(up(peer, &["a"]), T0);
    }
    let e = entry(1, "a", 1);
    // Peer 1 pushed to us (0), 2 and 9 (not our peer): 3 and 4 still need it.
    let out = core.handle(msg(1, push(std::slice::from_ref(&e), &[0, 2, 9])), T0);
    assert_eq!(stored(&out), vec![e.id()]);
    assert!(matches!(
        &out[0],
        Output::Store { source: Source::Push { from }, .. } if *from == did(1)
    ));
    let mut to = vec![did(3), did(4)];
    to.sort();
    assert_eq!(pushes(&out), vec![(to, vec![e.id()])]);
    let mut named = vec![did(1), did(2), did(3), did(4)];
    named.sort();
    assert_eq!(pushed_to(&out), vec![named]);
    assert!(announces(&out).is_empty() && requests(&out).is_empty());
    assert_eq!(core.stats().received, 1);

    // The same push again is a duplicate, quietly.
    let out = core.handle(msg(1, push(&[e], &[0])), T0);
    assert!(stored(&out).is_empty() && rejected(&out).is_empty());
    assert_eq!(core.stats().duplicates, 1);
}

#[test]
fn a_large_pushed_entry_is_announced_only_to_peers_not_pushed_to() {
    let mut core = core(&["a"]);
    for peer in 1..=4 {
        core.handle(up(peer, &["a"]), T0);
    }
    let e = sized_entry(1, "a", 1, message::RELAY_PUSH_MAX_PAYLOAD_BYTES + 1);
    let out = core.handle(msg(1, push(std::slice::from_ref(&e), &[0, 2, 9])), T0);
    assert_eq!(stored(&out), vec![e.id()]);
    assert!(pushes(&out).is_empty());
    let mut announced: Vec<Did> = announces(&out).into_iter().map(|(to, _)| to).collect();
    announced.sort();
    let mut expected = vec![did(3), did(4)];
    expected.sort();
    assert_eq!(announced, expected);
}

#[test]
fn relayed_entries_are_grouped_by_recipients_and_announced_when_relay_push_is_off() {
    let mut core = core(&["a"]);
    for peer in 1..=3 {
        core.handle(up(peer, &["a"]), T0);
    }
    let (e, f) = (entry(5, "a", 1), entry(5, "a", 2));
    // Peer 1 announced both, peer 2 only `f`: `e` goes on to 2 and 3, `f` to 3 alone.
    core.handle(msg(1, announce("a", &[e.id(), f.id()])), T0);
    core.handle(msg(2, announce("a", &[f.id()])), T0);
    let out = core.handle(msg(1, response(&[e.clone(), f.clone()])), T0);
    assert_eq!(stored(&out).len(), 2);
    let mut got = pushes(&out);
    got.sort();
    let mut two_and_three = vec![did(2), did(3)];
    two_and_three.sort();
    let mut expected = vec![
        (two_and_three.clone(), vec![e.id()]),
        (vec![did(3)], vec![f.id()]),
    ];
    expected.sort();
    assert_eq!(got, expected);
    assert!(announces(&out).is_empty());

    let config = GossipConfig {
        relay_push: false,
        ..GossipConfig::default()
    };
    let mut core = core_with(config, &["a"]);
    for peer in 1..=3 {
        core.handle(up(peer, &["a"]), T0);
    }
    let out = core.handle(msg(1, push(std::slice::from_ref(&e), &[0])), T0);
    assert_eq!(
        stored(&out),
        vec![e.id()],
        "a relay's push is accepted anyway"
    );
    assert!(pushes(&out).is_empty());
    let mut announced: Vec<Did> = announces(&out).into_iter().map(|(to, _)| to).collect();
    announced.sort();
    assert_eq!(announced, two_and_three);
}

#[test]
fn entries_recovered_by_anti_entropy_are_announced_not_pushed() {
    let mut core = core(&["a"]);
    core.handle(up(1, &["a"]), T0);
    core.handle(up(2, &["a"]), T0);
    let e = entry(5, "a", 1);
    let have = GossipMessage::Reconcile {
        topic: topic("a"),
        msg: None,
        have: vec![e.id()],
    };
    let out = core.handle(msg(1, have), T0);
    assert_eq!(requests(&out), vec![(did(1), vec![e.id()])]);
    let out = core.handle(msg(1, response(std::slice::from_ref(&e))), T0);
    assert!(matches!(
        &out[0],
        Output::Store {
            source: Source::AntiEntropy { .. },
            ..
        }
    ));
    assert!(pushes(&out).is_empty());
    assert_eq!(announces(&out), vec![(did(2), vec![e.id()])]);
}

#[test]
fn only_the_author_may_push_a_large_entry_and_every_check_applies() {
    let mut core = core(&["a"]);
    core.handle(up(1, &["a"]), T0);
    let theirs = sized_entry(5, "a", 1, message::RELAY_PUSH_MAX_PAYLOAD_BYTES + 1);
    let out = core.handle(msg(1, push(std::slice::from_ref(&theirs), &[0])), T0);
    assert_eq!(rejected(&out), vec![RejectReason::Unsolicited]);
    assert!(!core.has(&theirs.id()));
    let small = sized_entry(5, "a", 2, message::RELAY_PUSH_MAX_PAYLOAD_BYTES);
    let out = core.handle(msg(1, push(std::slice::from_ref(&small), &[0])), T0);
    assert_eq!(
        stored(&out),
        vec![small.id()],
        "a relay may push a small one"
    );
    let forged = {
        let mut e = entry(5, "a", 3);
        e.signature = key(8).sign(b"not it");
        e
    };
    let out = core.handle(msg(1, push(&[forged], &[0])), T0);
    assert_eq!(rejected(&out), vec![RejectReason::BadSignature]);

    // Among good entries, a forged one and one of an unsubscribed topic fail alone.
    let mut batch: Vec<Entry> = (1..=6).map(|n| entry(1, "a", n)).collect();
    batch[2].signature = key(8).sign(b"not it");
    batch.push(entry(1, "z", 1));
    batch.push(Entry::sign(
        &key(1),
        topic("a"),
        T0 + 61_000,
        b"late".to_vec(),
    ));
    let out = core.handle(msg(1, push(&batch, &[0])), T0);
    let mut reasons = rejected(&out);
    reasons.sort();
    let mut expected = vec![
        RejectReason::BadSignature,
        RejectReason::NotSubscribed,
        RejectReason::FutureTimestamp,
    ];
    expected.sort();
    assert_eq!(reasons, expected);
    let good: Vec<EntryId> = [0, 1, 3, 4, 5].iter().map(|i| batch[*i].id()).collect();
    assert_eq!(stored(&out), good);
}

#[test]
fn pushes_spend_the_announce_budget_and_free_pending_requests() {
    let config = GossipConfig {
        max_announced_ids_per_window: 4,
        ..GossipConfig::default()
    };
    let mut core = core_with(config, &["a"]);
    core.handle(up(1, &["a"]), T0);
    core.handle(up(2, &["a"]), T0);
    let batch: Vec<Entry> = (1..=6).map(|n| entry(1, "a", n)).collect();
    // Peer 2 announced the first entry: it is pending, asked from 2.
    let out = core.handle(msg(2, announce("a", &[batch[0].id()])), T0);
    assert_eq!(requests(&out), vec![(did(2), vec![batch[0].id()])]);
    assert_eq!(core.pending_requests(), 1);

    let out = core.handle(msg(1, push(&batch, &[0, 2])), T0);
    assert_eq!(stored(&out).len(), 4, "the budget allows 4 ids per window");
    assert_eq!(core.stats().dropped(DropReason::RateLimited), 2);
    assert_eq!(
        core.pending_requests(),
        0,
        "the pushed copy answered the request"
    );
    core.check_invariants().unwrap();
}
