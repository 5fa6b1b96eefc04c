//! [`GossipActor`]: the gossip core with a store, the network and local subscribers around it.
//!
//! The actor runs every input through the pure core and collects the newly accepted entries of
//! many inputs in one batch, written in one store transaction (group commit) while the next batch
//! accumulates (see [`commit`]). Only once a batch is committed does the actor send its announces
//! and responses and deliver to local subscribers, and only once it is synced does it
//! acknowledge publishers — so an entry is announced or delivered only once it is stored, and a
//! publish is acknowledged only once it is durable (relayed entries are synced within
//! [`RELAYED_SYNC_INTERVAL`]).
//!
//! While a peer that is still reading is behind on what was queued to it
//! ([`icn_net::NetworkHandle::backlogged`]), the actor takes no commands: publishes wait, so the
//! node's publishers go at the pace of its slowest reading peer instead of overflowing that
//! peer's send queue. Network events are taken meanwhile.

mod commit;
mod handle;

pub use commit::{MAX_OPEN_BYTES, MAX_OPEN_ENTRIES, RELAYED_SYNC_INTERVAL};
pub use handle::{GossipError, GossipHandle, Subscription, SubscriptionEvent};

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use icn_identity::{Did, Keypair};
use icn_net::{NetEvent, NetworkHandle};
use icn_obs::GossipMetrics;
use icn_obs::labels::{GossipDropReason, GossipRejectReason};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::entry::{Entry, EntryId, RejectReason};
use crate::message::{self, GossipMessage};
use crate::proto::{DropReason, GossipConfig, GossipCore, Input, Output, Source};
use crate::store::{GossipStore, StoreError};
use crate::topic::Topic;
use commit::{Batch, InFlight, Unsynced};
use handle::Command;

/// Capacity of the command channel.
const COMMAND_CAPACITY: usize = 1024;
/// Waiting events (and commands) taken per turn of the loop before the actor looks at the
/// write under way again.
pub const BATCH: usize = 256;
/// Entries buffered per local subscriber before it lags.
pub const SUBSCRIBER_BUFFER: usize = 1024;
/// How often the core gets a `Tick`.
const TICK: Duration = Duration::from_millis(100);

/// Size a `Response` or `Push` is packed up to (one entry larger than it goes alone): large
/// answers go out as a stream of messages the requester can check and store one by one,
/// instead of one frame it must receive whole first. 512 KiB holds seven 64 KiB entries,
/// whose signatures the receiver checks as one batch (~24 µs each, against ~35 in the batch
/// of three 256 KiB held), and stays within the eight times an entry's size up to which its
/// payload shares the received frame (`payload_bytes`).
const RESPONSE_TARGET_BYTES: usize = 512 * 1024;

