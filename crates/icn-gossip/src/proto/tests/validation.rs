//! Every rejection reason the core produces, and what it does not reject.

use super::*;

/// Announces `e` from peer 1 and answers the request with `answer`; returns the outputs of
/// the answer.
fn fetch(core: &mut GossipCore, e: &Entry, answer: Entry) -> Vec<Output> {
    let out = core.handle(msg(1, announce(e.topic.as_str(), &[e.id()])), T0);
    assert_eq!(requests(&out), vec![(did(1), vec![e.id()])]);
    core.handle(msg(1, response(&[answer])), T0)
}

#[test]
fn accepts_a_requested_entry_and_announces_it() {
    let mut core = core(&["a"]);
    core.handle(up(1, &["a"]), T0);
    core.handle(up(2, &["a"]), T0);
    core.handle(up(3, &["b"]), T0);
    // Larger than a relay pushes on.
    let e = Entry::sign(&key(9), topic("a"), T0, vec![1; 2048]);
    let out = fetch(&mut core, &e, e.clone());
    assert_eq!(stored(&out), vec![e.id()]);
    assert!(matches!(
        out[0],
        Output::Store {
            source: Source::Push { .. },
            ..
        }
    ));
    // Announced to peer 2 only: 1 sent it, 3 does not follow the topic.
    assert_eq!(announces(&out), vec![(did(2), vec![e.id()])]);
    assert!(core.has(&e.id()));
    assert_eq!(core.pending_requests(), 0);
    assert_eq!(core.stats().received, 1);
}

#[test]
fn rejects_bad_signature_and_retries_elsewhere() {
    let mut core = core(&["a"]);
    core.handle(up(1, &["a"]), T0);
    core.handle(up(2, &["a"]), T0);
    let e = entry(9, "a", 1);
    let out = core.handle(msg(1, announce("a", &[e.id()])), T0);
    assert_eq!(requests(&out), vec![(did(1), vec![e.id()])]);
    assert!(requests(&core.handle(msg(2, announce("a", &[e.id()])), T0)).is_empty());
    let mut forged = e.clone();
    forged.signature = key(8).sign(b"not it");
    let out = core.handle(msg(1, response(&[forged])), T0);
    assert_eq!(rejected(&out), vec![RejectReason::BadSignature]);
    assert!(!core.has(&e.id()));
    assert_eq!(core.stats().rejected(RejectReason::BadSignature), 1);
    // Still pending, and asked at once from the other announcer.
    assert_eq!(core.pending_requests(), 1);
    assert_eq!(requests(&out), vec![(did(2), vec![e.id()])]);
    let out = core.handle(msg(2, response(std::slice::from_ref(&e))), T0 + 2);
    assert_eq!(stored(&out), vec![e.id()]);
}

#[test]
fn a_bad_signature_in_a_response_costs_only_its_own_entry() {
    let mut core = core(&["a"]);
    core.handle(up(1, &["a"]), T0);
    let good: Vec<Entry> = (1..=8).map(|ts| entry(9, "a", ts)).collect();
    let ids: Vec<EntryId> = good.iter().map(Entry::id).collect();
    let out = core.handle(msg(1, announce("a", &ids)), T0);
    assert_eq!(requests(&out), vec![(did(1), ids.clone())]);
    // Entry 3 is a forged copy; the response carries the batch-checked rest around it.
    let mut answer = good.clone();
    answer[3].signature = key(8).sign(b"not it");
    let out = core.handle(msg(1, response(&answer)), T0);
    assert_eq!(rejected(&out), vec![RejectReason::BadSignature]);
    let mut expected = ids.clone();
    expected.remove(3);
    assert_eq!(
        stored(&out),
        expected,
        "every genuine entry is stored, in order"
    );
    assert!(!core.has(&ids[3]));
    assert_eq!(core.stats().rejected(RejectReason::BadSignature), 1);
}

#[test]
fn rejects_oversized_payload() {
    let config = GossipConfig {
        entry_limits: crate::entry::EntryLimits {
            max_payload_bytes: 3,
            ..Default::default()
        },
        ..GossipConfig::default()
    };
    let mut core = core_with(config, &["a"]);
    core.handle(up(1, &["a"]), T0);
    let e = Entry::sign(&key(9), topic("a"), T0, vec![0; 4]);
    let out = fetch(&mut core, &e, e.clone());
    assert_eq!(rejected(&out), vec![RejectReason::PayloadTooLarge]);
    assert!(!core.has(&e.id()));
}

#[test]
fn rejects_future_timestamp() {
    let mut core = core(&["a"]);
    core.handle(up(1, &["a"]), T0);
    let e = Entry::sign(&key(9), topic("a"), T0 + 60_001, vec![1]);
    let out = fetch(&mut core, &e, e.clone());
    assert_eq!(rejected(&out), vec![RejectReason::FutureTimestamp]);
    // Within the skew: fine.
    let e = Entry::sign(&key(9), topic("a"), T0 + 60_000, vec![2]);
    let out = fetch(&mut core, &e, e.clone());
    assert_eq!(stored(&out), vec![e.id()]);
}

#[test]
fn rejects_unsolicited_and_forged_ids() {
    let mut core = core(&["a"]);
    core.handle(up(1, &["a"]), T0);
    // Pushed without any announce.
    let e = entry(9, "a", 1);
    let out = core.handle(msg(1, response(std::slice::from_ref(&e))), T0);
    assert_eq!(rejected(&out), vec![RejectReason::Unsolicited]);
    // Announced as X, answered with a valid entry whose recomputed id is not X.
    let x = EntryId::from_bytes([0x42; 32]);
    core.handle(msg(1, announce("a", &[x])), T0);
    let out = core.handle(msg(1, response(&[entry(9, "a", 2)])), T0);
    assert_eq!(rejected(&out), vec![RejectReason::Unsolicited]);
    assert_eq!(core.entry_count(), 0);
    assert_eq!(core.stats().rejected(RejectReason::Unsolicited), 2);
}

