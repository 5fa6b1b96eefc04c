//! The gossip protocol as a pure state machine, [`GossipCore`].
//!
//! # Contract
//! - In: [`GossipCore::handle`]`(input, now_ms)` for every [`Input`]: peers going up and down,
//!   decoded messages from peers that are up, local publish/subscribe/unsubscribe, and a
//!   periodic [`Input::Tick`].
//! - Out: the [`Output`]s it returns, in order. The caller performs them (send, load and
//!   send, store then deliver, count) and never reports back: a lost message is just a
//!   request that times out.
//! - Time: `now_ms` is the caller's clock and never goes backwards (a smaller value is read as
//!   the largest seen so far). The core reads no clock, does no IO, never blocks and has no
//!   tokio; its only randomness is the seed given to [`GossipCore::new`]. Ordered collections
//!   throughout make the outputs a function of (seed, inputs): one seed replays one run.
//! - State: ids and a little metadata per held entry; payloads never outlive a `handle` call
//!   (the store has them: [`Output::SendEntries`] asks the caller to load them). After a restart the caller
//!   rebuilds the core from the store's ids. Everything else is bounded by [`GossipConfig`];
//!   work over a cap is dropped and counted in [`Stats::dropped`], and anti-entropy later
//!   recovers whatever a drop skipped.
//!
//! # Protocol
//! Push: a node's own new entries go to every peer that follows their topic as
//! [`Output::Push`] (`Push { entries, pushed_to }` on the wire): a fresh entry is normally held
//! by no one else, so this costs no duplicate copy and saves the announce and request round
//! trip. A push spends the peer's announce budget, and its entries get every check of a fetched
//! one.
//!
//! Relay push: a node that newly holds a small entry of another author (payload at most
//! [`message::RELAY_PUSH_MAX_PAYLOAD_BYTES`]), pushed to it or fetched after an announce, pushes
//! it on the same way to the followers of its topic it does not know to hold it (the peer it
//! came from, earlier announcers, and the `pushed_to` of the push that brought it), naming those
//! in its own `pushed_to`. One message per hop instead of announce, request and response; the
//! duplicate copies this costs are dropped by id before any signature check. A larger entry
//! is accepted in a push only from its author.
//!
//! Pull: a node that newly holds a larger entry of another author, or any entry anti-entropy
//! recovered, sends `Announce { topic, ids }` to the peers interested in the topic, except those
//! it knows hold it (the peer it came from, earlier announcers, and the `pushed_to` of the push
//! that brought it). A peer lacking an id asks one announcer
//! (`Request`), remembers up to `max_announcers_per_id` others, and on timeout asks
//! the next one, up to `max_request_tries` attempts. Only requested ids are accepted from a
//! `Response`; every entry is verified (see [`crate::entry`]) before it is stored and
//! re-announced.
//!
//! Anti-entropy: every `anti_entropy_interval_ms`, for each subscribed topic, the core
//! reconciles its id set with one random peer that shares the topic and has no session open
//! with us on it ([`crate::reconcile`], carried in `Reconcile` messages; both sides answer
//! statelessly, the initiator only keeps a session record to bound how many it runs). A side's `need` ids are requested from the
//! peer, its `have` ids travel in its next `Reconcile` message and the peer requests them.
//!
//! Budgets: per peer and per `rate_window_ms`, the ids it reports holding, the ids it
//! requests and its reconcile messages are capped; the excess is dropped and counted as
//! [`DropReason::RateLimited`] (anti-entropy later recovers anything an honest peer lost).
//! On connect (and when a shared topic appears) the peer with the smaller DID starts a
//! reconciliation at once, so restarts and healed partitions converge quickly.

mod anti_entropy;
mod budget;
mod config;
mod event;
mod outbox;
mod requests;
mod stats;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, btree_map};

use icn_identity::Did;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use config::GossipConfig;
pub use event::{Input, Output, Source};
pub use stats::{DropReason, MemoryStats, Stats};

use crate::entry::{Entry, EntryId};
use crate::message::{self, GossipMessage};
use crate::reconcile::Id;
use crate::topic::Topic;
use requests::Pending;

/// What the core remembers about a held entry.
#[derive(Debug, Clone)]
struct Meta {
    topic: Topic,
    timestamp_ms: u64,
}

