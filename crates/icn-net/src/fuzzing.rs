//! Fuzz harness bodies for the frame codec, shared by the cargo-fuzz targets in `fuzz/` and the
//! bounded arbitrary-bytes tests that run in CI. Not a stable API.
//!
//! Each function takes arbitrary bytes, must never panic on them, and panics only when an
//! oracle fails (a decoded message that does not survive a re-encode).

use crate::config::FRAME_LIMIT_CEILING;
use crate::wire::{
    FrameError, LENGTH_PREFIX, WireMessage, decode_body, decode_frame, encode_frame,
};

/// Frame limit used by the harnesses: the default `network.max_frame_bytes`.
pub const MAX_FRAME: usize = 4 * 1024 * 1024;

/// Decodes `data` as one whole frame (prefix + body) under two limits, and checks that a
/// decoded message re-encodes to a frame that decodes to the same message.
pub fn frame(data: &[u8]) {
    // A small limit exercises the oversized path on ordinary inputs.
    let small = decode_frame(data, 64);
    let full = decode_frame(data, MAX_FRAME);
    if let Ok(msg) = &small {
        assert_eq!(
            Ok(msg),
            full.as_ref(),
            "a frame under 64 bytes decodes alike"
        );
    }
    if let Ok(msg) = full {
        round_trip(&msg);
    }
    if data.len() > LENGTH_PREFIX
        && let Err(FrameError::Oversized { len, max }) = decode_frame(data, 64)
    {
        assert!(len > max);
    }
}

/// Decodes `data` as a frame body (`WireMessage` bytes) and round-trips what decodes.
pub fn wire_message(data: &[u8]) {
    if let Ok(msg) = decode_body(data) {
        round_trip(&msg);
    }
}

fn round_trip(msg: &WireMessage) {
    let frame = match encode_frame(msg, FRAME_LIMIT_CEILING) {
        Ok(frame) => frame,
        Err(e) => panic!("a decoded message does not re-encode: {e}"),
    };
    assert_eq!(
        decode_frame(&frame, FRAME_LIMIT_CEILING).as_ref(),
        Ok(msg),
        "re-encoded message decodes differently"
    );
}

#[cfg(test)]
mod tests {
    //! The fuzz harnesses as bounded property tests: arbitrary bytes, and valid frames with a
    //! few bytes changed or cut (random bytes alone rarely get past the first varint).

    use proptest::prelude::*;

    use super::*;
    use crate::wire::{Hello, PROTOCOL_VERSION, PeerRecord};

    fn valid_frame() -> impl Strategy<Value = Vec<u8>> {
        let did = icn_identity::Keypair::from_secret_bytes(&[9; 32]).did();
        let topics = proptest::collection::vec("[a-z/]{0,12}", 0..4);
        prop_oneof![
            (any::<u32>(), topics.clone(), any::<u64>()).prop_map(
                move |(version, topics, instance)| {
                    WireMessage::Hello(Hello {
                        version: version % (PROTOCOL_VERSION + 2),
                        did,
                        listen_addr: Some(([127, 0, 0, 1], 7777).into()),
                        topics,
                        instance,
                    })
                }
            ),
            proptest::collection::vec(any::<u8>(), 0..300)
                .prop_map(|v| WireMessage::Gossip(v.into())),
            topics.prop_map(WireMessage::Topics),
            (0..3usize).prop_map(move |n| WireMessage::Peers(vec![
                PeerRecord {
                    did,
                    addr: ([10, 0, 0, 1], 1).into()
                };
                n
            ])),
        ]
        .prop_map(|msg| encode_frame(&msg, MAX_FRAME).unwrap_or_default())
    }

    fn mutated_frame() -> impl Strategy<Value = Vec<u8>> {
        (
            valid_frame(),
            proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            any::<prop::sample::Index>(),
            any::<bool>(),
        )
            .prop_map(|(mut frame, edits, cut, truncate)| {
                if !frame.is_empty() {
                    for (at, byte) in edits {
                        let i = at.index(frame.len());
                        frame[i] = byte;
                    }
                    if truncate {
                        frame.truncate(cut.index(frame.len() + 1));
                    }
                }
                frame
            })
    }

    fn input() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..256),
            mutated_frame(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn frame_harness(data in input()) {
            frame(&data);
        }

        #[test]
        fn wire_message_harness(data in input()) {
            wire_message(data.get(LENGTH_PREFIX..).unwrap_or(&[]));
        }
    }
}
