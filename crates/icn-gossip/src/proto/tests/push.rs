//! Pushes: an author sends its own new entries unasked; receivers check them like fetched
//! entries and do not announce them to the peers the author pushed them to.

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

#[test]
fn a_pushed_entry_is_stored_and_announced_only_to_peers_not_pushed_to() {
    let mut core = core(&["a"]);
    for peer in 1..=4 {
        core.handle(up(peer, &["a"]), T0);
    }
    let e = entry(1, "a", 1);
    // Peer 1 pushed to us (0), 2 and 9 (not our peer): 3 and 4 still need an announce.
    let out = core.handle(msg(1, push(std::slice::from_ref(&e), &[0, 2, 9])), T0);
    assert_eq!(stored(&out), vec![e.id()]);
    assert!(matches!(
        &out[0],
        Output::Store { source: Source::Push { from }, .. } if *from == did(1)
    ));
    let mut announced: Vec<Did> = announces(&out).into_iter().map(|(to, _)| to).collect();
    announced.sort();
    let mut expected = vec![did(3), did(4)];
    expected.sort();
    assert_eq!(announced, expected);
    assert!(requests(&out).is_empty(), "nothing was asked");
    assert_eq!(core.stats().received, 1);

    // The same push again is a duplicate, quietly.
    let out = core.handle(msg(1, push(&[e], &[0])), T0);
    assert!(stored(&out).is_empty() && rejected(&out).is_empty());
    assert_eq!(core.stats().duplicates, 1);
}

#[test]
fn only_the_author_may_push_and_every_check_applies() {
    let mut core = core(&["a"]);
    core.handle(up(1, &["a"]), T0);
    let theirs = entry(5, "a", 1);
    let out = core.handle(msg(1, push(std::slice::from_ref(&theirs), &[0])), T0);
    assert_eq!(rejected(&out), vec![RejectReason::Unsolicited]);
    assert!(!core.has(&theirs.id()));

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
