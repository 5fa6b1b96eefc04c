//! [`GossipHandle`]: the cheap, cloneable way in to the gossip actor, and the [`Subscription`]
//! streams it hands out.

use std::sync::Arc;

use icn_identity::Keypair;
use icn_obs::Counter;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::entry::{Entry, EntryId, IdentifiedEntry, RejectReason};
use crate::store::{GossipStore, StoreError};
use crate::topic::Topic;

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

pub(super) enum Command {
    /// An entry the handle signed with the node's key (in the caller's task, so signatures
    /// of concurrent publishers use every core instead of the actor's one).
    Publish {
        entry: IdentifiedEntry,
        /// Announce and deliver it only once it is synced ([`GossipHandle::publish_synced`]).
        synced_first: bool,
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
    pub(super) commands: mpsc::Sender<Command>,
    /// The node's key: publishes are signed by the caller (see [`Command::Publish`]).
    pub(super) keypair: Arc<Keypair>,
    pub(super) store: GossipStore,
    /// The one counter subscriptions need (not the whole handle struct: callers clone the
    /// handle per request, and cloning ~30 metric handles showed in profiles).
    pub(super) lagged: Counter,
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
    /// entry is durably stored. Waits first while a peer is behind on what this node sent it
    /// (see the actor's docs). The entry is pushed to peers while it is written, so peers may
    /// hold it before this returns, even when it returns an error.
    ///
    /// # Errors
    /// [`GossipError`]: the entry is not durably stored here.
    pub async fn publish(&self, topic: Topic, payload: Vec<u8>) -> Result<EntryId, GossipError> {
        self.publish_with(topic, payload, false).await
    }

    /// Like [`Self::publish`], but no peer hears of the entry (and no local subscriber gets
    /// it) before it is synced to this node's disk: a crash can never leave peers holding an
    /// entry this node lost. Costs the publish's sync on the way to its announce.
    ///
    /// # Errors
    /// [`GossipError`].
    pub async fn publish_synced(
        &self,
        topic: Topic,
        payload: Vec<u8>,
    ) -> Result<EntryId, GossipError> {
        self.publish_with(topic, payload, true).await
    }

    async fn publish_with(
        &self,
        topic: Topic,
        payload: Vec<u8>,
        synced_first: bool,
    ) -> Result<EntryId, GossipError> {
        let entry = IdentifiedEntry::sign(&self.keypair, topic, super::now_ms(), payload);
        self.call(|reply| Command::Publish {
            entry,
            synced_first,
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