/// A peer that is up.
#[derive(Debug, Clone, Default)]
struct Peer {
    /// Its subscriptions: we announce a topic's entries only to peers that follow it.
    topics: BTreeSet<Topic>,
    /// Ids requested from it and not answered yet (bounded by `max_outstanding_per_peer`).
    outstanding: usize,
    /// Pending ids it announced first (bounded by `max_pending_per_peer`).
    introduced: usize,
    /// What it asked of us in the current rate window.
    budget: budget::Budget,
}

/// The gossip state machine; see the module documentation for its contract.
#[derive(Debug)]
pub struct GossipCore {
    config: GossipConfig,
    me: Did,
    rng: ChaCha8Rng,
    now_ms: u64,
    /// Subscribed topics and the ids held in each (the reconciliation sets).
    topics: BTreeMap<Topic, BTreeSet<Id>>,
    /// Every held id of a subscribed topic.
    index: BTreeMap<EntryId, Meta>,
    peers: BTreeMap<Did, Peer>,
    /// Ids being fetched.
    pending: BTreeMap<EntryId, Pending>,
    /// Arrival number of the next pending id: waiting ids are asked for oldest first.
    next_arrival: u64,
    /// Reconciliations we initiated, with the time of their last message.
    sessions: BTreeMap<(Did, Topic), u64>,
    /// When the next anti-entropy round is due; set (with a random phase) on the first tick.
    next_anti_entropy_ms: Option<u64>,
    stats: Stats,
    /// Outputs of the `handle` call in progress.
    out: Vec<Output>,
    /// Ids stored during this `handle` call, per topic, each with the peers known to hold it;
    /// announced in batches when the call ends.
    announce_batch: BTreeMap<Topic, Vec<(EntryId, Vec<Did>)>>,
    /// Our own entries published during this `handle` call, per topic: pushed to every
    /// follower of the topic when the call ends.
    push_batch: BTreeMap<Topic, Vec<Entry>>,
    /// Small entries received from peers during this `handle` call, per topic, each with the
    /// peers known to hold it: pushed on to the other followers when the call ends.
    relay_batch: BTreeMap<Topic, Vec<(Entry, Vec<Did>)>>,
    /// Ids to request from each peer, sent in batches when the call ends.
    request_batch: BTreeMap<Did, Vec<EntryId>>,
}

impl GossipCore {
    /// Builds a core for node `me`, with the ids already in the store (`(id, topic,
    /// timestamp_ms)`; ids of topics not in `subscribed` are ignored) and the subscriptions.
    pub fn new(
        config: GossipConfig,
        me: Did,
        rng_seed: u64,
        stored: impl IntoIterator<Item = (EntryId, Topic, u64)>,
        subscribed: impl IntoIterator<Item = Topic>,
    ) -> GossipCore {
        let mut topics: BTreeMap<Topic, BTreeSet<Id>> = subscribed
            .into_iter()
            .map(|t| (t, BTreeSet::new()))
            .collect();
        let mut index = BTreeMap::new();
        for (id, topic, timestamp_ms) in stored {
            // Reuse the map's key so all ids of a topic share one string.
            let Some(key) = topics.get_key_value(&topic).map(|(k, _)| k.clone()) else {
                continue;
            };
            if let Some(set) = topics.get_mut(&key) {
                set.insert(*id.as_bytes());
            }
            index.insert(
                id,
                Meta {
                    topic: key,
                    timestamp_ms,
                },
            );
        }
        GossipCore {
            config,
            me,
            rng: ChaCha8Rng::seed_from_u64(rng_seed),
            now_ms: 0,
            topics,
            index,
            peers: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_arrival: 0,
            sessions: BTreeMap::new(),
            next_anti_entropy_ms: None,
            stats: Stats::default(),
            out: Vec::new(),
            announce_batch: BTreeMap::new(),
            push_batch: BTreeMap::new(),
            relay_batch: BTreeMap::new(),
            request_batch: BTreeMap::new(),
        }
    }

