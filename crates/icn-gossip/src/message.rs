//! The gossip wire messages and their codec (bincode over serde, standard config, bounded).
//!
//! `icn-net` frames the bytes; this module turns one frame into one [`GossipMessage`] and back,
//! and never trusts a length it reads: decoding stops at [`MAX_FRAME_BYTES`] and rejects
//! trailing bytes.

use bytes::Bytes;
use icn_identity::Did;
use icn_net::GossipBody;
use serde::{Deserialize, Serialize};

use crate::entry::{Entry, EntryId, RejectReason};
use crate::reconcile::ReconcileMessage;
use crate::topic::{TOPIC_ERROR_PREFIX, Topic};

/// Largest encoded message, and the decoder's allocation limit: 4 MiB.
pub const MAX_FRAME_BYTES: usize = 4 << 20;

/// Upper bound on the bytes an [`Entry`] adds to an encoded `Response`, beyond its topic and
/// payload: length prefixes (at most 9 bytes each), author, timestamp and signature.
pub const ENTRY_OVERHEAD_BYTES: usize = 9 + (1 + 32) + 9 + 9 + (1 + 64);

/// Largest payload a peer may push without being the entry's author (1 KiB): a relay pushes
/// such a small entry on instead of announcing it, since the announce, request and response
/// it saves cost as much as the duplicate copies a push may deliver (each dropped by its id,
/// before any signature check).
pub const RELAY_PUSH_MAX_PAYLOAD_BYTES: usize = 1024;

/// Whether `entry` is small enough for any peer, not only its author, to push it
/// ([`RELAY_PUSH_MAX_PAYLOAD_BYTES`]): the one rule relays and receivers both go by.
pub fn relay_pushable(entry: &Entry) -> bool {
    entry.payload.len() <= RELAY_PUSH_MAX_PAYLOAD_BYTES
}

/// Upper bound on a `Response`'s own bytes besides its entries (variant tag, vector length).
const RESPONSE_OVERHEAD_BYTES: usize = 5 + 9;

/// One gossip message between two peers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GossipMessage {
    /// The sender's full set of subscribed topics; sent on connect and whenever it changes.
    Topics {
        /// Every topic the sender subscribes to.
        topics: Vec<Topic>,
    },
    /// The sender newly holds these entries of `topic`.
    Announce {
        /// Topic of the entries.
        topic: Topic,
        /// Their ids.
        ids: Vec<EntryId>,
    },
    /// Asks the receiver for these entries (ones it announced or reconciliation reported).
    Request {
        /// Ids wanted.
        ids: Vec<EntryId>,
    },
    /// Entries answering a `Request`, sent only to the requester.
    Response {
        /// The entries the sender holds among those requested.
        entries: Vec<Entry>,
    },
    /// One step of an anti-entropy reconciliation of `topic` (see [`crate::reconcile`]).
    Reconcile {
        /// Topic whose id sets are being compared.
        topic: Topic,
        /// Next reconciliation message to answer; `None` ends the session.
        msg: Option<ReconcileMessage>,
        /// Ids the sender holds that the receiver lacks: the receiver requests them.
        have: Vec<EntryId>,
    },
    /// New entries sent unasked to peers that follow their topic: an author's own (held by
    /// no one else yet, so this costs no duplicate copy and saves the announce and request
    /// round trip), or small ones a relay passes on (payload at most
    /// [`RELAY_PUSH_MAX_PAYLOAD_BYTES`]). A larger entry is accepted only from its author.
    Push {
        /// The entries.
        entries: Vec<Entry>,
        /// Peers known to hold the entries, or sent them: the receiver neither announces nor
        /// pushes them to those.
        pushed_to: Vec<Did>,
    },
}

/// Why a message could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The encoding exceeds [`MAX_FRAME_BYTES`] (too many entries in one `Response`: see
    /// [`pack_entries`]).
    #[error("encoded message is {len} bytes, the limit is {MAX_FRAME_BYTES}")]
    TooLarge {
        /// Encoded length.
        len: usize,
    },
    /// bincode failed (does not happen for these types).
    #[error("encoding failed: {0}")]
    Bincode(#[from] bincode::error::EncodeError),
}

/// Why bytes are not a valid message.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The input is longer than the caller's limit (not decoded at all).
    #[error("message is {len} bytes, the limit is {max}")]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A message decoded but did not use every byte.
    #[error("{extra} trailing bytes after the message")]
    TrailingBytes {
        /// Bytes left over.
        extra: usize,
    },
    /// A topic name broke the topic rules.
    #[error("{0}")]
    BadTopic(String),
    /// Anything else: truncated, unknown variant, lengths over the limit, invalid key, ...
    #[error("malformed message: {0}")]
    Malformed(#[source] bincode::error::DecodeError),
}

impl DecodeError {
    /// The `reason` label under which the actor counts this rejection.
    pub fn reject_reason(&self) -> RejectReason {
        match self {
            DecodeError::BadTopic(_) => RejectReason::BadTopic,
            _ => RejectReason::Malformed,
        }
    }
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME_BYTES>()
}

/// Encodes a message.
///
/// # Errors
/// [`EncodeError::TooLarge`] when the result would exceed [`MAX_FRAME_BYTES`].
pub fn encode(msg: &GossipMessage) -> Result<Vec<u8>, EncodeError> {
    let bytes = icn_net::wire::encode_exact(msg, config(), 0)?;
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(EncodeError::TooLarge { len: bytes.len() });
    }
    Ok(bytes)
}

