//! Codec tests: round trips, hostile lengths, trailing bytes, topic errors, packing.

use icn_identity::Keypair;

use super::*;
use crate::reconcile::{self, Id};

fn topic(name: &str) -> Topic {
    Topic::new(name).expect("valid topic")
}

fn entry(n: u8, len: usize) -> Entry {
    let key = Keypair::from_secret_bytes(&[n; 32]);
    Entry::sign(&key, topic("news"), 1_000, vec![n; len])
}

fn every_variant() -> Vec<GossipMessage> {
    let ids: Vec<EntryId> = (0..3u8).map(|i| EntryId::from_bytes([i; 32])).collect();
    let set: Vec<Id> = (0..40u8).map(|i| [i; 32]).collect();
    vec![
        GossipMessage::Topics {
            topics: vec![topic("a"), topic("b/c")],
        },
        GossipMessage::Topics { topics: vec![] },
        GossipMessage::Announce {
            topic: topic("a"),
            ids: ids.clone(),
        },
        GossipMessage::Request { ids: ids.clone() },
        GossipMessage::Response {
            entries: vec![entry(1, 10), entry(2, 0)],
        },
        GossipMessage::Reconcile {
            topic: topic("a"),
            msg: Some(reconcile::initiate(&set)),
            have: ids,
        },
        GossipMessage::Reconcile {
            topic: topic("a"),
            msg: None,
            have: vec![],
        },
        GossipMessage::Push {
            entries: vec![entry(3, 5)],
            pushed_to: vec![entry(4, 0).author, entry(5, 0).author],
        },
    ]
}

#[test]
fn round_trips() {
    for msg in every_variant() {
        let bytes = encode(&msg).expect("encode");
        let back = decode(&bytes, MAX_FRAME_BYTES).expect("decode");
        assert_eq!(back, msg);
    }
}

#[test]
fn received_payloads_share_the_frame_and_bodies_encode_as_encode_does() {
    let msg = GossipMessage::Push {
        entries: vec![entry(1, 65_536), entry(2, 65_536), entry(3, 100)],
        pushed_to: vec![],
    };
    let body = encode_body(&msg).expect("encode");
    let bytes = Bytes::copy_from_slice(body.as_slice());
    assert_eq!(bytes[..], encode(&msg).expect("encode")[..]);
    let back = decode_shared(&bytes, MAX_FRAME_BYTES).expect("decode");
    assert_eq!(back, msg);
    let GossipMessage::Push { entries, .. } = back else {
        panic!("not a push");
    };
    let frame = bytes.as_ptr_range();
    // The 64 KiB payloads are the frame's bytes; the 100-byte one is copied (it would pin a
    // frame 1 300 times its size).
    assert!(frame.contains(&entries[0].payload.as_ptr()));
    assert!(frame.contains(&entries[1].payload.as_ptr()));
    assert!(!frame.contains(&entries[2].payload.as_ptr()));
    // Decoded from a plain slice, every payload is a copy.
    let GossipMessage::Push { entries, .. } = decode(&bytes, MAX_FRAME_BYTES).expect("decode")
    else {
        panic!("not a push");
    };
    assert!(!frame.contains(&entries[0].payload.as_ptr()));
}

#[test]
fn hostile_length_is_an_error_not_an_abort() {
    // `Request` (variant 2) whose id vector claims 2^40 elements (varint marker 253 = u64),
    // then zeros: 27 bytes in all.
    let mut bytes = vec![2u8, 253];
    bytes.extend_from_slice(&(1u64 << 40).to_le_bytes());
    bytes.resize(27, 0);
    assert_eq!(bytes.len(), 27);
    let err = decode(&bytes, MAX_FRAME_BYTES).expect_err("hostile");
    assert!(matches!(err, DecodeError::Malformed(_)), "{err:?}");
    assert_eq!(err.reject_reason(), RejectReason::Malformed);

    // The same claim for a payload (a byte string), inside a `Response`.
    let mut bytes = vec![3u8, 1, 4];
    bytes.extend_from_slice(b"news");
    bytes.push(32);
    bytes.extend_from_slice(Keypair::from_secret_bytes(&[1; 32]).did().as_bytes());
    bytes.extend_from_slice(&[0, 253]);
    bytes.extend_from_slice(&(1u64 << 40).to_le_bytes());
    let err = decode(&bytes, MAX_FRAME_BYTES).expect_err("hostile payload");
    assert!(matches!(err, DecodeError::Malformed(_)), "{err:?}");
}

#[test]
fn trailing_bytes_are_an_error() {
    let mut bytes = encode(&GossipMessage::Request { ids: vec![] }).expect("encode");
    bytes.push(0);
    assert!(matches!(
        decode(&bytes, MAX_FRAME_BYTES),
        Err(DecodeError::TrailingBytes { extra: 1 })
    ));
}

#[test]
fn truncated_and_garbage_are_errors() {
    for msg in every_variant() {
        let bytes = encode(&msg).expect("encode");
        for cut in 0..bytes.len() {
            assert!(
                decode(&bytes[..cut], MAX_FRAME_BYTES).is_err(),
                "{msg:?} cut {cut}"
            );
        }
    }
    assert!(decode(&[200], MAX_FRAME_BYTES).is_err());
    assert!(decode(&[], MAX_FRAME_BYTES).is_err());
}