    /// Handles one input at time `now_ms` and returns what to do, in order.
    pub fn handle(&mut self, input: Input, now_ms: u64) -> Vec<Output> {
        self.now_ms = self.now_ms.max(now_ms);
        match input {
            Input::PeerUp { peer, topics } => self.peer_up(peer, topics),
            Input::PeerDown { peer } => self.peer_down(peer),
            Input::PeerTopics { peer, topics } => self.set_peer_topics(peer, topics),
            Input::Message { from, msg } => self.on_message(from, msg),
            Input::Publish(entry) => self.publish(entry, None),
            Input::PublishIdentified(signed) => {
                let (entry, id) = signed.into_parts();
                self.publish(entry, Some(id));
            }
            Input::Subscribe(topic) => self.subscribe(topic),
            Input::Unsubscribe(topic) => self.unsubscribe(topic),
            Input::StoreFailed(ids) => self.forget(&ids),
            Input::Tick => {
                self.expire_requests();
                self.assign_waiting();
                self.expire_sessions();
                self.maybe_anti_entropy();
            }
        }
        self.flush();
        std::mem::take(&mut self.out)
    }

    /// This node's DID.
    pub fn me(&self) -> Did {
        self.me
    }

    /// The configuration.
    pub fn config(&self) -> &GossipConfig {
        &self.config
    }