/// The actor; build with [`GossipActor::new`] and run with [`GossipActor::run`].
pub struct GossipActor {
    core: GossipCore,
    store: GossipStore,
    network: NetworkHandle,
    metrics: GossipMetrics,
    events: mpsc::Receiver<NetEvent>,
    commands: mpsc::Receiver<Command>,
    subscribers: HashMap<Topic, broadcast::Sender<Entry>>,
    max_message: usize,
    /// The core's drop counters as last exported to `icn_gossip_dropped_total`.
    dropped_exported: BTreeMap<DropReason, u64>,
    /// Inputs' effects collected since the last write started.
    open: Batch,
    /// The batch being written, if any.
    in_flight: Option<InFlight>,
    /// Deferred writes not yet synced.
    unsynced: Unsynced,
    /// Requests produced by the inputs taken in, per peer, not yet sent (they wait for no
    /// write; see [`Self::send_requests`]).
    requests: BTreeMap<Did, Vec<EntryId>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn drop_label(reason: DropReason) -> GossipDropReason {
    match reason {
        DropReason::UnknownPeer => GossipDropReason::UnknownPeer,
        DropReason::NotSubscribed => GossipDropReason::NotSubscribed,
        DropReason::TooManyIds => GossipDropReason::TooManyIds,
        DropReason::TooManyTopics => GossipDropReason::TooManyTopics,
        DropReason::PendingFull => GossipDropReason::PendingFull,
        DropReason::PeerBusy => GossipDropReason::PeerBusy,
        DropReason::GaveUp => GossipDropReason::GaveUp,
        DropReason::NoSource => GossipDropReason::NoSource,
        DropReason::BadReconcile => GossipDropReason::BadReconcile,
        DropReason::SessionLimit => GossipDropReason::SessionLimit,
        DropReason::SessionTimeout => GossipDropReason::SessionTimeout,
        DropReason::RateLimited => GossipDropReason::RateLimited,
    }
}

fn label(reason: RejectReason) -> GossipRejectReason {
    match reason {
        RejectReason::Malformed => GossipRejectReason::Malformed,
        RejectReason::BadTopic => GossipRejectReason::BadTopic,
        RejectReason::PayloadTooLarge => GossipRejectReason::PayloadTooLarge,
        RejectReason::FutureTimestamp => GossipRejectReason::FutureTimestamp,
        RejectReason::BadSignature => GossipRejectReason::BadSignature,
        RejectReason::Unsolicited => GossipRejectReason::Unsolicited,
        RejectReason::NotSubscribed => GossipRejectReason::NotSubscribed,
    }
}

impl GossipActor {
    /// Rebuilds the core from the store (ids and joined topics) plus `extra_topics` (joined
    /// durably now), and returns the actor and its handle.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: GossipConfig,
        keypair: Keypair,
        store: GossipStore,
        network: NetworkHandle,
        events: mpsc::Receiver<NetEvent>,
        extra_topics: &[Topic],
        max_message: usize,
        metrics: GossipMetrics,
    ) -> Result<(Self, GossipHandle), StoreError> {
        for topic in extra_topics {
            store.set_topic(topic, true)?;
        }
        let topics = store.topics()?;
        let index = store.index()?;
        let core = GossipCore::new(config, keypair.did(), rand::random(), index, topics.clone());
        network.set_topics(topics.iter().map(|t| t.as_str().to_string()).collect());
        let (tx, commands) = mpsc::channel(COMMAND_CAPACITY);
        let handle = GossipHandle {
            commands: tx,
            keypair: std::sync::Arc::new(keypair.clone()),
            store: store.clone(),
            lagged: metrics.subscriber_lagged.clone(),
        };
        let actor = Self {
            core,
            store,
            network,
            metrics,
            events,
            commands,
            subscribers: HashMap::new(),
            max_message,
            dropped_exported: BTreeMap::new(),
            open: Batch::default(),
            in_flight: None,
            unsynced: Unsynced::default(),
            requests: BTreeMap::new(),
        };
        actor.update_gauges();
        Ok((actor, handle))
    }

