//! Signed gossip entries, their content-addressed ids, and the checks every entry passes
//! before it is stored.
//!
//! # Ids
//! [`EntryId`] is blake3 (in key-derivation mode, context [`ID_CONTEXT`], which separates it
//! from every other use of blake3) over a canonical encoding of everything but the signature:
//!
//! ```text
//! u64 LE topic length ‖ topic bytes ‖ 32 author key bytes ‖ u64 LE timestamp_ms ‖
//! u64 LE payload length ‖ payload bytes
//! ```
//!
//! Fixed-width lengths make the encoding injective; it does not depend on serde or bincode, so
//! ids stay stable whatever the wire format becomes. The author signs
//! `SIGNING_DOMAIN ‖ id` (see [`Entry::sign`]).
//!
//! # Claimed ids are never trusted
//! An entry on the wire carries no id: the receiver recomputes it from the content. An entry
//! whose recomputed id is not one the receiver asked for (because a peer announced it, or
//! reconciliation reported it) is rejected as [`RejectReason::Unsolicited`]. A peer that
//! announces id X and then answers with some other entry therefore gets that entry rejected,
//! and X stays pending until another peer provides it or the request is given up.

use std::fmt;

use bytes::Bytes;
use icn_identity::{Did, Keypair, Signature};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::topic::Topic;

/// blake3 key-derivation context of entry ids; changing it changes every id.
pub const ID_CONTEXT: &str = "icn-gossip 2026-11-24 entry id v1";

/// Prefix of the message an author signs (followed by the 32 id bytes), so an entry signature
/// can never be mistaken for a signature of anything else the node key signs.
pub const SIGNING_DOMAIN: &[u8] = b"icn-gossip/entry-signature/v1\0";

/// Default [`EntryLimits::max_payload_bytes`]: 1 MiB.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 1 << 20;

/// Default [`EntryLimits::max_clock_skew_ms`]: 60 s.
pub const DEFAULT_MAX_CLOCK_SKEW_MS: u64 = 60_000;

/// The content address of an entry: see the module doc.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId([u8; 32]);

impl EntryId {
    /// Wraps 32 bytes (for ids read from a store or a reconciliation).
    pub const fn from_bytes(bytes: [u8; 32]) -> EntryId {
        EntryId(bytes)
    }

    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 4 bytes in hex, for log lines.
    pub fn short(&self) -> String {
        hex(&self.0[..4])
    }
}

/// Full lowercase hex.
impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

/// Short form: `EntryId(1a2b3c4d)`.
impl fmt::Debug for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryId({})", self.short())
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Serde: 64 hex characters in human-readable formats, 32 raw bytes in binary ones.
impl Serialize for EntryId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for EntryId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<EntryId, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(IdVisitor)
        } else {
            deserializer.deserialize_bytes(IdVisitor)
        }
    }
}

struct IdVisitor;

