//! [`GossipActor`]: the gossip core with a store, the network and local subscribers around it.
//!
//! The actor drains up to [`BATCH`] inputs at a time, runs them through the pure core, commits
//! every newly accepted entry in one store transaction (group commit), and only then sends
//! announces and responses, delivers to local subscribers and acknowledges publishers — so an
//! entry is announced, delivered or acknowledged only once it is durable.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use icn_identity::{Did, Keypair};
use icn_net::{NetEvent, NetworkHandle};
use icn_obs::labels::{GossipDropReason, GossipRejectReason, StorageErrorReason};
use icn_obs::{Counter, GossipMetrics};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::db_file::DbFailure;
use crate::entry::{Entry, EntryId, RejectReason};
use crate::message::{self, GossipMessage};
use crate::proto::{DropReason, GossipConfig, GossipCore, Input, Output, Source};
use crate::store::{GossipStore, StoreError};
use crate::topic::Topic;

/// Capacity of the command channel.
const COMMAND_CAPACITY: usize = 1024;
/// Inputs processed per group commit.
pub const BATCH: usize = 256;
/// Entries buffered per local subscriber before it lags.
pub const SUBSCRIBER_BUFFER: usize = 1024;
/// How often the core gets a `Tick`.
const TICK: Duration = Duration::from_millis(100);

/// Gossip errors reported to callers.
#[derive(Debug, thiserror::Error)]
pub enum GossipError {
    /// The entry was refused by validation.
    #[error("entry rejected: {0}")]
    Rejected(RejectReason),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The actor is not running.
    #[error("the gossip actor is not running")]
    Stopped,
}

/// What a local subscriber receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionEvent {
    /// A new entry of the topic.
    Entry(Entry),
    /// The subscriber was too slow and missed this many entries.
    Lagged(u64),
}

/// A stream of new entries of one topic, with a bounded buffer.
pub struct Subscription {
    rx: broadcast::Receiver<Entry>,
    /// `icn_gossip_subscriber_lagged_total`.
    lagged: Counter,
}

impl Subscription {
    /// The next entry or lag notice; `None` when the node stops.
    pub async fn next(&mut self) -> Option<SubscriptionEvent> {
        match self.rx.recv().await {
            Ok(entry) => Some(SubscriptionEvent::Entry(entry)),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                self.lagged.increment(missed);
                Some(SubscriptionEvent::Lagged(missed))
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// The next buffered event without waiting; `None` when nothing is buffered (or closed).
    pub fn try_next(&mut self) -> Option<SubscriptionEvent> {
        match self.rx.try_recv() {
            Ok(entry) => Some(SubscriptionEvent::Entry(entry)),
            Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                self.lagged.increment(missed);
                Some(SubscriptionEvent::Lagged(missed))
            }
            Err(_) => None,
        }
    }
}

enum Command {
    Publish {
        topic: Topic,
        payload: Vec<u8>,
        reply: oneshot::Sender<Result<EntryId, GossipError>>,
    },
    Join {
        topic: Topic,
        joined: bool,
        reply: oneshot::Sender<Result<bool, GossipError>>,
    },
    Subscribe {
        topic: Topic,
        reply: oneshot::Sender<broadcast::Receiver<Entry>>,
    },
    Topics {
        reply: oneshot::Sender<Vec<(Topic, u64)>>,
    },
}

/// Cheap, cloneable access to the gossip actor.
#[derive(Clone)]
pub struct GossipHandle {
    commands: mpsc::Sender<Command>,
    store: GossipStore,
    /// The one counter subscriptions need (not the whole handle struct: callers clone the
    /// handle per request, and cloning ~30 metric handles showed in profiles).
    lagged: Counter,
}

impl GossipHandle {
    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, GossipError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| GossipError::Stopped)?;
        rx.await.map_err(|_| GossipError::Stopped)
    }

    /// Signs and publishes `payload` on `topic` (joining the topic if needed); returns once the
    /// entry is durably stored.
    ///
    /// # Errors
    /// [`GossipError`].
    pub async fn publish(&self, topic: Topic, payload: Vec<u8>) -> Result<EntryId, GossipError> {
        self.call(|reply| Command::Publish {
            topic,
            payload,
            reply,
        })
        .await?
    }

    /// Joins a topic durably; returns false if it was already joined.
    ///
    /// # Errors
    /// [`GossipError`].
    pub async fn join(&self, topic: Topic) -> Result<bool, GossipError> {
        self.call(|reply| Command::Join {
            topic,
            joined: true,
            reply,
        })
        .await?
    }

    /// Leaves a topic durably; returns false if it was not joined.
    ///
    /// # Errors
    /// [`GossipError`].
    pub async fn leave(&self, topic: Topic) -> Result<bool, GossipError> {
        self.call(|reply| Command::Join {
            topic,
            joined: false,
            reply,
        })
        .await?
    }

    /// A stream of the topic's new entries (join the topic to receive remote ones).
    ///
    /// # Errors
    /// [`GossipError::Stopped`].
    pub async fn subscribe(&self, topic: Topic) -> Result<Subscription, GossipError> {
        let rx = self
            .call(|reply| Command::Subscribe { topic, reply })
            .await?;
        Ok(Subscription {
            rx,
            lagged: self.lagged.clone(),
        })
    }

    /// Joined topics with their entry counts.
    ///
    /// # Errors
    /// [`GossipError::Stopped`].
    pub async fn topics(&self) -> Result<Vec<(Topic, u64)>, GossipError> {
        self.call(|reply| Command::Topics { reply }).await
    }

    /// Up to `limit` stored entries of `topic`, oldest first.
    ///
    /// # Errors
    /// [`GossipError::Store`].
    pub fn entries(&self, topic: &Topic, limit: usize) -> Result<Vec<Entry>, GossipError> {
        Ok(self.store.entries(topic, limit)?)
    }

    /// Commands waiting for the gossip actor.
    pub fn mailbox_depth(&self) -> usize {
        self.commands.max_capacity() - self.commands.capacity()
    }

    /// Topics this node has joined (from the store).
    ///
    /// # Errors
    /// [`GossipError::Store`].
    pub fn joined_topics(&self) -> Result<Vec<Topic>, GossipError> {
        Ok(self.store.topics()?)
    }

    /// The newest `limit` stored entries of `topic`, oldest first.
    ///
    /// # Errors
    /// [`GossipError::Store`].
    pub fn latest(&self, topic: &Topic, limit: usize) -> Result<Vec<Entry>, GossipError> {
        Ok(self.store.latest(topic, limit)?)
    }

    /// Number of stored entries.
    ///
    /// # Errors
    /// [`GossipError::Store`].
    pub fn stored_count(&self) -> Result<u64, GossipError> {
        Ok(self.store.count()?)
    }
}