/// [`encode`], with room in front for the network layer's frame header, so that framing it
/// copies nothing.
///
/// # Errors
/// [`EncodeError::TooLarge`] when the result would exceed [`MAX_FRAME_BYTES`].
pub fn encode_body(msg: &GossipMessage) -> Result<GossipBody, EncodeError> {
    let body = GossipBody::encode(msg, config())?;
    if body.len() > MAX_FRAME_BYTES {
        return Err(EncodeError::TooLarge { len: body.len() });
    }
    Ok(body)
}

/// [`decode`] of a received buffer: entries' payloads are slices of `bytes`
/// (`payload_bytes`), not copies.
///
/// # Errors
/// As [`decode`].
pub fn decode_shared(bytes: &Bytes, max_len: usize) -> Result<GossipMessage, DecodeError> {
    crate::payload_bytes::sharing(bytes, || decode(bytes, max_len))
}

/// Decodes exactly one message from `bytes`, which may hold at most `max_len` bytes.
///
/// Allocation is bounded by [`MAX_FRAME_BYTES`] whatever lengths the input claims.
///
/// # Errors
/// [`DecodeError`]: input too long, malformed, an invalid topic, or trailing bytes.
pub fn decode(bytes: &[u8], max_len: usize) -> Result<GossipMessage, DecodeError> {
    if bytes.len() > max_len {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: max_len,
        });
    }
    match bincode::serde::borrow_decode_from_slice::<GossipMessage, _>(bytes, config()) {
        Ok((msg, read)) if read == bytes.len() => Ok(msg),
        Ok((_, read)) => Err(DecodeError::TrailingBytes {
            extra: bytes.len().saturating_sub(read),
        }),
        Err(bincode::error::DecodeError::OtherString(s)) if s.starts_with(TOPIC_ERROR_PREFIX) => {
            Err(DecodeError::BadTopic(s))
        }
        Err(e) => Err(DecodeError::Malformed(e)),
    }
}

/// Splits `ids` into lists of at most `max` (at least 1) for `Announce`, `Request` and
/// `SendEntries`, in order; a list that already fits is moved, not copied.
pub fn id_chunks(mut ids: Vec<EntryId>, max: usize) -> Vec<Vec<EntryId>> {
    let max = max.max(1);
    let mut chunks = Vec::with_capacity(ids.len().div_ceil(max));
    while ids.len() > max {
        let rest = ids.split_off(max);
        chunks.push(std::mem::replace(&mut ids, rest));
    }
    if !ids.is_empty() {
        chunks.push(ids);
    }
    chunks
}

/// Upper bound on the bytes `entry` adds to an encoded `Response`.
pub fn entry_size_bound(entry: &Entry) -> usize {
    entry.topic.as_str().len() + entry.payload.len() + ENTRY_OVERHEAD_BYTES
}

/// Packs entries into as few `Response` messages as fit in `max_frame` bytes each, in order.
/// An entry too large for any frame gets a message of its own (its encoding then fails with
/// [`EncodeError::TooLarge`]: keep `max_payload_bytes` well below the frame size).
pub fn pack_entries(
    entries: impl IntoIterator<Item = Entry>,
    max_frame: usize,
) -> Vec<GossipMessage> {
    pack(
        entries,
        max_frame,
        usize::MAX,
        RESPONSE_OVERHEAD_BYTES,
        |entries| GossipMessage::Response { entries },
    )
}

/// Upper bound on the bytes a DID adds to an encoded `pushed_to` list.
const DID_SIZE_BOUND: usize = 9 + 32;

/// Packs our own `entries` into as few `Push` messages naming `pushed_to` as fit in
/// `max_frame` bytes and `max_entries` entries each (a receiver takes at most its
/// `max_ids_per_message` from one message), in order; as [`pack_entries`] for an entry too
/// large for any frame.
pub fn pack_push(
    entries: impl IntoIterator<Item = Entry>,
    pushed_to: &[Did],
    max_frame: usize,
    max_entries: usize,
) -> Vec<GossipMessage> {
    let overhead = RESPONSE_OVERHEAD_BYTES + 9 + DID_SIZE_BOUND * pushed_to.len();
    pack(entries, max_frame, max_entries, overhead, |entries| {
        GossipMessage::Push {
            entries,
            pushed_to: pushed_to.to_vec(),
        }
    })
}

/// Groups entries into messages made by `wrap`, each at most `max_frame` bytes given
/// `overhead` bytes besides the entries, and at most `max_entries` (at least 1) entries.
fn pack(
    entries: impl IntoIterator<Item = Entry>,
    max_frame: usize,
    max_entries: usize,
    overhead: usize,
    wrap: impl Fn(Vec<Entry>) -> GossipMessage,
) -> Vec<GossipMessage> {
    let mut out = Vec::new();
    let mut batch: Vec<Entry> = Vec::new();
    let mut size = overhead;
    for entry in entries {
        let add = entry_size_bound(&entry);
        if !batch.is_empty() && (size + add > max_frame || batch.len() >= max_entries) {
            out.push(wrap(std::mem::take(&mut batch)));
            size = overhead;
        }
        size += add;
        batch.push(entry);
    }
    if !batch.is_empty() {
        out.push(wrap(batch));
    }
    out
}

#[cfg(test)]
mod tests;
