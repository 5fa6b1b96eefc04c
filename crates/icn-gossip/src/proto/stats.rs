//! Counters of the core's decisions and a snapshot of its memory use.

use std::collections::BTreeMap;
use std::fmt;

use crate::entry::RejectReason;

/// Work the core declined to do, to keep its memory bounded or because it was pointless.
/// None of these lose data for good: anti-entropy recovers whatever a drop skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// A message from a peer that is not up.
    UnknownPeer,
    /// An announce, reconcile or have list for a topic we do not subscribe to.
    NotSubscribed,
    /// Ids beyond `max_ids_per_message` in a received message (or in a reconcile `have`).
    TooManyIds,
    /// Topics beyond `max_topics_per_peer` in a peer's list.
    TooManyTopics,
    /// An id not requested because `max_pending_requests` was reached.
    PendingFull,
    /// An id not fetched because its announcer already had `max_pending_per_peer` ids pending.
    PeerBusy,
    /// A requested id abandoned after `max_request_tries` attempts.
    GaveUp,
    /// A requested id abandoned because every peer that announced it went down.
    NoSource,
    /// A reconciliation message that was malformed or over the limits (session abandoned).
    BadReconcile,
    /// A reconciliation not started because `max_reconcile_sessions` were open.
    SessionLimit,
    /// A reconciliation we started that timed out.
    SessionTimeout,
    /// Ids or reconcile messages beyond a peer's per-window budget
    /// (`max_{announced_ids,requested_ids,reconciles}_per_window`).
    RateLimited,
}

impl DropReason {
    /// The snake_case label.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::UnknownPeer => "unknown_peer",
            DropReason::NotSubscribed => "not_subscribed",
            DropReason::TooManyIds => "too_many_ids",
            DropReason::TooManyTopics => "too_many_topics",
            DropReason::PendingFull => "pending_full",
            DropReason::PeerBusy => "peer_busy",
            DropReason::GaveUp => "gave_up",
            DropReason::NoSource => "no_source",
            DropReason::BadReconcile => "bad_reconcile",
            DropReason::SessionLimit => "session_limit",
            DropReason::SessionTimeout => "session_timeout",
            DropReason::RateLimited => "rate_limited",
        }
    }
}

impl DropReason {
    /// Every reason, in label order.
    pub const ALL: [DropReason; 12] = [
        DropReason::UnknownPeer,
        DropReason::NotSubscribed,
        DropReason::TooManyIds,
        DropReason::TooManyTopics,
        DropReason::PendingFull,
        DropReason::PeerBusy,
        DropReason::GaveUp,
        DropReason::NoSource,
        DropReason::BadReconcile,
        DropReason::SessionLimit,
        DropReason::SessionTimeout,
        DropReason::RateLimited,
    ];
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Cumulative counters since the core was built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries published locally and stored.
    pub published: u64,
    /// Entries received from peers and stored.
    pub received: u64,
    /// Of `received`, those fetched because a reconciliation reported them.
    pub anti_entropy_recovered: u64,
    /// Reconciliations we initiated.
    pub anti_entropy_rounds: u64,
    /// Entries received again after we already held them (ignored).
    pub duplicates: u64,
    /// Rejected entries, by reason.
    pub rejected: BTreeMap<RejectReason, u64>,
    /// Dropped work, by reason (each dropped id or message counts once).
    pub dropped: BTreeMap<DropReason, u64>,
}

impl Stats {
    /// Rejections for `reason`.
    pub fn rejected(&self, reason: RejectReason) -> u64 {
        self.rejected.get(&reason).copied().unwrap_or(0)
    }

    /// Drops for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.get(&reason).copied().unwrap_or(0)
    }

    pub(crate) fn reject(&mut self, reason: RejectReason) {
        *self.rejected.entry(reason).or_default() += 1;
    }

    pub(crate) fn drop_n(&mut self, reason: DropReason, n: usize) {
        if n > 0 {
            *self.dropped.entry(reason).or_default() += n as u64;
        }
    }
}

/// Sizes of the core's growing structures, for metrics and for the simulator's cap checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Entry ids held (subscribed topics only).
    pub entries: usize,
    /// Subscribed topics.
    pub topics: usize,
    /// Peers up.
    pub peers: usize,
    /// Most topics remembered for one peer.
    pub max_peer_topics: usize,
    /// Ids being fetched (asked or waiting for a peer with capacity).
    pub pending: usize,
    /// Most ids outstanding at one peer.
    pub max_outstanding: usize,
    /// Most pending ids introduced by one peer.
    pub max_introduced: usize,
    /// Most announcers remembered for one pending id.
    pub max_announcers: usize,
    /// Reconciliations we initiated that are still open.
    pub sessions: usize,
}
