//! What goes into the core and what comes out of it.

use icn_identity::Did;

use crate::entry::{Entry, EntryId, IdentifiedEntry, RejectReason};
use crate::message::GossipMessage;
use crate::topic::Topic;

/// An event for [`super::GossipCore::handle`].
#[derive(Debug, Clone)]
pub enum Input {
    /// A session with `peer` opened. `topics` are its subscriptions if the handshake carried
    /// them (may be empty: its `Topics` message updates them). Repeating it for a peer that
    /// is already up only replaces its topics.
    PeerUp {
        /// The peer.
        peer: Did,
        /// Its subscriptions, if known.
        topics: Vec<Topic>,
    },
    /// The session with `peer` closed: its pending requests move to other announcers.
    PeerDown {
        /// The peer.
        peer: Did,
    },
    /// `peer`'s subscriptions, learned out of band (the core handles `Topics` messages
    /// itself).
    PeerTopics {
        /// The peer.
        peer: Did,
        /// Its full set of subscriptions.
        topics: Vec<Topic>,
    },
    /// A decoded message from a peer that is up (messages from other peers are dropped).
    Message {
        /// The sender, as authenticated by the transport.
        from: Did,
        /// The message.
        msg: GossipMessage,
    },
    /// A local entry, already signed (normally with the node key). It is validated like any
    /// entry and its topic must be subscribed.
    Publish(Entry),
    /// [`Input::Publish`] of an entry signed here: its id is taken from when it was signed
    /// instead of hashing the payload again, and its signature is not checked.
    PublishIdentified(IdentifiedEntry),
    /// Start replicating a topic.
    Subscribe(Topic),
    /// Stop replicating a topic; the core forgets its ids (the actor may delete its entries).
    Unsubscribe(Topic),
    /// The caller could not store these entries (of `Store` outputs it was given): the core
    /// forgets them, so that it neither announces nor reconciles entries the store lacks;
    /// announces and anti-entropy fetch them again, and a local publish can be retried.
    StoreFailed(Vec<EntryId>),
    /// Time passed: retries, session expiry and anti-entropy happen here. Call it often
    /// (every 100 ms or so); it is cheap when there is nothing to do.
    Tick,
}

/// Where a newly stored entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Published locally.
    Local,
    /// Fetched from `from` after an announce, or pushed by `from` (its author or a relay).
    Push {
        /// The peer that sent it.
        from: Did,
    },
    /// Fetched from `from` because a reconciliation found it missing.
    AntiEntropy {
        /// The peer that sent it.
        from: Did,
    },
}

/// Something the caller must do, or account for, after [`super::GossipCore::handle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `msg` to `to`.
    Send {
        /// Recipient.
        to: Did,
        /// The message.
        msg: GossipMessage,
    },
    /// `to` requested these entries, which we hold: load them from the store and send them
    /// as `Response`s (pack them with [`crate::message::pack_entries`]). Ids missing from
    /// the store are skipped.
    SendEntries {
        /// Requester.
        to: Did,
        /// Ids to load and send, ascending, deduplicated.
        ids: Vec<EntryId>,
    },
    /// Send `entries` to every peer in `to`, as `Push` messages naming `pushed_to` (pack them
    /// with [`crate::message::pack_push`]): our own new entries (`pushed_to` is `to`), or
    /// small entries relayed from a peer (`pushed_to` also names the peers known to hold
    /// them).
    Push {
        /// Peers that follow the entries' topic and are not known to hold them.
        to: Vec<Did>,
        /// Entries of one topic.
        entries: Vec<Entry>,
        /// `to` and the peers known to hold the entries, ascending.
        pushed_to: Vec<Did>,
    },
    /// A valid entry we did not hold: write it to the store, then deliver it to local
    /// subscribers of its topic. Counts as published (`Source::Local`) or received; the
    /// delivery delay is `now - entry.timestamp_ms`.
    Store {
        /// Its id (already verified).
        id: EntryId,
        /// The entry.
        entry: Entry,
        /// How it arrived.
        source: Source,
    },
    /// An entry was rejected; count it under `reason`.
    Rejected {
        /// The peer that sent it, `None` for a local publish.
        from: Option<Did>,
        /// Why.
        reason: RejectReason,
    },
    /// Our subscriptions changed (to this full list). The core already told every peer; the
    /// actor may persist the list.
    TopicsChanged(Vec<Topic>),
    /// We opened an anti-entropy reconciliation of `topic` with `peer`.
    AntiEntropyStarted {
        /// The peer.
        peer: Did,
        /// The topic.
        topic: Topic,
    },
}
