//! One gossipsub node: a `Swarm` over QUIC v1 on 127.0.0.1 (ephemeral port), owned by its own
//! task and driven through a command channel. Every message it receives is reported as an
//! [`Arrival`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use libp2p::futures::StreamExt as _;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, TopicHash, ValidationMode};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, Swarm, SwarmBuilder};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Commands queued for one node's task.
const COMMAND_CAPACITY: usize = 256;
/// Largest gossipsub RPC: a 64 KiB payload plus the envelope (source, seqno, topic, signature,
/// protobuf framing: ~150 bytes), with room to spare. The default is 64 KiB, which a 64 KiB
/// payload exceeds.
pub const MAX_TRANSMIT_SIZE: usize = 64 * 1024 + 4 * 1024;
/// Mesh degree D (libp2p's default): each node forwards to about this many topic peers.
pub const MESH_N: usize = 6;
/// D_low (libp2p's default): below this the heartbeat grafts more peers.
pub const MESH_N_LOW: usize = 5;
/// D_high (libp2p's default): above this the heartbeat prunes.
pub const MESH_N_HIGH: usize = 12;
/// Messages a connection may queue (libp2p's default; half for publishes, half for forwards).
/// The throughput window keeps at most `WINDOW` publishes and their forwards queued, far
/// below it, so no copy is dropped for a full queue.
pub const QUEUE_LEN: usize = 5000;
/// First heartbeat (libp2p's default is 5 s; the mesh forms on heartbeats, so a short first
/// one only shortens set-up; later heartbeats keep the default 1 s interval).
const HEARTBEAT_INITIAL_DELAY: Duration = Duration::from_millis(100);
/// Connections stay up for the whole run even when no message flows for a while.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(3600);
/// How long a node may take to report its listening address.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// One message received by one node.
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    /// Index of the receiving node.
    pub node: usize,
    /// Sequence number the publisher wrote into the first 8 payload bytes.
    pub seq: u64,
    /// When the node's task saw the message.
    pub at: Instant,
}

/// A node's view of the topic, for waiting until the mesh is formed.
#[derive(Clone, Copy, Debug, Default)]
pub struct TopicState {
    /// Connected peers.
    pub connected: usize,
    /// Connected peers subscribed to the topic.
    pub subscribed: usize,
    /// Peers in this node's mesh for the topic.
    pub mesh: usize,
}

enum Command {
    Dial(Multiaddr, oneshot::Sender<anyhow::Result<()>>),
    Publish(
        Vec<u8>,
        oneshot::Sender<Result<(), gossipsub::PublishError>>,
    ),
    State(oneshot::Sender<TopicState>),
}

/// A running node; dropping it (or [`Node::shutdown`]) stops its task and closes its
/// connections.
pub struct Node {
    addr: Multiaddr,
    commands: mpsc::Sender<Command>,
    task: JoinHandle<()>,
}