    /// Subscribed topics, ascending.
    pub fn topics(&self) -> impl Iterator<Item = &Topic> + '_ {
        self.topics.keys()
    }

    /// Whether we subscribe to `topic`.
    pub fn is_subscribed(&self, topic: &Topic) -> bool {
        self.topics.contains_key(topic)
    }

    /// Number of entries held, over all subscribed topics.
    pub fn entry_count(&self) -> usize {
        self.index.len()
    }

    /// Ids held in `topic`, ascending (none if not subscribed).
    pub fn ids(&self, topic: &Topic) -> impl Iterator<Item = EntryId> + '_ {
        self.topics
            .get(topic)
            .into_iter()
            .flatten()
            .map(|id| EntryId::from_bytes(*id))
    }

    /// Whether we hold `id`.
    pub fn has(&self, id: &EntryId) -> bool {
        self.index.contains_key(id)
    }

    /// Topic and timestamp of a held entry.
    pub fn meta(&self, id: &EntryId) -> Option<(&Topic, u64)> {
        self.index.get(id).map(|m| (&m.topic, m.timestamp_ms))
    }

    /// Number of ids being fetched.
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }

    /// Peers that are up, ascending.
    pub fn peers(&self) -> impl Iterator<Item = &Did> + '_ {
        self.peers.keys()
    }

    /// Cumulative counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Current sizes of the bounded structures.
    pub fn memory(&self) -> MemoryStats {
        MemoryStats {
            entries: self.index.len(),
            topics: self.topics.len(),
            peers: self.peers.len(),
            max_peer_topics: self
                .peers
                .values()
                .map(|p| p.topics.len())
                .max()
                .unwrap_or(0),
            pending: self.pending.len(),
            max_outstanding: self
                .peers
                .values()
                .map(|p| p.outstanding)
                .max()
                .unwrap_or(0),
            max_introduced: self.peers.values().map(|p| p.introduced).max().unwrap_or(0),
            max_announcers: self
                .pending
                .values()
                .map(|p| p.announcers.len())
                .max()
                .unwrap_or(0),
            sessions: self.sessions.len(),
        }
    }

    /// Checks that no cap of the configuration is exceeded (cheap: no pass over held ids).
    ///
    /// # Errors
    /// A description of the first exceeded cap.
    pub fn check_caps(&self) -> Result<(), String> {
        let m = self.memory();
        let c = &self.config;
        let checks = [
            ("pending", m.pending, c.max_pending_requests),
            ("outstanding", m.max_outstanding, c.max_outstanding_per_peer),
            ("introduced", m.max_introduced, c.max_pending_per_peer),
            ("announcers", m.max_announcers, c.max_announcers_per_id),
            ("sessions", m.sessions, c.max_reconcile_sessions),
            ("peer topics", m.max_peer_topics, c.max_topics_per_peer),
        ];
        for (what, got, cap) in checks {
            if got > cap {
                return Err(format!("{what}: {got} over the cap of {cap}"));
            }
        }
        Ok(())
    }

    /// [`Self::check_caps`], plus the consistency of every internal structure (a pass over
    /// all held and pending ids: for tests and the simulator).
    ///
    /// # Errors
    /// A description of the first broken invariant.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.check_caps()?;
        let held: usize = self.topics.values().map(BTreeSet::len).sum();
        if held != self.index.len() {
            return Err(format!(
                "{held} ids in topics, {} in the index",
                self.index.len()
            ));
        }
        for (id, meta) in &self.index {
            if !self
                .topics
                .get(&meta.topic)
                .is_some_and(|s| s.contains(id.as_bytes()))
            {
                return Err(format!("{id:?} indexed but not in its topic"));
            }
        }
        self.check_pending()?;
        if !self.announce_batch.is_empty()
            || !self.push_batch.is_empty()
            || !self.relay_batch.is_empty()
            || !self.request_batch.is_empty()
        {
            return Err("batches not flushed".into());
        }
        Ok(())
    }

    fn send(&mut self, to: Did, msg: GossipMessage) {
        self.out.push(Output::Send { to, msg });
    }

    fn our_topics(&self) -> Vec<Topic> {
        self.topics.keys().cloned().collect()
    }

    fn peers_sharing(&self, topic: &Topic) -> Vec<Did> {
        self.peers
            .iter()
            .filter(|(_, p)| p.topics.contains(topic))
            .map(|(did, _)| *did)
            .collect()
    }

    fn peer_up(&mut self, peer: Did, topics: Vec<Topic>) {
        if peer == self.me {
            return;
        }
        let new = match self.peers.entry(peer) {
            btree_map::Entry::Vacant(slot) => {
                slot.insert(Peer::default());
                true
            }
            btree_map::Entry::Occupied(_) => false,
        };
        if new {
            let ours = self.our_topics();
            self.send(peer, GossipMessage::Topics { topics: ours });
        }
        self.set_peer_topics(peer, topics);
    }

    fn peer_down(&mut self, peer: Did) {
        if self.peers.remove(&peer).is_none() {
            return;
        }
        self.sessions.retain(|(p, _), _| *p != peer);
        self.forget_announcer(peer);
        self.assign_waiting();
    }

    fn set_peer_topics(&mut self, peer: Did, topics: Vec<Topic>) {
        let max = self.config.max_topics_per_peer;
        let Some(state) = self.peers.get_mut(&peer) else {
            self.stats.drop_n(DropReason::UnknownPeer, 1);
            return;
        };
        let excess = topics.len().saturating_sub(max);
        let topics: BTreeSet<Topic> = topics.into_iter().take(max).collect();
        let added: Vec<Topic> = topics
            .iter()
            .filter(|t| !state.topics.contains(*t) && self.topics.contains_key(*t))
            .cloned()
            .collect();
        state.topics = topics;
        self.stats.drop_n(DropReason::TooManyTopics, excess);
        if self.me < peer {
            for topic in added {
                self.start_session(peer, topic);
            }
        }
    }

    fn on_message(&mut self, from: Did, msg: GossipMessage) {
        if !self.peers.contains_key(&from) {
            self.stats.drop_n(DropReason::UnknownPeer, 1);
            return;
        }
        match msg {
            GossipMessage::Topics { topics } => self.set_peer_topics(from, topics),
            GossipMessage::Announce { topic, ids } => self.want(from, &topic, ids, false),
            GossipMessage::Request { ids } => self.on_request(from, ids),
            GossipMessage::Response { entries } => self.on_response(from, entries),
            GossipMessage::Push { entries, pushed_to } => self.on_push(from, entries, pushed_to),
            GossipMessage::Reconcile { topic, msg, have } => {
                self.on_reconcile(from, topic, msg, have);
            }
        }
    }

    /// A local publish of `entry`, whose id is `signed_as` when it was signed here. The actor
    /// signs own entries with this node's key just before, so their signature is not checked
    /// again here (every receiver checks it); an entry by another author gets every check.
    fn publish(&mut self, entry: Entry, signed_as: Option<EntryId>) {
        let limits = &self.config.entry_limits;
        let checked = match signed_as {
            Some(id) => entry.check_limits(limits, self.now_ms).map(|()| id),
            None if entry.author == self.me => {
                entry.check_limits(limits, self.now_ms).map(|()| entry.id())
            }
            None => entry.verify(limits, self.now_ms),
        };
        let id = match checked {
            Ok(id) => id,
            Err(reason) => return self.reject(None, reason),
        };
        if !self.topics.contains_key(&entry.topic) {
            return self.reject(None, crate::entry::RejectReason::NotSubscribed);
        }
        // Publishing an entry we already hold is a no-op.
        if !self.index.contains_key(&id) {
            self.store(id, entry, Source::Local, Vec::new());
        }
    }

    fn subscribe(&mut self, topic: Topic) {
        if self.topics.contains_key(&topic) {
            return;
        }
        self.topics.insert(topic.clone(), BTreeSet::new());
        self.topics_changed();
        let sharing = self.peers_sharing(&topic);
        if !sharing.is_empty() {
            let peer = sharing[rand::Rng::gen_range(&mut self.rng, 0..sharing.len())];
            self.start_session(peer, topic);
        }
    }

    fn unsubscribe(&mut self, topic: Topic) {
        let Some(ids) = self.topics.remove(&topic) else {
            return;
        };
        for id in ids {
            self.index.remove(&EntryId::from_bytes(id));
        }
        let dropped: Vec<EntryId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.topic == topic)
            .map(|(id, _)| *id)
            .collect();
        for id in dropped {
            self.remove_pending(&id);
        }
        self.sessions.retain(|(_, t), _| *t != topic);
        self.topics_changed();
    }

    /// Drops held ids the store failed to write.
    fn forget(&mut self, ids: &[EntryId]) {
        for id in ids {
            if let Some(meta) = self.index.remove(id)
                && let Some(set) = self.topics.get_mut(&meta.topic)
            {
                set.remove(id.as_bytes());
            }
        }
    }

    fn topics_changed(&mut self) {
        let topics = self.our_topics();
        let peers: Vec<Did> = self.peers.keys().copied().collect();
        for peer in peers {
            self.send(
                peer,
                GossipMessage::Topics {
                    topics: topics.clone(),
                },
            );
        }
        self.out.push(Output::TopicsChanged(topics));
    }

    /// Records a new entry and queues its push or announce to interested peers not in
    /// `holders`.
    fn store(&mut self, id: EntryId, entry: Entry, source: Source, holders: Vec<Did>) {
        self.remove_pending(&id);
        let Some(topic) = self
            .topics
            .get_key_value(&entry.topic)
            .map(|(k, _)| k.clone())
        else {
            return;
        };
        if let Some(set) = self.topics.get_mut(&topic) {
            set.insert(*id.as_bytes());
        }
        self.index.insert(
            id,
            Meta {
                topic: topic.clone(),
                timestamp_ms: entry.timestamp_ms,
            },
        );
        match source {
            Source::Local => self.stats.published += 1,
            Source::Push { .. } => self.stats.received += 1,
            Source::AntiEntropy { .. } => {
                self.stats.received += 1;
                self.stats.anti_entropy_recovered += 1;
            }
        }
        if source == Source::Local && entry.author == self.me {
            // Our own entry, new to us: normally held by no one else yet, so it is pushed, not
            // announced (a peer that holds it counts a quiet duplicate).
            self.push_batch
                .entry(topic)
                .or_default()
                .push(entry.clone());
        } else if self.relays_by_push(&entry, source) {
            self.relay_batch
                .entry(topic)
                .or_default()
                .push((entry.clone(), holders));
        } else {
            self.announce_batch
                .entry(topic)
                .or_default()
                .push((id, holders));
        }
        self.out.push(Output::Store { id, entry, source });
    }

    /// Whether a new entry from a peer is pushed on rather than announced: a small one that
    /// travels as news (pushed, or fetched after an announce). What anti-entropy recovered
    /// is likely held around already, so it is announced.
    fn relays_by_push(&self, entry: &Entry, source: Source) -> bool {
        self.config.relay_push
            && matches!(source, Source::Push { .. })
            && message::relay_pushable(entry)
    }

    fn reject(&mut self, from: Option<Did>, reason: crate::entry::RejectReason) {
        self.stats.reject(reason);
        self.out.push(Output::Rejected { from, reason });
    }
}
