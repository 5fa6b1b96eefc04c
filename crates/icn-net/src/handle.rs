//! [`NetworkHandle`]: the cheap, cloneable way the rest of the node uses the network.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use icn_identity::Did;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::NetError;
use crate::actor::{Command, Shared};
use crate::peer::{PeerInfo, PeerTarget};
use crate::wire::{GossipBody, WireMessage, encode_frame};

/// Why a send did not happen.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// No session with that peer.
    #[error("not connected to {0}")]
    NotConnected(Did),
    /// The peer's queue is full (slow peer): the message was dropped.
    #[error("send queue to {0} is full")]
    QueueFull(Did),
    /// The message does not fit in a frame.
    #[error("message too large: {0}")]
    TooLarge(String),
}

/// Cheap, cloneable access to the network actor.
#[derive(Clone)]
pub struct NetworkHandle {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    me: Did,
    local_addr: SocketAddr,
}

impl NetworkHandle {
    pub(crate) fn new(
        commands: mpsc::Sender<Command>,
        shared: Arc<Shared>,
        me: Did,
        local_addr: SocketAddr,
    ) -> Self {
        Self {
            commands,
            shared,
            me,
            local_addr,
        }
    }

    /// Our DID.
    pub fn did(&self) -> Did {
        self.me
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Dials `target` and waits for the session (or the reason it failed).
    ///
    /// # Errors
    /// [`NetError::Dial`] with the reason, or [`NetError::Stopped`].
    pub async fn dial(&self, target: PeerTarget) -> Result<Did, NetError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Dial { target, reply })
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    /// Connected peers.
    pub fn peers(&self) -> Vec<PeerInfo> {
        let Ok(sessions) = self.shared.sessions.read() else {
            return Vec::new();
        };
        let mut peers: Vec<PeerInfo> = sessions
            .values()
            .map(|s| PeerInfo {
                rtt: s.connection.rtt(),
                ..s.info.clone()
            })
            .collect();
        peers.sort_by_key(|p| p.did);
        peers
    }

    /// Commands waiting for the network actor.
    pub fn mailbox_depth(&self) -> usize {
        self.commands.max_capacity() - self.commands.capacity()
    }

    /// Network events waiting for the node's consumer (the gossip actor).
    pub fn events_depth(&self) -> usize {
        self.shared.events.max_capacity() - self.shared.events.capacity()
    }

    /// Whether a peer that is still reading is behind on what was queued to it
    /// ([`crate::backlog::BACKLOG_HIGH_BYTES`], or half its queue's frames): the node's own
    /// publishers should wait (see [`crate::backlog`]) until [`Self::room`] wakes them, or
    /// until the peer's writer has not moved for [`crate::backlog::STUCK_AFTER`].
    pub fn backlogged(&self) -> bool {
        self.shared
            .sessions
            .read()
            .is_ok_and(|sessions| sessions.values().any(|s| s.backlog.holds_back()))
    }

    /// Notified whenever a peer comes back from behind (`notify_waiters`: take a `notified()`
    /// future before checking [`Self::backlogged`]).
    pub fn room(&self) -> Arc<Notify> {
        self.shared.room.clone()
    }

    /// Bytes queued to `peer` and not yet written (0 when not connected).
    pub fn backlog_bytes(&self, peer: &Did) -> usize {
        self.shared
            .sessions
            .read()
            .ok()
            .and_then(|sessions| sessions.get(peer).map(|s| s.backlog.bytes()))
            .unwrap_or(0)
    }

    /// Number of live sessions.
    pub fn peer_count(&self) -> usize {
        self.shared.sessions.read().map(|s| s.len()).unwrap_or(0)
    }

    /// Queues a message to one peer. Never waits: a full queue drops the message.
    ///
    /// # Errors
    /// [`SendError`].
    pub fn send(&self, to: Did, msg: &WireMessage) -> Result<(), SendError> {
        let frame = self.frame(msg)?;
        self.send_frame(to, frame)
    }

    /// Queues a gossip payload to one peer.
    ///
    /// # Errors
    /// [`SendError`].
    pub fn send_gossip(&self, to: Did, bytes: impl Into<Bytes>) -> Result<(), SendError> {
        self.send(to, &WireMessage::Gossip(bytes.into()))
    }

    /// Queues one gossip message to each peer of `to`, framed once and in place; one result
    /// per peer.
    pub fn send_gossip_to_each(&self, to: &[Did], body: GossipBody) -> Vec<Result<(), SendError>> {
        let framed = body
            .into_frame(self.shared.max_frame)
            .map_err(|e| SendError::TooLarge(e.to_string()));
        match framed {
            Ok(frame) => to
                .iter()
                .map(|peer| self.send_frame(*peer, frame.clone()))
                .collect(),
            Err(e) => to.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    /// Queues a message to every connected peer; returns how many queues took it.
    pub fn broadcast(&self, msg: &WireMessage) -> usize {
        let Ok(frame) = self.frame(msg) else { return 0 };
        let Ok(sessions) = self.shared.sessions.read() else {
            return 0;
        };
        sessions
            .values()
            .filter(|s| match s.queue(frame.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.shared.metrics.queue_full.increment(1);
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            })
            .count()
    }

    /// Replaces our topic list and tells every peer.
    pub fn set_topics(&self, topics: Vec<String>) {
        if let Ok(mut current) = self.shared.topics.write() {
            if *current == topics {
                return;
            }
            current.clone_from(&topics);
        }
        self.broadcast(&WireMessage::Topics(topics));
    }

    /// Cuts the link to `peer` (closes its session, refuses it until unblocked). For fault
    /// injection and operator bans.
    pub async fn set_blocked(&self, peer: Did, blocked: bool) {
        let _ = self.commands.send(Command::Block { peer, blocked }).await;
    }

    fn frame(&self, msg: &WireMessage) -> Result<Bytes, SendError> {
        encode_frame(msg, self.shared.max_frame)
            .map(Bytes::from)
            .map_err(|e| SendError::TooLarge(e.to_string()))
    }

    fn send_frame(&self, to: Did, frame: Bytes) -> Result<(), SendError> {
        let sessions = self
            .shared
            .sessions
            .read()
            .map_err(|_| SendError::NotConnected(to))?;
        let session = sessions.get(&to).ok_or(SendError::NotConnected(to))?;
        session.queue(frame).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                self.shared.metrics.queue_full.increment(1);
                SendError::QueueFull(to)
            }
            mpsc::error::TrySendError::Closed(_) => SendError::NotConnected(to),
        })
    }
}