impl<'de> Visitor<'de> for IdVisitor {
    type Value = EntryId;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("32 id bytes, or 64 hex characters")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<EntryId, E> {
        v.try_into()
            .map(EntryId)
            .map_err(|_| E::invalid_length(v.len(), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<EntryId, E> {
        let raw = v.as_bytes();
        if raw.len() != 64 {
            return Err(E::invalid_length(raw.len(), &self));
        }
        let nibble = |c: u8| char::from(c).to_digit(16);
        let mut out = [0u8; 32];
        for (i, slot) in out.iter_mut().enumerate() {
            match (nibble(raw[2 * i]), nibble(raw[2 * i + 1])) {
                // Both digits are below 16, so the byte fits.
                (Some(hi), Some(lo)) => *slot = (hi * 16 + lo) as u8,
                _ => return Err(E::invalid_value(de::Unexpected::Str(v), &self)),
            }
        }
        Ok(EntryId(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EntryId, A::Error> {
        let mut out = [0u8; 32];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = seq
                .next_element()?
                .ok_or_else(|| de::Error::invalid_length(i, &self))?;
        }
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(33, &self));
        }
        Ok(EntryId(out))
    }
}

/// Size and clock bounds an entry must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryLimits {
    /// Largest accepted payload (default [`DEFAULT_MAX_PAYLOAD_BYTES`]).
    pub max_payload_bytes: usize,
    /// How far in the future (by our clock) a timestamp may be, to absorb clock differences
    /// between nodes (default [`DEFAULT_MAX_CLOCK_SKEW_MS`]). Past timestamps are accepted:
    /// anti-entropy legitimately delivers old entries.
    pub max_clock_skew_ms: u64,
}

impl Default for EntryLimits {
    fn default() -> Self {
        EntryLimits {
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            max_clock_skew_ms: DEFAULT_MAX_CLOCK_SKEW_MS,
        }
    }
}

/// Why an entry (or a gossip message carrying entries) was rejected: the closed set of values
/// of the `reason` label of `icn_gossip_entries_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectReason {
    /// The message could not be decoded (reported by the actor; the core never sees it).
    Malformed,
    /// The message named an invalid topic (reported by the actor from
    /// [`crate::message::DecodeError::reject_reason`]: topics are validated while decoding).
    BadTopic,
    /// The payload exceeds [`EntryLimits::max_payload_bytes`].
    PayloadTooLarge,
    /// The timestamp is further in the future than [`EntryLimits::max_clock_skew_ms`].
    FutureTimestamp,
    /// The signature does not verify against the author's key.
    BadSignature,
    /// The recomputed id was never requested: an unsolicited push, or an answer whose content
    /// does not match the id that was announced (a forged or mismatching id).
    Unsolicited,
    /// The entry's topic is not one we subscribe to.
    NotSubscribed,
}

impl RejectReason {
    /// Every reason, in label order.
    pub const ALL: [RejectReason; 7] = [
        RejectReason::Malformed,
        RejectReason::BadTopic,
        RejectReason::PayloadTooLarge,
        RejectReason::FutureTimestamp,
        RejectReason::BadSignature,
        RejectReason::Unsolicited,
        RejectReason::NotSubscribed,
    ];

