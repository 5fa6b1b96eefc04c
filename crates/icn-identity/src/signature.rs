//! The 64-byte Ed25519 signature value type.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::hex;

/// An Ed25519 signature (64 bytes: `R || s`).
///
/// This is a plain value: it is only checked when passed to [`crate::Did::verify`].
///
/// Serde: lowercase hex (128 characters) in human-readable formats, the 64 raw bytes in
/// binary formats.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct Signature([u8; 64]);

impl Signature {
    /// Wraps 64 signature bytes.
    pub fn from_bytes(bytes: &[u8; 64]) -> Signature {
        Signature(*bytes)
    }

    /// The 64 signature bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(&self.0))
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&hex::encode(&self.0))
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Signature, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(SignatureVisitor)
        } else {
            deserializer.deserialize_bytes(SignatureVisitor)
        }
    }
}

struct SignatureVisitor;

impl<'de> Visitor<'de> for SignatureVisitor {
    type Value = Signature;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("64 signature bytes, or 128 hex characters")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Signature, E> {
        hex::decode_array::<64>(v).map(Signature).map_err(E::custom)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Signature, E> {
        v.try_into()
            .map(Signature)
            .map_err(|_| E::invalid_length(v.len(), &self))
    }

    // Some binary formats hand byte strings over as sequences of u8.
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Signature, A::Error> {
        visit_byte_seq::<64, A>(seq, &self).map(Signature)
    }
}

/// Reads exactly `N` bytes from a serde sequence, rejecting shorter and longer ones.
pub(crate) fn visit_byte_seq<'de, const N: usize, A: SeqAccess<'de>>(
    mut seq: A,
    expected: &dyn de::Expected,
) -> Result<[u8; N], A::Error> {
    let mut out = [0u8; N];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(i, expected))?;
    }
    if seq.next_element::<de::IgnoredAny>()?.is_some() {
        return Err(de::Error::invalid_length(N + 1, expected));
    }
    Ok(out)
}