#[test]
fn input_over_the_limit_is_not_decoded() {
    let bytes = encode(&GossipMessage::Request { ids: vec![] }).expect("encode");
    assert!(matches!(
        decode(&bytes, 1),
        Err(DecodeError::TooLarge { len: 2, max: 1 })
    ));
}

#[test]
fn bad_topic_is_classified() {
    // `Announce` with topic "a\n" and no ids.
    let bytes = [1u8, 2, b'a', b'\n', 0];
    let err = decode(&bytes, MAX_FRAME_BYTES).expect_err("bad topic");
    assert!(matches!(err, DecodeError::BadTopic(_)), "{err:?}");
    assert_eq!(err.reject_reason(), RejectReason::BadTopic);
    // 129 bytes.
    let mut bytes = vec![1u8, 129];
    bytes.extend_from_slice(&[b'x'; 129]);
    bytes.push(0);
    let err = decode(&bytes, MAX_FRAME_BYTES).expect_err("long topic");
    assert_eq!(err.reject_reason(), RejectReason::BadTopic);
    // Not UTF-8: malformed (bincode rejects it before the topic rules run).
    let bytes = [1u8, 1, 0xff, 0];
    let err = decode(&bytes, MAX_FRAME_BYTES).expect_err("not utf-8");
    assert_eq!(err.reject_reason(), RejectReason::Malformed);
}

#[test]
fn invalid_author_key_is_malformed() {
    let msg = GossipMessage::Response {
        entries: vec![entry(1, 3)],
    };
    let mut bytes = encode(&msg).expect("encode");
    // Variant, vec len, topic len + "news", key len: the key starts at offset 8.
    let mut weak = [0u8; 32];
    weak[0] = 1;
    bytes[8..40].copy_from_slice(&weak);
    let err = decode(&bytes, MAX_FRAME_BYTES).expect_err("weak key");
    assert!(matches!(err, DecodeError::Malformed(_)), "{err:?}");
}

#[test]
fn packing_respects_the_frame() {
    let entries: Vec<Entry> = (0..20u8).map(|i| entry(i, 1000 + usize::from(i))).collect();
    let frame = 4096;
    let msgs = pack_entries(entries.clone(), frame);
    assert!(msgs.len() > 1);
    let mut unpacked = Vec::new();
    for msg in msgs {
        let len = encode(&msg).expect("encode").len();
        assert!(len <= frame, "{len}");
        let GossipMessage::Response { entries } = msg else {
            panic!("not a response");
        };
        unpacked.extend(entries);
    }
    assert_eq!(unpacked, entries);
    assert!(pack_entries(Vec::new(), frame).is_empty());

    // Four maximal entries fit in one frame only if the bound is tight enough; three must.
    let big: Vec<Entry> = (0..3u8).map(|i| entry(i, 1 << 20)).collect();
    let msgs = pack_entries(big, MAX_FRAME_BYTES);
    assert_eq!(msgs.len(), 1);
    assert!(encode(&msgs[0]).is_ok());
}

#[test]
fn pushes_respect_the_frame_and_the_entry_count() {
    let to: Vec<Did> = (0..40u8).map(|i| entry(i, 0).author).collect();
    let entries: Vec<Entry> = (0..20u8).map(|i| entry(i, 1000)).collect();
    let frame = 4096;
    let msgs = pack_push(entries.clone(), &to, frame, usize::MAX);
    assert!(msgs.len() > 1);
    let mut unpacked = Vec::new();
    for msg in msgs {
        let len = encode(&msg).expect("encode").len();
        assert!(len <= frame, "{len}");
        let GossipMessage::Push { entries, pushed_to } = msg else {
            panic!("not a push");
        };
        assert_eq!(pushed_to, to);
        unpacked.extend(entries);
    }
    assert_eq!(unpacked, entries);

    // Tiny entries: the receiver's per-message id cap, not the frame, splits them.
    let tiny: Vec<Entry> = (0..250u8).map(|i| entry(i, 1)).collect();
    let msgs = pack_push(tiny, &to[..1], MAX_FRAME_BYTES, 100);
    let sizes: Vec<usize> = msgs
        .iter()
        .map(|m| match m {
            GossipMessage::Push { entries, .. } => entries.len(),
            _ => 0,
        })
        .collect();
    assert_eq!(sizes, vec![100, 100, 50]);
}

#[test]
fn oversized_encoding_is_refused() {
    let msg = GossipMessage::Response {
        entries: (0..5u8).map(|i| entry(i, 1 << 20)).collect(),
    };
    assert!(matches!(encode(&msg), Err(EncodeError::TooLarge { .. })));
}

#[test]
fn id_chunks_split_in_order_and_move_a_list_that_fits() {
    let ids: Vec<EntryId> = (0..5u8).map(|i| EntryId::from_bytes([i; 32])).collect();
    let chunks = id_chunks(ids.clone(), 2);
    assert_eq!(
        chunks,
        vec![ids[..2].to_vec(), ids[2..4].to_vec(), ids[4..].to_vec()]
    );
    let fits = ids.clone();
    let at = fits.as_ptr();
    let moved = id_chunks(fits, 5);
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].as_ptr(), at, "a list that fits is not copied");
    assert!(id_chunks(Vec::new(), 3).is_empty());
    assert_eq!(id_chunks(ids.clone(), 0).len(), 5, "a max of 0 counts as 1");
}