/// The actor; build with [`GossipActor::new`] and run with [`GossipActor::run`].
pub struct GossipActor {
    core: GossipCore,
    keypair: Keypair,
    store: GossipStore,
    network: NetworkHandle,
    metrics: GossipMetrics,
    events: mpsc::Receiver<NetEvent>,
    commands: mpsc::Receiver<Command>,
    subscribers: HashMap<Topic, broadcast::Sender<Entry>>,
    max_message: usize,
    /// The core's drop counters as last exported to `icn_gossip_dropped_total`.
    dropped_exported: BTreeMap<DropReason, u64>,
}

/// Work collected while processing one batch, performed after the commit.
#[derive(Default)]
struct Pending {
    to_store: Vec<Entry>,
    after_commit: Vec<Output>,
    publish_replies: Vec<(EntryId, oneshot::Sender<Result<EntryId, GossipError>>)>,
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
            store: store.clone(),
            lagged: metrics.subscriber_lagged.clone(),
        };
        let actor = Self {
            core,
            keypair,
            store,
            network,
            metrics,
            events,
            commands,
            subscribers: HashMap::new(),
            max_message,
            dropped_exported: BTreeMap::new(),
        };
        actor.update_gauges();
        Ok((actor, handle))
    }

    /// Runs until `shutdown` is cancelled or the network's event channel closes.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut pending = Pending::default();
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    self.input(Input::Tick, &mut pending);
                }
                event = self.events.recv() => match event {
                    Some(event) => self.on_event(event, &mut pending),
                    None => break,
                },
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command, &mut pending),
                    None => break,
                },
            }
            // Group commit: take whatever else is already waiting.
            for _ in 1..BATCH {
                match self.events.try_recv() {
                    Ok(event) => self.on_event(event, &mut pending),
                    Err(_) => break,
                }
            }
            self.finish(pending).await;
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
    fn input(&mut self, input: Input, pending: &mut Pending) -> Option<RejectReason> {
        let mut rejected = None;
        let outputs = self.core.handle(input, now_ms());
        self.export_drops();
        for output in outputs {
            match output {
                Output::Store { ref entry, .. } => {
                    pending.to_store.push(entry.clone());
                    pending.after_commit.push(output);
                }
                Output::Rejected { reason, .. } => {
                    self.metrics.entries_rejected.inc(label(reason));
                    rejected = Some(reason);
                }
                Output::AntiEntropyStarted { .. } => self.metrics.anti_entropy_rounds.increment(1),
                Output::TopicsChanged(topics) => {
                    self.network
                        .set_topics(topics.iter().map(|t| t.as_str().to_string()).collect());
                }
                other => pending.after_commit.push(other),
            }
        }
        rejected
    }

    fn on_event(&mut self, event: NetEvent, pending: &mut Pending) {
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
            NetEvent::Gossip { from, bytes } => match message::decode(&bytes, self.max_message) {
                Ok(msg) => {
                    self.count_received(&msg, bytes.len());
                    Input::Message { from, msg }
                }
                Err(e) => {
                    tracing::debug!(peer = %from.short(), error = %e, "undecodable gossip message");
                    self.metrics.entries_rejected.inc(label(e.reject_reason()));
                    return;
                }
            },
        };
        self.input(input, pending);
    }

    fn on_command(&mut self, command: Command, pending: &mut Pending) {
        match command {
            Command::Publish {
                topic,
                payload,
                reply,
            } => {
                if !self.core.is_subscribed(&topic) {
                    if let Err(e) = self.store.set_topic(&topic, true) {
                        let _ = reply.send(Err(e.into()));
                        return;
                    }
                    self.input(Input::Subscribe(topic.clone()), pending);
                }
                let entry = Entry::sign(&self.keypair, topic, now_ms(), payload);
                let id = entry.id();
                let before = pending.to_store.len();
                match self.input(Input::Publish(entry), pending) {
                    Some(reason) if pending.to_store.len() == before => {
                        let _ = reply.send(Err(GossipError::Rejected(reason)));
                    }
                    // Already held (same content published twice): durable already.
                    _ if pending.to_store.len() == before => {
                        let _ = reply.send(Ok(id));
                    }
                    _ => pending.publish_replies.push((id, reply)),
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
                self.input(input, pending);
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

    /// Commits the batch's new entries, then performs everything that must follow durability.
    async fn finish(&mut self, pending: Pending) {
        let Pending {
            to_store,
            after_commit,
            publish_replies,
        } = pending;
        if !to_store.is_empty() {
            let ids: Vec<EntryId> = to_store.iter().map(Entry::id).collect();
            let store = self.store.clone();
            let result = tokio::task::spawn_blocking(move || store.put_batch(&to_store))
                .await
                .unwrap_or_else(|e| {
                    Err(StoreError::Failed {
                        path: Default::default(),
                        failure: DbFailure::new(StorageErrorReason::Other, e.to_string()),
                    })
                });
            if let Err(e) = result {
                // Not durable: acknowledge, announce and deliver nothing, and let the core
                // forget the entries so that anti-entropy fetches them again (and a publish can
                // be retried) instead of the core claiming entries the store does not hold.
                tracing::error!(error = %e, entries = ids.len(), "gossip store write failed");
                self.core.handle(Input::StoreFailed(ids), now_ms());
                for (_, reply) in publish_replies {
                    let _ = reply.send(Err(GossipError::Store(e.clone())));
                }
                self.update_gauges();
                return;
            }
        }
        let now = now_ms();
        for output in after_commit {
            self.perform(output, now);
        }
        for (id, reply) in publish_replies {
            let _ = reply.send(Ok(id));
        }
        self.update_gauges();
    }

    fn perform(&mut self, output: Output, now: u64) {
        match output {
            Output::Send { to, msg } => self.send(to, &msg),
            Output::SendEntries { to, ids } => match self.store.get_many(&ids) {
                Ok(entries) => {
                    for msg in message::pack_entries(entries, self.max_message) {
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
                if let Some(sender) = self.subscribers.get(&entry.topic)
                    && sender.send(entry.clone()).is_err()
                {
                    // No receiver left.
                    self.subscribers.remove(&entry.topic);
                }
            }
            Output::Rejected { reason, .. } => self.metrics.entries_rejected.inc(label(reason)),
            Output::TopicsChanged(_) | Output::AntiEntropyStarted { .. } => {}
        }
    }

    fn send(&self, to: Did, msg: &GossipMessage) {
        let bytes = match message::encode(msg) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode gossip message");
                return;
            }
        };
        let len = bytes.len();
        match self.network.send_gossip(to, bytes) {
            Ok(()) => match msg {
                GossipMessage::Announce { .. } => self.metrics.announces_sent.increment(1),
                GossipMessage::Request { .. } => self.metrics.requests_sent.increment(1),
                GossipMessage::Response { .. } => self.metrics.responses_sent.increment(1),
                GossipMessage::Reconcile { .. } => {
                    self.metrics.anti_entropy_bytes.increment(len as u64);
                }
                GossipMessage::Topics { .. } => {}
            },
            Err(e) => tracing::debug!(peer = %to.short(), error = %e, "gossip send dropped"),
        }
    }

    fn count_received(&self, msg: &GossipMessage, len: usize) {
        match msg {
            GossipMessage::Announce { .. } => self.metrics.announces_received.increment(1),
            GossipMessage::Request { .. } => self.metrics.requests_received.increment(1),
            GossipMessage::Response { .. } => self.metrics.responses_received.increment(1),
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
