//! Entry ids, signatures and each check of [`Entry::verify`].

use super::*;

const NOW: u64 = 1_800_000_000_000;

fn key(n: u8) -> Keypair {
    Keypair::from_secret_bytes(&[n; 32])
}

fn topic(name: &str) -> Topic {
    Topic::new(name).expect("valid topic")
}

fn entry() -> Entry {
    Entry::sign(&key(1), topic("news"), NOW, b"hello".to_vec())
}

#[test]
fn id_is_stable() {
    // Pins the canonical encoding: if this changes, every stored id changes.
    let e = Entry::sign(&key(7), topic("t"), 1, b"hi".to_vec());
    assert_eq!(
        e.id().to_string(),
        "5e715b3b687e9ba58820e5f25cb8d58913980dcde1d78ec0b33b6cdb2f9e266c"
    );
    assert_eq!(
        format!("{:?}", e.id()),
        format!("EntryId({})", &e.id().to_string()[..8])
    );
}

#[test]
fn id_covers_every_field_but_the_signature() {
    let e = entry();
    let id = e.id();
    let mut other = e.clone();
    other.topic = topic("newz");
    assert_ne!(other.id(), id);
    let mut other = e.clone();
    other.author = key(2).did();
    assert_ne!(other.id(), id);
    let mut other = e.clone();
    other.timestamp_ms += 1;
    assert_ne!(other.id(), id);
    let mut other = e.clone();
    other.payload = [&other.payload[..], &[0]].concat().into();
    assert_ne!(other.id(), id);
    let mut other = e.clone();
    other.signature = key(1).sign(b"something else");
    assert_eq!(other.id(), id);
}

#[test]
fn length_prefixes_separate_fields() {
    // Moving a byte from the topic to the payload must change the id.
    let a = Entry::sign(&key(1), topic("ab"), NOW, b"c".to_vec());
    let b = Entry::sign(&key(1), topic("a"), NOW, b"bc".to_vec());
    assert_ne!(a.id(), b.id());
}

#[test]
fn verify_accepts_a_signed_entry() {
    let e = entry();
    assert_eq!(e.verify(&EntryLimits::default(), NOW), Ok(e.id()));
    // Past timestamps are fine (anti-entropy delivers old entries).
    assert_eq!(
        e.verify(&EntryLimits::default(), NOW + 10_000_000),
        Ok(e.id())
    );
}

#[test]
fn rejects_bad_signature() {
    let limits = EntryLimits::default();
    let mut e = entry();
    e.signature = key(2).sign(&signing_message(&e.id()));
    assert_eq!(e.verify(&limits, NOW), Err(RejectReason::BadSignature));
    // A signature over the bare id (no domain) does not verify either.
    let mut e = entry();
    e.signature = key(1).sign(e.id().as_bytes());
    assert_eq!(e.verify(&limits, NOW), Err(RejectReason::BadSignature));
    // Content changed after signing.
    let mut e = entry();
    let mut payload = e.payload.to_vec();
    payload[0] ^= 1;
    e.payload = payload.into();
    assert_eq!(e.verify(&limits, NOW), Err(RejectReason::BadSignature));
}

#[test]
fn rejects_large_payload() {
    let limits = EntryLimits {
        max_payload_bytes: 5,
        ..EntryLimits::default()
    };
    assert!(entry().verify(&limits, NOW).is_ok());
    let big = Entry::sign(&key(1), topic("news"), NOW, vec![0; 6]);
    assert_eq!(big.verify(&limits, NOW), Err(RejectReason::PayloadTooLarge));
    let huge = Entry::sign(&key(1), topic("news"), NOW, vec![0; (1 << 20) + 1]);
    assert_eq!(
        huge.verify(&EntryLimits::default(), NOW),
        Err(RejectReason::PayloadTooLarge)
    );
}

#[test]
fn rejects_future_timestamp() {
    let limits = EntryLimits::default();
    let skew = limits.max_clock_skew_ms;
    let at_bound = Entry::sign(&key(1), topic("news"), NOW + skew, vec![]);
    assert!(at_bound.verify(&limits, NOW).is_ok());
    let beyond = Entry::sign(&key(1), topic("news"), NOW + skew + 1, vec![]);
    assert_eq!(
        beyond.verify(&limits, NOW),
        Err(RejectReason::FutureTimestamp)
    );
    // No overflow near u64::MAX.
    let max = Entry::sign(&key(1), topic("news"), u64::MAX, vec![]);
    assert!(max.verify(&limits, u64::MAX).is_ok());
    assert_eq!(max.verify(&limits, 0), Err(RejectReason::FutureTimestamp));
}

#[test]
fn reason_labels_are_snake_case_and_distinct() {
    let labels: std::collections::BTreeSet<&str> =
        RejectReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(labels.len(), RejectReason::ALL.len());
    for label in labels {
        assert!(
            label.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{label}"
        );
    }
}

#[test]
fn bincode_round_trip() {
    let cfg = bincode::config::standard();
    let e = entry();
    let bytes = bincode::serde::encode_to_vec(&e, cfg).expect("encode");
    let (back, read): (Entry, usize) =
        bincode::serde::decode_from_slice(&bytes, cfg).expect("decode");
    assert_eq!(read, bytes.len());
    assert_eq!(back, e);
    // Payload as a byte string, not a sequence of integers: small overhead.
    assert!(
        bytes.len() < 4 + 1 + 33 + 9 + 1 + 5 + 65 + 4,
        "{}",
        bytes.len()
    );

    let id = e.id();
    let bytes = bincode::serde::encode_to_vec(id, cfg).expect("encode");
    assert_eq!(bytes.len(), 33);
    let (back, _): (EntryId, usize) = bincode::serde::decode_from_slice(&bytes, cfg).expect("id");
    assert_eq!(back, id);
}