#[test]
fn rejects_entries_of_unsubscribed_topics() {
    let mut core = core(&["a"]);
    core.handle(up(1, &["a", "b"]), T0);
    // Announced under "a", but the entry's own topic is "b".
    let e = entry(9, "b", 1);
    core.handle(msg(1, announce("a", &[e.id()])), T0);
    let out = core.handle(msg(1, response(&[e])), T0);
    assert_eq!(rejected(&out), vec![RejectReason::NotSubscribed]);
    assert_eq!(core.pending_requests(), 0);
    // Announces for "b" are not even requested.
    let out = core.handle(msg(1, announce("b", &[entry(9, "b", 2).id()])), T0);
    assert!(requests(&out).is_empty());
    assert_eq!(core.stats().dropped(DropReason::NotSubscribed), 1);
}

#[test]
fn publish_is_validated() {
    let mut core = core(&["a"]);
    core.handle(up(1, &["a"]), T0);
    let good = Entry::sign(&key(0), topic("a"), T0, b"x".to_vec());
    let out = core.handle(Input::Publish(good.clone()), T0);
    assert_eq!(stored(&out), vec![good.id()]);
    assert!(matches!(
        out[0],
        Output::Store {
            source: Source::Local,
            ..
        }
    ));
    // Our own entry is pushed, not announced.
    assert_eq!(pushes(&out), vec![(vec![did(1)], vec![good.id()])]);
    assert!(announces(&out).is_empty());
    // Publishing it again is a no-op.
    assert!(core.handle(Input::Publish(good), T0).is_empty());

    // Another author's entry gets its signature checked (own entries are signed by the actor
    // just before and checked by every receiver).
    let mut bad = Entry::sign(&key(3), topic("a"), T0, b"y".to_vec());
    bad.payload = b"z".to_vec().into();
    let out = core.handle(Input::Publish(bad), T0);
    assert_eq!(
        out,
        vec![Output::Rejected {
            from: None,
            reason: RejectReason::BadSignature
        }]
    );
    let other = Entry::sign(&key(0), topic("b"), T0, b"y".to_vec());
    let out = core.handle(Input::Publish(other), T0);
    assert_eq!(rejected(&out), vec![RejectReason::NotSubscribed]);
    let future = Entry::sign(&key(0), topic("a"), T0 + 61_000, b"y".to_vec());
    let out = core.handle(Input::Publish(future), T0);
    assert_eq!(rejected(&out), vec![RejectReason::FutureTimestamp]);
}

#[test]
fn an_entry_signed_here_is_published_under_the_id_it_was_signed_with() {
    let mut core = core(&["a"]);
    core.handle(up(1, &["a"]), T0);
    let signed = crate::IdentifiedEntry::sign(&key(0), topic("a"), T0, vec![7; 70_000]);
    assert_eq!(signed.id(), signed.entry().id());
    let (id, entry) = (signed.id(), signed.entry().clone());
    let out = core.handle(Input::PublishIdentified(signed), T0);
    assert_eq!(stored(&out), vec![id]);
    assert_eq!(pushes(&out), vec![(vec![did(1)], vec![id])]);
    // The same entry published again, signed or not, is the one already held.
    assert!(core.handle(Input::Publish(entry), T0).is_empty());
    // Its limits are still checked.
    let future = crate::IdentifiedEntry::sign(&key(0), topic("a"), T0 + 61_000, vec![1]);
    let out = core.handle(Input::PublishIdentified(future), T0);
    assert_eq!(rejected(&out), vec![RejectReason::FutureTimestamp]);
}

#[test]
fn duplicates_are_ignored_quietly() {
    let mut core = core(&["a"]);
    core.handle(up(1, &["a"]), T0);
    let e = entry(9, "a", 1);
    fetch(&mut core, &e, e.clone());
    let out = core.handle(msg(1, response(std::slice::from_ref(&e))), T0);
    assert!(out.is_empty());
    assert_eq!(core.stats().duplicates, 1);
    // Announcing an id we hold requests nothing.
    let out = core.handle(msg(1, announce("a", &[e.id()])), T0);
    assert!(out.is_empty());
}

#[test]
fn messages_from_peers_that_are_down_are_dropped() {
    let mut core = core(&["a"]);
    let e = entry(9, "a", 1);
    let out = core.handle(msg(1, announce("a", &[e.id()])), T0);
    assert!(out.is_empty());
    assert_eq!(core.stats().dropped(DropReason::UnknownPeer), 1);
}

#[test]
fn requests_are_answered_from_held_ids_only() {
    let e = entry(9, "a", 1);
    let mut core = GossipCore::new(
        GossipConfig::default(),
        did(0),
        1,
        [(e.id(), topic("a"), T0)],
        [topic("a")],
    );
    core.handle(up(1, &["a"]), T0);
    let missing = EntryId::from_bytes([1; 32]);
    let out = core.handle(
        msg(
            1,
            GossipMessage::Request {
                ids: vec![e.id(), missing, e.id()],
            },
        ),
        T0,
    );
    assert_eq!(
        out,
        vec![Output::SendEntries {
            to: did(1),
            ids: vec![e.id()]
        }]
    );
}