    /// Runs until `shutdown` is cancelled or the network's event channel closes.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let room = self.network.room();
        loop {
            let writing = self.in_flight.is_some();
            // A full open batch waits for the write under way (backpressure).
            let accepting = !self.open.is_full();
            // Taken before the check, so that a peer catching up in between still wakes us.
            let caught_up = room.notified();
            // Commands (publishes) also wait while a peer is behind on what we queued to it
            // (checked once per turn: `take_waiting` goes by the same answer).
            let held_back = self.network.backlogged();
            tokio::select! {
                () = shutdown.cancelled() => break,
                step = commit::written(&mut self.in_flight, &self.store), if writing => {
                    self.on_write_step(step);
                }
                _ = tick.tick() => {
                    self.input(Input::Tick);
                }
                () = caught_up, if accepting && held_back => {}
                event = self.events.recv(), if accepting => match event {
                    Some(event) => self.on_event(event),
                    None => break,
                },
                command = self.commands.recv(), if accepting && !held_back => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
            }
            self.take_waiting(!held_back);
            self.send_requests();
            self.start_write();
        }
        self.flush_all().await;
    }

    /// Takes whatever else is already waiting into the open batch (group commit); commands
    /// only when `commands` (publishes wait while a peer is behind, see `run`).
    fn take_waiting(&mut self, commands: bool) {
        for _ in 0..BATCH {
            if self.open.is_full() {
                return;
            }
            let mut took = false;
            if let Ok(event) = self.events.try_recv() {
                self.on_event(event);
                took = true;
            }
            if commands && let Ok(command) = self.commands.try_recv() {
                self.on_command(command);
                took = true;
            }
            if !took {
                return;
            }
        }
    }

    /// Adds the core's new drops to `icn_gossip_dropped_total`.
    fn export_drops(&mut self) {
        for (reason, total) in &self.core.stats().dropped {
            let seen = self.dropped_exported.entry(*reason).or_default();
            if *total > *seen {
                self.metrics
                    .dropped
                    .get(drop_label(*reason))
                    .increment(*total - *seen);
                *seen = *total;
            }
        }
    }

    /// Runs one input through the core; returns the last rejection it reported, if any.
    fn input(&mut self, input: Input) -> Option<RejectReason> {
        let mut rejected = None;
        let outputs = self.core.handle(input, now_ms());
        self.export_drops();
        for output in outputs {
            match output {
                Output::Store { id, ref entry, .. } => {
                    self.open.store(id, entry.clone());
                    self.open.after_commit.push(output);
                }
                Output::Rejected { reason, .. } => {
                    self.metrics.entries_rejected.inc(label(reason));
                    rejected = Some(reason);
                }
                Output::AntiEntropyStarted { .. } => self.metrics.anti_entropy_rounds.increment(1),
                Output::Send {
                    to,
                    msg: GossipMessage::Request { ids },
                } => self.requests.entry(to).or_default().extend(ids),
                Output::TopicsChanged(topics) => {
                    self.network
                        .set_topics(topics.iter().map(|t| t.as_str().to_string()).collect());
                }
                other => self.open.after_commit.push(other),
            }
        }
        rejected
    }

    fn on_event(&mut self, event: NetEvent) {
        let input = match event {
            NetEvent::PeerUp { peer, topics } => Input::PeerUp {
                peer,
                topics: parse_topics(&topics),
            },
            NetEvent::PeerDown { peer } => Input::PeerDown { peer },
            NetEvent::PeerTopics { peer, topics } => Input::PeerTopics {
                peer,
                topics: parse_topics(&topics),
            },
            NetEvent::Gossip { from, bytes } => {
                match message::decode_shared(bytes.as_bytes(), self.max_message) {
                    Ok(msg) => {
                        self.count_received(&msg, bytes.len());
                        Input::Message { from, msg }
                    }
                    Err(e) => {
                        tracing::debug!(peer = %from.short(), error = %e, "undecodable gossip message");
                        self.metrics.entries_rejected.inc(label(e.reject_reason()));
                        return;
                    }
                }
            }
        };
        self.input(input);
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish {
                entry,
                synced_first,
                reply,
            } => {
                let topic = entry.entry().topic.clone();
                if !self.core.is_subscribed(&topic) {
                    if let Err(e) = self.store.set_topic(&topic, true) {
                        let _ = reply.send(Err(e.into()));
                        return;
                    }
                    self.input(Input::Subscribe(topic.clone()));
                }
                let id = entry.id();
                let before = self.open.to_store.len();
                match self.input(Input::PublishIdentified(entry)) {
                    Some(reason) if self.open.to_store.len() == before => {
                        let _ = reply.send(Err(GossipError::Rejected(reason)));
                    }
                    // New, or already held (the same content published twice): answered once
                    // the write that holds it (this one or an earlier one) is done.
                    _ => {
                        self.open.effects_after_sync |= synced_first;
                        self.open.publish_replies.push((id, reply));
                    }
                }
            }
            Command::Join {
                topic,
                joined,
                reply,
            } => {
                let was = self.core.is_subscribed(&topic);
                if was == joined {
                    let _ = reply.send(Ok(false));
                    return;
                }
                if let Err(e) = self.store.set_topic(&topic, joined) {
                    let _ = reply.send(Err(e.into()));
                    return;
                }
                let input = if joined {
                    Input::Subscribe(topic)
                } else {
                    Input::Unsubscribe(topic)
                };
                self.input(input);
                let _ = reply.send(Ok(true));
            }
            Command::Subscribe { topic, reply } => {
                let sender = self
                    .subscribers
                    .entry(topic)
                    .or_insert_with(|| broadcast::channel(SUBSCRIBER_BUFFER).0);
                let _ = reply.send(sender.subscribe());
            }
            Command::Topics { reply } => {
                let topics = self
                    .core
                    .topics()
                    .map(|t| (t.clone(), self.core.ids(t).count() as u64))
                    .collect();
                let _ = reply.send(topics);
            }
        }
    }

    /// The store keys of `ids` (the store orders entries by time); ids the core no longer
    /// holds are skipped.
    fn stored_keys(&self, ids: Vec<EntryId>) -> Vec<(u64, EntryId)> {
        ids.into_iter()
            .filter_map(|id| Some((self.core.meta(&id)?.1, id)))
            .collect()
    }

    fn perform(&mut self, output: Output, now: u64) {
        match output {
            Output::Send { to, msg } => self.send(to, &msg),
            Output::SendEntries { to, ids } => match self.store.get_many(&self.stored_keys(ids)) {
                Ok(entries) => {
                    let target = self.max_message.min(RESPONSE_TARGET_BYTES);
                    for msg in message::pack_entries(entries, target) {
                        self.send(to, &msg);
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot load requested entries"),
            },
            Output::Store { entry, source, .. } => {
                match source {
                    Source::Local => self.metrics.entries_published.increment(1),
                    Source::Push { .. } | Source::AntiEntropy { .. } => {
                        self.metrics.entries_received.increment(1);
                        let delay_ms = now.saturating_sub(entry.timestamp_ms);
                        self.metrics
                            .propagation_delay
                            .record(delay_ms as f64 / 1000.0);
                        if matches!(source, Source::AntiEntropy { .. }) {
                            self.metrics.anti_entropy_recovered.increment(1);
                        }
                    }
                }
                // The entry moves into the channel: a 64 KiB payload is not copied once more.
                if let Some(sender) = self.subscribers.get(&entry.topic)
                    && let Err(refused) = sender.send(entry)
                {
                    // No receiver left.
                    self.subscribers.remove(&refused.0.topic);
                }
            }
            Output::Push {
                to,
                entries,
                pushed_to,
            } => {
                let target = self.max_message.min(RESPONSE_TARGET_BYTES);
                let max = self.core.config().max_ids_per_message;
                for msg in message::pack_push(entries, &pushed_to, target, max) {
                    self.send_to_each(&to, &msg);
                }
            }
            Output::Rejected { reason, .. } => self.metrics.entries_rejected.inc(label(reason)),
            Output::TopicsChanged(_) | Output::AntiEntropyStarted { .. } => {}
        }
    }

    fn send(&self, to: Did, msg: &GossipMessage) {
        self.send_to_each(&[to], msg);
    }

    /// Sends `msg` to every peer of `to`, encoded and framed once.
    fn send_to_each(&self, to: &[Did], msg: &GossipMessage) {
        let body = match message::encode_body(msg) {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode gossip message");
                return;
            }
        };
        let len = body.len();
        for (peer, sent) in to.iter().zip(self.network.send_gossip_to_each(to, body)) {
            match sent {
                Ok(()) => self.count_sent(msg, len),
                Err(e) => tracing::debug!(peer = %peer.short(), error = %e, "gossip send dropped"),
            }
        }
    }

    fn count_sent(&self, msg: &GossipMessage, len: usize) {
        match msg {
            GossipMessage::Announce { .. } => self.metrics.announces_sent.increment(1),
            GossipMessage::Request { .. } => self.metrics.requests_sent.increment(1),
            GossipMessage::Response { .. } => self.metrics.responses_sent.increment(1),
            GossipMessage::Push { .. } => self.metrics.pushes_sent.increment(1),
            GossipMessage::Reconcile { .. } => {
                self.metrics.anti_entropy_bytes.increment(len as u64);
            }
            GossipMessage::Topics { .. } => {}
        }
    }

    fn count_received(&self, msg: &GossipMessage, len: usize) {
        match msg {
            GossipMessage::Announce { .. } => self.metrics.announces_received.increment(1),
            GossipMessage::Request { .. } => self.metrics.requests_received.increment(1),
            GossipMessage::Response { .. } => self.metrics.responses_received.increment(1),
            GossipMessage::Push { .. } => self.metrics.pushes_received.increment(1),
            GossipMessage::Reconcile { .. } => {
                self.metrics.anti_entropy_bytes.increment(len as u64);
            }
            GossipMessage::Topics { .. } => {}
        }
    }

    fn update_gauges(&self) {
        self.metrics.topics.set(self.core.topics().count() as f64);
        self.metrics.entries.set(self.core.entry_count() as f64);
    }
}

fn parse_topics(topics: &[String]) -> Vec<Topic> {
    topics.iter().filter_map(|t| Topic::new(t).ok()).collect()
}