impl Node {
    /// Starts node `index` subscribed to `topic`; its arrivals go to `arrivals`, and the
    /// message copies gossipsub reports dropped are added to `dropped`.
    ///
    /// # Errors
    /// When the swarm cannot be built or does not start listening.
    pub async fn start(
        index: usize,
        topic: &str,
        arrivals: mpsc::UnboundedSender<Arrival>,
        dropped: Arc<AtomicU64>,
    ) -> anyhow::Result<Self> {
        let mut swarm = SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_quic()
            .with_behaviour(|key| {
                let behaviour =
                    gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), config()?)?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(behaviour)
            })
            .map_err(|e| anyhow::anyhow!("gossipsub: {e}"))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
            .build();
        let topic = IdentTopic::new(topic);
        swarm.behaviour_mut().subscribe(&topic)?;
        swarm.listen_on("/ip4/127.0.0.1/udp/0/quic-v1".parse()?)?;
        let addr = tokio::time::timeout(LISTEN_TIMEOUT, async {
            loop {
                if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                    break address;
                }
            }
        })
        .await
        .context("libp2p node did not start listening")?;
        let peer_id = *swarm.local_peer_id();
        let (commands, rx) = mpsc::channel(COMMAND_CAPACITY);
        let driver = Driver {
            index,
            swarm,
            topic: topic.hash(),
            arrivals,
            dropped,
        };
        let task = tokio::spawn(driver.run(rx));
        Ok(Self {
            addr: addr.with(Protocol::P2p(peer_id)),
            commands,
            task,
        })
    }

    /// The address to dial this node at (with its peer id, so the dial checks who answers).
    pub fn addr(&self) -> &Multiaddr {
        &self.addr
    }

    /// Dials `addr`; returns once the dial has started (the connection forms later).
    ///
    /// # Errors
    /// When the dial cannot start or the node stopped.
    pub async fn dial(&self, addr: Multiaddr) -> anyhow::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Dial(addr, tx)).await?;
        rx.await.context("libp2p node stopped")?
    }

    /// Signs and queues `data` on the topic; `false` when gossipsub dropped it because every
    /// peer's send queue was full.
    ///
    /// # Errors
    /// When gossipsub refuses the message for another reason or the node stopped.
    pub async fn publish(&self, data: Vec<u8>) -> anyhow::Result<bool> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Publish(data, tx)).await?;
        match rx.await.context("libp2p node stopped")? {
            Ok(()) => Ok(true),
            Err(gossipsub::PublishError::AllQueuesFull(_)) => Ok(false),
            Err(e) => Err(anyhow::anyhow!("gossipsub publish: {e}")),
        }
    }

    /// The node's current view of the topic.
    ///
    /// # Errors
    /// When the node stopped.
    pub async fn state(&self) -> anyhow::Result<TopicState> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::State(tx)).await?;
        rx.await.context("libp2p node stopped")
    }

    /// Stops the node's task and waits for it.
    pub async fn shutdown(self) {
        drop(self.commands);
        let _ = self.task.await;
    }

    async fn send(&self, command: Command) -> anyhow::Result<()> {
        self.commands
            .send(command)
            .await
            .map_err(|_| anyhow::anyhow!("libp2p node stopped"))
    }
}

/// The gossipsub configuration of every node: signed messages with strict validation (the
/// defaults), libp2p's default mesh degrees, room for 64 KiB payloads.
fn config() -> Result<gossipsub::Config, gossipsub::ConfigBuilderError> {
    gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Strict)
        .max_transmit_size(MAX_TRANSMIT_SIZE)
        .mesh_n(MESH_N)
        .mesh_n_low(MESH_N_LOW)
        .mesh_n_high(MESH_N_HIGH)
        .connection_handler_queue_len(QUEUE_LEN)
        .heartbeat_initial_delay(HEARTBEAT_INITIAL_DELAY)
        .build()
}

/// The state of one node's task.
struct Driver {
    index: usize,
    swarm: Swarm<gossipsub::Behaviour>,
    topic: TopicHash,
    arrivals: mpsc::UnboundedSender<Arrival>,
    dropped: Arc<AtomicU64>,
}

impl Driver {
    /// Polls the swarm and serves commands until every command sender is gone.
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.command(command),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.event(event),
            }
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Dial(addr, reply) => {
                let result = self.swarm.dial(addr).map_err(anyhow::Error::from);
                let _ = reply.send(result);
            }
            Command::Publish(data, reply) => {
                let result = self
                    .swarm
                    .behaviour_mut()
                    .publish(self.topic.clone(), data)
                    .map(drop);
                let _ = reply.send(result);
            }
            Command::State(reply) => {
                let gossipsub = self.swarm.behaviour();
                let state = TopicState {
                    connected: self.swarm.connected_peers().count(),
                    subscribed: gossipsub
                        .all_peers()
                        .filter(|(_, topics)| topics.contains(&&self.topic))
                        .count(),
                    mesh: gossipsub.mesh_peers(&self.topic).count(),
                };
                let _ = reply.send(state);
            }
        }
    }

    fn event(&mut self, event: SwarmEvent<gossipsub::Event>) {
        match event {
            SwarmEvent::Behaviour(gossipsub::Event::Message { message, .. }) => {
                let at = Instant::now();
                // The payload comes from the network: a short one is not ours and is ignored.
                let Some(seq) = message
                    .data
                    .get(..8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_le_bytes)
                else {
                    return;
                };
                let _ = self.arrivals.send(Arrival {
                    node: self.index,
                    seq,
                    at,
                });
            }
            SwarmEvent::Behaviour(gossipsub::Event::SlowPeer {
                failed_messages, ..
            }) => {
                let copies = failed_messages.publish + failed_messages.forward;
                self.dropped.fetch_add(copies as u64, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}
