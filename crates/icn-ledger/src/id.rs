//! Op ids and the total order the ledger folds ops in.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The id of an op: blake3 of its canonical signing bytes (see [`crate::Op::signing_bytes`]).
///
/// The signature is not part of the id, so one op re-signed by its author (Ed25519 signatures
/// are deterministic, but nothing forces an author to use the same nonce) is still one op.
///
/// Serde: 64 lowercase hex characters in human-readable formats, the 32 raw bytes in binary
/// ones.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId([u8; 32]);

impl OpId {
    /// Wraps 32 id bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> OpId {
        OpId(bytes)
    }

    /// The 32 id bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 8 hex characters, for log lines.
    pub fn short(&self) -> String {
        hex_encode(&self.0[..4])
    }
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex_encode(&self.0))
    }
}

impl fmt::Debug for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpId({})", self.short())
    }
}

/// Why a string is not an [`OpId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an op id is 64 hex characters")]
pub struct OpIdParseError;

impl FromStr for OpId {
    type Err = OpIdParseError;

    fn from_str(s: &str) -> Result<OpId, OpIdParseError> {
        let raw = s.as_bytes();
        if raw.len() != 64 {
            return Err(OpIdParseError);
        }
        let mut out = [0u8; 32];
        for (slot, pair) in out.iter_mut().zip(raw.chunks_exact(2)) {
            let hi = nibble(pair[0]).ok_or(OpIdParseError)?;
            let lo = nibble(pair[1]).ok_or(OpIdParseError)?;
            *slot = (hi << 4) | lo;
        }
        Ok(OpId(out))
    }
}

impl Serialize for OpId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for OpId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<OpId, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(OpIdVisitor)
        } else {
            deserializer.deserialize_bytes(OpIdVisitor)
        }
    }
}

struct OpIdVisitor;

impl<'de> Visitor<'de> for OpIdVisitor {
    type Value = OpId;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("32 op-id bytes, or 64 hex characters")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<OpId, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<OpId, E> {
        v.try_into()
            .map(OpId)
            .map_err(|_| E::invalid_length(v.len(), &self))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OpId, A::Error> {
        let mut out = [0u8; 32];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = seq
                .next_element()?
                .ok_or_else(|| de::Error::invalid_length(i, &self))?;
        }
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(33, &self));
        }
        Ok(OpId(out))
    }
}

/// An op's position in the fold order: by timestamp, then by seq (a transfer's; 0 for other
/// ops), then by id.
///
/// Every node sorts the ops it holds by this key, so the order is total and the same
/// everywhere. The seq before the id lets one payer make any number of transfers in one
/// millisecond: they fold in seq order, so its node need not move its timestamps ahead of
/// its clock to keep them in order (with `(timestamp, id)` alone a node could place one op
/// per millisecond, and a busy ledger's timestamps would run ahead of real time).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OrderKey {
    /// The op's `timestamp_ms` (milliseconds since the Unix epoch, as the author claims).
    pub timestamp_ms: u64,
    /// The transfer's seq; 0 for ops that have none.
    pub seq: u64,
    /// The op's id, breaking the remaining ties.
    pub id: OpId,
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

fn hex_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}