    /// The snake_case metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectReason::Malformed => "malformed",
            RejectReason::BadTopic => "bad_topic",
            RejectReason::PayloadTooLarge => "payload_too_large",
            RejectReason::FutureTimestamp => "future_timestamp",
            RejectReason::BadSignature => "bad_signature",
            RejectReason::Unsolicited => "unsolicited",
            RejectReason::NotSubscribed => "not_subscribed",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One signed gossip entry. The id is not part of it: see [`Entry::id`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Topic the entry is published on.
    pub topic: Topic,
    /// Who wrote and signed it.
    pub author: Did,
    /// Author's clock at publication, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Opaque application data; a received entry's shares the frame it came in
    /// (`payload_bytes`), and clones share it too.
    #[serde(with = "crate::payload_bytes")]
    pub payload: Bytes,
    /// Author's signature over `SIGNING_DOMAIN ‖ id`.
    pub signature: Signature,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("id", &self.id())
            .field("topic", &self.topic)
            .field("author", &self.author.short())
            .field("timestamp_ms", &self.timestamp_ms)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// An entry signed here, with the id its signature covers: computed once, when it was signed,
/// so that publishing it does not hash the payload again (~40 µs for 64 KiB, per hash).
#[derive(Clone, Debug)]
pub struct IdentifiedEntry {
    entry: Entry,
    id: EntryId,
}

impl IdentifiedEntry {
    /// Builds and signs an entry with `keypair`, which becomes its author.
    pub fn sign(
        keypair: &Keypair,
        topic: Topic,
        timestamp_ms: u64,
        payload: impl Into<Bytes>,
    ) -> Self {
        let payload = payload.into();
        let author = keypair.did();
        let id = compute_id(&topic, &author, timestamp_ms, &payload);
        let entry = Entry {
            topic,
            author,
            timestamp_ms,
            payload,
            signature: keypair.sign(&signing_message(&id)),
        };
        Self { entry, id }
    }

    /// The entry's id.
    pub fn id(&self) -> EntryId {
        self.id
    }

    /// The entry.
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// The entry and its id.
    pub fn into_parts(self) -> (Entry, EntryId) {
        (self.entry, self.id)
    }
}

impl Entry {
    /// Builds and signs an entry with `keypair`, which becomes its author.
    pub fn sign(
        keypair: &Keypair,
        topic: Topic,
        timestamp_ms: u64,
        payload: impl Into<Bytes>,
    ) -> Entry {
        IdentifiedEntry::sign(keypair, topic, timestamp_ms, payload).entry
    }

    /// The content address, recomputed from the fields (never cached, never taken from a peer).
    pub fn id(&self) -> EntryId {
        compute_id(&self.topic, &self.author, self.timestamp_ms, &self.payload)
    }

    /// Every check but the interest checks (requested? subscribed?), cheapest first: payload
    /// size, timestamp, then the signature over the recomputed id, which is returned.
    ///
    /// # Errors
    /// [`RejectReason::PayloadTooLarge`], [`RejectReason::FutureTimestamp`] or
    /// [`RejectReason::BadSignature`]. The topic needs no check: a [`Topic`] is always valid.
    pub fn verify(&self, limits: &EntryLimits, now_ms: u64) -> Result<EntryId, RejectReason> {
        self.check_limits(limits, now_ms)?;
        let id = self.id();
        self.check_signature(&id)?;
        Ok(id)
    }

    /// The cheap checks: payload size and timestamp.
    ///
    /// # Errors
    /// [`RejectReason::PayloadTooLarge`] or [`RejectReason::FutureTimestamp`].
    pub fn check_limits(&self, limits: &EntryLimits, now_ms: u64) -> Result<(), RejectReason> {
        if self.payload.len() > limits.max_payload_bytes {
            return Err(RejectReason::PayloadTooLarge);
        }
        if self.timestamp_ms > now_ms.saturating_add(limits.max_clock_skew_ms) {
            return Err(RejectReason::FutureTimestamp);
        }
        Ok(())
    }

    /// Checks the signature against `id`, which must be `self.id()`.
    ///
    /// # Errors
    /// [`RejectReason::BadSignature`].
    pub fn check_signature(&self, id: &EntryId) -> Result<(), RejectReason> {
        self.author
            .verify(&signing_message(id), &self.signature)
            .map_err(|_| RejectReason::BadSignature)
    }

    /// Checks, as one batch (`icn_identity::verify`), the signatures of the `(entry, id)`
    /// pairs `wanted` picks (each needs `id == entry.id()`). A picked entry's result is what
    /// [`Entry::check_signature`] gives for it; the others get `None`.
    pub fn check_signatures_where(
        entries: &[(Entry, EntryId)],
        wanted: impl Fn(&Entry, &EntryId) -> bool,
    ) -> Vec<Option<Result<(), RejectReason>>> {
        icn_identity::verify_batch_where(entries, |(entry, id)| {
            wanted(entry, id).then(|| (entry.author, signing_message(id), entry.signature))
        })
        .into_iter()
        .map(|result| result.map(|r| r.map_err(|_| RejectReason::BadSignature)))
        .collect()
    }
}

fn compute_id(topic: &Topic, author: &Did, timestamp_ms: u64, payload: &[u8]) -> EntryId {
    let mut hasher = blake3::Hasher::new_derive_key(ID_CONTEXT);
    let topic = topic.as_str().as_bytes();
    hasher.update(&(topic.len() as u64).to_le_bytes());
    hasher.update(topic);
    hasher.update(author.as_bytes());
    hasher.update(&timestamp_ms.to_le_bytes());
    hasher.update(&(payload.len() as u64).to_le_bytes());
    hasher.update(payload);
    EntryId(*hasher.finalize().as_bytes())
}

/// The message an author signs for the entry whose id is `id`: `SIGNING_DOMAIN ‖ id`.
pub fn signing_message(id: &EntryId) -> Vec<u8> {
    let mut msg = Vec::with_capacity(SIGNING_DOMAIN.len() + 32);
    msg.extend_from_slice(SIGNING_DOMAIN);
    msg.extend_from_slice(&id.0);
    msg
}

#[cfg(test)]
mod tests;
