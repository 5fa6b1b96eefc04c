//! Entry payloads as [`Bytes`] that share a received frame's buffer instead of copying it.
//!
//! serde cannot hand a deserialized value a counted handle on its input, only a borrowed
//! slice of it. [`sharing`] therefore names the buffer being decoded for the length of one
//! (synchronous) decode, in a thread-local, and the payload's deserializer turns a borrowed
//! slice that lies inside that buffer into a slice of it (`Bytes::slice_ref`): the 64 KiB
//! payload of a received entry is then the frame's own bytes, not a copy of them. A payload
//! smaller than an eighth of the buffer, or in a buffer above 1 MiB, is copied: an entry kept
//! alive (in a lagging subscriber's queue, say) pins at most eight times its size and never
//! more than 1 MiB, what one entry of the default largest payload held before.
//!
//! Encoded as before: a length, then the bytes (what `serde_bytes` wrote for a `Vec<u8>`).

use std::cell::RefCell;
use std::fmt;

use bytes::Bytes;
use serde::de::{self, SeqAccess};
use serde::{Deserializer, Serializer};

/// A payload shares the buffer it was decoded from when the buffer is at most this many
/// times its size...
const MAX_PINNED_RATIO: usize = 8;
/// ... and at most this large (the default `EntryLimits::max_payload_bytes`; pushes and
/// responses are packed up to 512 KiB).
const MAX_SHARED_BUFFER: usize = 1 << 20;

thread_local! {
    static SOURCE: RefCell<Option<Bytes>> = const { RefCell::new(None) };
}

/// Runs `decode` (a decode of `source`) with payloads sharing `source`'s buffer.
pub(crate) fn sharing<T>(source: &Bytes, decode: impl FnOnce() -> T) -> T {
    /// Puts back the buffer named before, also when `decode` unwinds.
    struct Restore(Option<Bytes>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            SOURCE.with(|source| *source.borrow_mut() = previous);
        }
    }
    let _restore = Restore(SOURCE.with(|current| current.replace(Some(source.clone()))));
    decode()
}

/// `slice` as a slice of the buffer being decoded when it lies inside it and is big enough
/// against it; a copy otherwise.
fn share(slice: &[u8]) -> Bytes {
    SOURCE.with(|source| match source.borrow().as_ref() {
        Some(buffer)
            if !slice.is_empty()
                && buffer.len() <= MAX_SHARED_BUFFER
                && slice.len().saturating_mul(MAX_PINNED_RATIO) >= buffer.len()
                && buffer.as_ptr_range().start <= slice.as_ptr()
                && slice.as_ptr_range().end <= buffer.as_ptr_range().end =>
        {
            buffer.slice_ref(slice)
        }
        _ => Bytes::copy_from_slice(slice),
    })
}

/// serde `with` module for a payload field.
pub(crate) fn serialize<S: Serializer>(bytes: &Bytes, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_bytes(bytes)
}

/// serde `with` module for a payload field.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
    deserializer.deserialize_bytes(PayloadVisitor)
}

struct PayloadVisitor;

impl<'de> de::Visitor<'de> for PayloadVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Bytes, E> {
        Ok(share(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
        Ok(Bytes::copy_from_slice(v))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
        Ok(Bytes::from(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(byte) = seq.next_element()? {
            bytes.push(byte);
        }
        Ok(Bytes::from(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Holder {
        #[serde(with = "super")]
        payload: Bytes,
        tail: u8,
    }

    fn decode(buffer: &Bytes) -> Holder {
        let config = bincode::config::standard();
        sharing(buffer, || {
            bincode::serde::borrow_decode_from_slice::<Holder, _>(buffer, config)
                .unwrap()
                .0
        })
    }

    fn encode(len: usize) -> Bytes {
        let holder = Holder {
            payload: vec![7; len].into(),
            tail: 1,
        };
        bincode::serde::encode_to_vec(&holder, bincode::config::standard())
            .unwrap()
            .into()
    }

    fn within(inner: &Bytes, outer: &Bytes) -> bool {
        outer.as_ptr_range().contains(&inner.as_ptr())
    }

    #[test]
    fn a_large_payload_is_a_slice_of_the_buffer_and_a_small_one_a_copy() {
        let buffer = encode(4096);
        let held = decode(&buffer);
        assert_eq!(held.payload, vec![7; 4096]);
        assert!(within(&held.payload, &buffer));

        // 100 bytes in a buffer of ~4 KiB: copied, the buffer is not pinned.
        let mut padded = encode(100).to_vec();
        padded.extend_from_slice(&[0; 4000]);
        let buffer = Bytes::from(padded);
        let config = bincode::config::standard();
        let held = sharing(&buffer, || {
            bincode::serde::borrow_decode_from_slice::<Holder, _>(&buffer, config)
                .unwrap()
                .0
        });
        assert_eq!(held.payload, vec![7; 100]);
        assert!(!within(&held.payload, &buffer));
    }

    #[test]
    fn a_payload_in_a_buffer_above_a_mebibyte_is_a_copy() {
        let buffer = encode(MAX_SHARED_BUFFER - 100);
        assert!(within(&decode(&buffer).payload, &buffer));
        let buffer = encode(MAX_SHARED_BUFFER + 1);
        let held = decode(&buffer);
        assert_eq!(held.payload.len(), MAX_SHARED_BUFFER + 1);
        assert!(!within(&held.payload, &buffer));
    }

    #[test]
    fn outside_sharing_or_for_another_buffer_it_is_a_copy() {
        let buffer = encode(4096);
        let config = bincode::config::standard();
        let (held, _) =
            bincode::serde::borrow_decode_from_slice::<Holder, _>(&buffer, config).unwrap();
        assert!(!within(&held.payload, &buffer));

        let other = encode(10);
        let held = sharing(&other, || {
            bincode::serde::borrow_decode_from_slice::<Holder, _>(&buffer, config)
                .unwrap()
                .0
        });
        assert!(!within(&held.payload, &buffer));
        assert_eq!(held.payload.len(), 4096);
        SOURCE.with(|source| assert!(source.borrow().is_none(), "reset after sharing"));
    }

    #[test]
    fn owned_decoding_and_json_still_work() {
        let buffer = encode(300);
        let (held, _): (Holder, usize) =
            bincode::serde::decode_from_slice(&buffer, bincode::config::standard()).unwrap();
        assert_eq!(held.payload.len(), 300);
        let json = serde_json::to_string(&held).unwrap();
        assert_eq!(serde_json::from_str::<Holder>(&json).unwrap(), held);
    }
}
