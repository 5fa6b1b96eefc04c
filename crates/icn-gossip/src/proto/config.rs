//! Tunables of the gossip core; every cap on its memory is here.

use crate::entry::EntryLimits;
use crate::reconcile::Limits;

/// Configuration of a [`super::GossipCore`]. Times are in milliseconds of the caller's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipConfig {
    /// Payload size and clock-skew bounds every entry must respect (1 MiB, 60 s).
    pub entry_limits: EntryLimits,
    /// How long a peer has to answer a request before we ask another announcer (2000).
    pub request_timeout_ms: u64,
    /// Attempts per requested id, over all its announcers, before giving up (3). Anti-entropy
    /// finds the entry again later if it still exists.
    pub max_request_tries: u32,
    /// Most ids being fetched at once, over all peers (4096): each costs a few hundred bytes.
    pub max_pending_requests: usize,
    /// Most ids requested from one peer and not yet answered (256); more of its ids wait for
    /// a free slot.
    pub max_outstanding_per_peer: usize,
    /// Most pending ids one peer introduced (announced first), asked or waiting for a free
    /// request slot (1024). Its announces beyond that are dropped as `peer_busy`, so one slow
    /// or hostile peer cannot occupy every pending slot.
    pub max_pending_per_peer: usize,
    /// Most ids in one `Announce`, `Request`, `Response` or reconcile `have` (1024); larger
    /// batches are split when sending and truncated (counted) when receiving.
    pub max_ids_per_message: usize,
    /// Whether a small entry (payload at most
    /// [`crate::message::RELAY_PUSH_MAX_PAYLOAD_BYTES`]) received from a peer is pushed on to
    /// the followers of its topic not known to hold it (true), instead of announced to them:
    /// one message per hop instead of announce, request and response. Entries recovered by
    /// anti-entropy are always announced. Receivers accept such pushes either way.
    pub relay_push: bool,
    /// Announcers remembered per pending id, to retry elsewhere on timeout (4).
    pub max_announcers_per_id: usize,
    /// Most topics remembered per peer (1024); the rest of a larger list is ignored.
    pub max_topics_per_peer: usize,
    /// Period of anti-entropy rounds (5000): each round reconciles every subscribed topic
    /// with one peer that shares it.
    pub anti_entropy_interval_ms: u64,
    /// Most reconciliation sessions we have initiated and not seen finish (16).
    pub max_reconcile_sessions: usize,
    /// A session with no message for this long is considered over (10 000).
    pub reconcile_timeout_ms: u64,
    /// Size bounds on reconciliation messages, ours and the peer's (reconcile defaults).
    pub reconcile_limits: Limits,
    /// Length of the window over which each peer's budgets below are counted (1000).
    pub rate_window_ms: u64,
    /// Ids one peer may report holding per window, in `Announce`s and reconciliations
    /// (16 384); the rest are dropped as `rate_limited`. Honest peers announce each entry
    /// once, so only a flood (or a huge catch-up, which anti-entropy resumes) hits it.
    pub max_announced_ids_per_window: usize,
    /// Ids one peer may request from us per window (16 384), known or not: each known id
    /// costs a store read and up to a payload of upload.
    pub max_requested_ids_per_window: usize,
    /// Reconcile messages one peer may send us per window (64): answering one costs a pass
    /// over the ids of the ranges it names.
    pub max_reconciles_per_window: usize,
}

impl Default for GossipConfig {
    fn default() -> Self {
        GossipConfig {
            entry_limits: EntryLimits::default(),
            request_timeout_ms: 2_000,
            max_request_tries: 3,
            max_pending_requests: 4096,
            max_outstanding_per_peer: 256,
            max_pending_per_peer: 1024,
            max_ids_per_message: 1024,
            relay_push: true,
            max_announcers_per_id: 4,
            max_topics_per_peer: 1024,
            anti_entropy_interval_ms: 5_000,
            max_reconcile_sessions: 16,
            reconcile_timeout_ms: 10_000,
            reconcile_limits: Limits::default(),
            rate_window_ms: 1_000,
            max_announced_ids_per_window: 16_384,
            max_requested_ids_per_window: 16_384,
            max_reconciles_per_window: 64,
        }
    }
}
