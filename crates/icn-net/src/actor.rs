//! The network actor: owns the QUIC endpoint, the session table and the address book.
//!
//! The actor's loop never waits on a peer: dials, handshakes and connection IO run in their own
//! tasks and report back through an internal channel, and sends go straight from a
//! [`NetworkHandle`] into the target peer's bounded queue.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use icn_identity::{Did, Keypair};
use icn_obs::NetworkMetrics;
use icn_obs::labels::DialFailureReason;
use quinn::{Connection, Endpoint};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::backlog::Backlog;
use crate::book::{AddressBook, DialKey};
use crate::config::NetConfig;
use crate::handle::NetworkHandle;
use crate::inbound::InboundBytes;
use crate::mdns::MdnsDiscovery;
use crate::peer::{Direction, PeerInfo, PeerTarget};
use crate::session::{self, FrameLimits, Incoming, close};
use crate::tls::NodeCert;
use crate::wire::{Hello, PROTOCOL_VERSION, PeerRecord, WireMessage, encode_frame};
use crate::{NetError, dial};

/// Capacity of the handle → actor command channel.
const COMMAND_CAPACITY: usize = 256;
/// Capacity of the tasks → actor channel.
const INTERNAL_CAPACITY: usize = 1024;
/// How often quinn's connection statistics are folded into the transport metrics.
const TRANSPORT_STATS_INTERVAL: Duration = Duration::from_secs(1);
/// How often the actor looks for peers to (re)dial.
const MAINTENANCE_INTERVAL: Duration = Duration::from_millis(250);

/// What the network tells the rest of the node.
#[derive(Debug, Clone, PartialEq)]
pub enum NetEvent {
    /// A session is up (or replaced a previous one to the same peer).
    PeerUp {
        /// The peer.
        peer: Did,
        /// Topics it replicates.
        topics: Vec<String>,
    },
    /// The last session with a peer closed.
    PeerDown {
        /// The peer.
        peer: Did,
    },
    /// A peer's topics changed.
    PeerTopics {
        /// The peer.
        peer: Did,
        /// Its topics now.
        topics: Vec<String>,
    },
    /// A gossip payload from a peer.
    Gossip {
        /// The TLS-proven sender.
        from: Did,
        /// The encoded gossip message; it counts against the peer's inbound budget until
        /// dropped, so handle it, then drop it.
        bytes: InboundBytes,
    },
}

pub(crate) struct Session {
    stable_id: usize,
    tx: mpsc::Sender<Bytes>,
    /// What `tx` holds and the writer has not written yet.
    pub(crate) backlog: Arc<Backlog>,
    pub(crate) connection: Connection,
    instance: u64,
    dialer: Did,
    pub(crate) info: PeerInfo,
}

impl Session {
    /// Queues `frame` to the peer's writer, counted in its backlog. Never waits.
    pub(crate) fn queue(&self, frame: Bytes) -> Result<(), mpsc::error::TrySendError<Bytes>> {
        let len = frame.len();
        self.backlog.queued(len);
        self.tx
            .try_send(frame)
            .inspect_err(|_| self.backlog.refused(len))
    }
}

/// State shared by the actor and its handles (sessions are written by the actor only).
pub(crate) struct Shared {
    pub(crate) sessions: RwLock<HashMap<Did, Session>>,
    pub(crate) topics: RwLock<Vec<String>>,
    pub(crate) max_frame: usize,
    pub(crate) metrics: NetworkMetrics,
    /// The node's inbound channel (its depth is the gossip actor's mailbox depth).
    pub(crate) events: mpsc::Sender<NetEvent>,
    /// Woken when a peer comes back from behind (see [`crate::backlog`]).
    pub(crate) room: Arc<Notify>,
}

pub(crate) enum Command {
    Dial {
        target: PeerTarget,
        reply: oneshot::Sender<Result<Did, NetError>>,
    },
    Block {
        peer: Did,
        blocked: bool,
    },
}

pub(crate) enum Internal {
    Established {
        connection: Connection,
        hello: Hello,
        direction: Direction,
        reply: oneshot::Sender<Result<(), Option<DialFailureReason>>>,
    },
    Closed {
        peer: Did,
        stable_id: usize,
        reply: oneshot::Sender<bool>,
    },
    PeerRecords {
        records: Vec<PeerRecord>,
    },
    DialFinished {
        key: Option<DialKey>,
        result: Result<Did, NetError>,
        reply: Option<oneshot::Sender<Result<Did, NetError>>>,
    },
}

/// Everything a dial or an inbound handshake task needs.
#[derive(Clone)]
pub(crate) struct TaskContext {
    pub(crate) me: Did,
    pub(crate) cert: Arc<NodeCert>,
    pub(crate) endpoint: Endpoint,
    pub(crate) transport: Arc<quinn::TransportConfig>,
    pub(crate) limits: FrameLimits,
    pub(crate) handshake_timeout: Duration,
    pub(crate) metrics: NetworkMetrics,
    pub(crate) internal: mpsc::Sender<Internal>,
    pub(crate) events: mpsc::Sender<NetEvent>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) instance: u64,
    pub(crate) advertise: Option<SocketAddr>,
}

impl TaskContext {
    pub(crate) fn hello(&self) -> Hello {
        Hello {
            version: PROTOCOL_VERSION,
            did: self.me,
            listen_addr: self.advertise,
            topics: self
                .shared
                .topics
                .read()
                .map(|t| t.clone())
                .unwrap_or_default(),
            instance: self.instance,
        }
    }
}

/// Socket buffer asked for in each direction of the endpoint's UDP socket. Linux's default
/// (208 KiB) holds under a millisecond of a fast stream: a node whose runtime is busy for
/// longer drops datagrams, and QUIC's loss recovery then stalls the stream. The kernel caps
/// the request at `net.core.rmem_max` / `wmem_max`.
pub const UDP_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// Binds the QUIC endpoint's UDP socket at `addr`, with [`UDP_BUFFER_BYTES`] buffers where
/// the kernel allows.
fn bind_endpoint(server: quinn::ServerConfig, addr: SocketAddr) -> std::io::Result<Endpoint> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if addr.is_ipv6() {
        // Accept IPv4 too, as a plain bind does on Linux by default.
        let _ = socket.set_only_v6(false);
    }
    for (what, result) in [
        ("receive", socket.set_recv_buffer_size(UDP_BUFFER_BYTES)),
        ("send", socket.set_send_buffer_size(UDP_BUFFER_BYTES)),
    ] {
        if let Err(e) = result {
            tracing::debug!(error = %e, "cannot set the UDP {what} buffer size");
        }
    }
    socket.bind(&addr.into())?;
    let runtime = quinn::default_runtime()
        .ok_or_else(|| std::io::Error::other("no async runtime for the QUIC endpoint"))?;
    Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(server),
        socket.into(),
        runtime,
    )
}

/// The actor. Build with [`NetworkActor::bind`], then run [`NetworkActor::run`].
pub struct NetworkActor {
    config: NetConfig,
    ctx: TaskContext,
    commands: mpsc::Receiver<Command>,
    internal: mpsc::Receiver<Internal>,
    book: AddressBook,
    blocked: HashSet<Did>,
    /// Last (lost packets, congestion events) seen per connection, to count deltas.
    transport_seen: HashMap<usize, (u64, u64)>,
    /// mDNS discovery, when enabled; taken and run as a task by [`NetworkActor::run`].
    mdns: Option<MdnsDiscovery>,
}

impl NetworkActor {
    /// Binds the QUIC endpoint and returns the actor with its handle. `events` receives
    /// sessions and gossip payloads; `topics` is what we replicate.
    ///
    /// # Errors
    /// [`NetError::Bind`] when the UDP address cannot be bound, [`NetError::Tls`] or
    /// [`NetError::Config`] for invalid settings.
    pub fn bind(
        config: NetConfig,
        keypair: &Keypair,
        topics: Vec<String>,
        metrics: NetworkMetrics,
        events: mpsc::Sender<NetEvent>,
    ) -> Result<(Self, NetworkHandle), NetError> {
        config.validate().map_err(NetError::Config)?;
        let cert = Arc::new(NodeCert::new(keypair)?);
        let transport = Arc::new(dial::transport_config(&config)?);
        let mut server = quinn::ServerConfig::with_crypto(crate::tls::server_crypto(&cert)?);
        server.transport_config(transport.clone());
        let endpoint = bind_endpoint(server, config.listen).map_err(|source| NetError::Bind {
            addr: config.listen,
            source,
        })?;
        let local_addr = endpoint.local_addr().map_err(|source| NetError::Bind {
            addr: config.listen,
            source,
        })?;
        let advertise = config.advertise.or(Some(local_addr));
        let shared = Arc::new(Shared {
            sessions: RwLock::new(HashMap::new()),
            topics: RwLock::new(topics),
            max_frame: config.max_frame_bytes,
            metrics: metrics.clone(),
            events: events.clone(),
            room: Arc::new(Notify::new()),
        });
        let (command_tx, commands) = mpsc::channel(COMMAND_CAPACITY);
        let (internal_tx, internal) = mpsc::channel(INTERNAL_CAPACITY);
        let me = keypair.did();
        let ctx = TaskContext {
            me,
            cert,
            endpoint,
            transport,
            limits: FrameLimits {
                max_frame: config.max_frame_bytes,
                read_timeout: config.frame_read_timeout,
                inbound_buffer: config.inbound_buffer_bytes,
            },
            handshake_timeout: config.handshake_timeout,
            metrics,
            internal: internal_tx,
            events,
            shared: shared.clone(),
            instance: rand::random(),
            advertise,
        };
        let mut book = AddressBook::default();
        let now = Instant::now();
        for entry in &config.bootstrap {
            let target = PeerTarget::parse(entry).map_err(|e| NetError::Config(e.to_string()))?;
            if target.addr != local_addr && target.did != Some(me) {
                book.add_bootstrap(target.did, target.addr, now);
            }
        }
        let mdns = config
            .mdns
            .then(|| {
                let addr = advertise.unwrap_or(local_addr);
                MdnsDiscovery::start(me, addr, &config.mdns_interfaces)
            })
            .transpose()?;
        tracing::info!(did = %me, addr = %local_addr, "QUIC endpoint listening");
        let handle = NetworkHandle::new(command_tx, shared, me, local_addr);
        let actor = Self {
            config,
            ctx,
            commands,
            internal,
            book,
            blocked: HashSet::new(),
            transport_seen: HashMap::new(),
            mdns,
        };
        Ok((actor, handle))
    }

    /// Runs until `shutdown` is cancelled, then closes every connection with a reason.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut maintenance = tokio::time::interval(MAINTENANCE_INTERVAL);
        maintenance.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut transport = tokio::time::interval(TRANSPORT_STATS_INTERVAL);
        transport.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut exchange = tokio::time::interval(self.config.peer_exchange_interval);
        exchange.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let endpoint = self.ctx.endpoint.clone();
        let mdns_stop = shutdown.child_token();
        let mdns = self.mdns.take().map(|discovery| {
            tokio::spawn(discovery.run(self.ctx.internal.clone(), mdns_stop.clone()))
        });
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                incoming = endpoint.accept() => match incoming {
                    Some(incoming) => {
                        tokio::spawn(dial::inbound(self.ctx.clone(), incoming));
                    }
                    None => break,
                },
                Some(command) = self.commands.recv() => self.on_command(command),
                Some(internal) = self.internal.recv() => self.on_internal(internal),
                _ = maintenance.tick() => self.redial(),
                _ = exchange.tick() => self.share_peers(None),
                _ = transport.tick() => self.transport_stats(),
            }
        }
        mdns_stop.cancel();
        if let Some(task) = mdns {
            let _ = task.await;
        }
        self.stop().await;
    }

    async fn stop(&mut self) {
        let sessions: Vec<Connection> = self
            .ctx
            .shared
            .sessions
            .write()
            .map(|mut s| s.drain().map(|(_, s)| s.connection).collect())
            .unwrap_or_default();
        for connection in sessions {
            connection.close(close::SHUTDOWN, b"shutdown");
        }
        self.ctx.metrics.connections_active.set(0.0);
        self.ctx.endpoint.close(close::SHUTDOWN, b"shutdown");
        let _ = tokio::time::timeout(Duration::from_secs(1), self.ctx.endpoint.wait_idle()).await;
    }

    fn is_connected(&self, did: &Did) -> bool {
        self.ctx
            .shared
            .sessions
            .read()
            .map(|s| s.contains_key(did))
            .unwrap_or(false)
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Dial { target, reply } => {
                if let Some(did) = target.did.filter(|d| self.is_connected(d)) {
                    let _ = reply.send(Ok(did));
                    return;
                }
                tokio::spawn(dial::outbound(self.ctx.clone(), target, None, Some(reply)));
            }
            Command::Block { peer, blocked } => {
                if blocked {
                    self.blocked.insert(peer);
                    let removed = self
                        .ctx
                        .shared
                        .sessions
                        .write()
                        .ok()
                        .and_then(|mut s| s.remove(&peer));
                    if let Some(session) = removed {
                        session.connection.close(close::BLOCKED, b"blocked");
                        self.update_gauges();
                        let events = self.ctx.events.clone();
                        tokio::spawn(async move {
                            let _ = events.send(NetEvent::PeerDown { peer }).await;
                        });
                    }
                } else {
                    self.blocked.remove(&peer);
                }
            }
        }
    }

    fn on_internal(&mut self, internal: Internal) {
        match internal {
            Internal::Established {
                connection,
                hello,
                direction,
                reply,
            } => {
                let result = self.register(connection, hello, direction);
                let _ = reply.send(result);
            }
            Internal::Closed {
                peer,
                stable_id,
                reply,
            } => {
                let current = self
                    .ctx
                    .shared
                    .sessions
                    .write()
                    .map(|mut sessions| {
                        if sessions
                            .get(&peer)
                            .is_some_and(|s| s.stable_id == stable_id)
                        {
                            sessions.remove(&peer);
                            true
                        } else {
                            false
                        }
                    })
                    .unwrap_or(false);
                if current {
                    self.update_gauges();
                    tracing::info!(peer = %peer.short(), "peer disconnected");
                }
                let _ = reply.send(current);
            }
            Internal::PeerRecords { records } => {
                let now = Instant::now();
                for record in records {
                    if record.did != self.ctx.me && !self.blocked.contains(&record.did) {
                        self.book.learn(record.did, record.addr, now);
                    }
                }
                self.update_gauges();
            }
            Internal::DialFinished { key, result, reply } => {
                let now = Instant::now();
                if let Some(key) = key {
                    match &result {
                        Err(NetError::Dial {
                            reason: DialFailureReason::SelfDial,
                            ..
                        }) => self.book.forget(key),
                        Ok(did) => {
                            if let DialKey::Addr(addr) = key {
                                self.book.learn(*did, addr, now);
                            }
                            self.book.dial_finished(
                                key,
                                true,
                                now,
                                self.config.reconnect_min,
                                self.config.reconnect_max,
                            );
                        }
                        Err(_) => self.book.dial_finished(
                            key,
                            false,
                            now,
                            self.config.reconnect_min,
                            self.config.reconnect_max,
                        ),
                    }
                }
                self.update_gauges();
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
        }
    }

    /// Admits a handshaken connection as the session with its peer, applying the peer limit and
    /// the duplicate rule: a dead session or one from a previous peer instance is replaced;
    /// between two live connections, both nodes keep the one dialed by the smaller DID (the
    /// newer one when both were dialed by the same side).
    fn register(
        &mut self,
        connection: Connection,
        hello: Hello,
        direction: Direction,
    ) -> Result<(), Option<DialFailureReason>> {
        let peer = hello.did;
        if self.blocked.contains(&peer) {
            connection.close(close::BLOCKED, b"blocked");
            return Err(None);
        }
        let dialer = match direction {
            Direction::Outbound => self.ctx.me,
            Direction::Inbound => peer,
        };
        let Ok(mut sessions) = self.ctx.shared.sessions.write() else {
            return Err(None);
        };
        if let Some(existing) = sessions.get(&peer) {
            let keep_new = existing.connection.close_reason().is_some()
                || existing.instance != hello.instance
                || existing.dialer == dialer
                || dialer == self.ctx.me.min(peer);
            if !keep_new {
                connection.close(close::DUPLICATE, b"duplicate connection");
                return Err(None);
            }
            if let Some(old) = sessions.remove(&peer) {
                old.connection
                    .close(close::DUPLICATE, b"replaced by a newer connection");
            }
        } else if sessions.len() >= self.config.max_peers {
            connection.close(close::PEER_LIMIT, b"peer limit reached");
            return Err(Some(DialFailureReason::PeerLimit));
        }
        let listen_addr = hello.listen_addr.map(|mut addr| {
            if addr.ip().is_unspecified() {
                addr.set_ip(connection.remote_address().ip());
            }
            addr
        });
        let (tx, rx) = mpsc::channel(self.config.send_queue);
        let backlog = Arc::new(Backlog::new(
            self.config.send_queue,
            self.ctx.shared.room.clone(),
        ));
        let info = PeerInfo {
            did: peer,
            remote_addr: connection.remote_address(),
            listen_addr,
            rtt: connection.rtt(),
            connected_since: SystemTime::now(),
            direction,
            topics: hello.topics.clone(),
        };
        tokio::spawn(session::run_writer(
            connection.clone(),
            rx,
            self.ctx.metrics.clone(),
            backlog.clone(),
        ));
        sessions.insert(
            peer,
            Session {
                stable_id: connection.stable_id(),
                tx,
                backlog,
                connection,
                instance: hello.instance,
                dialer,
                info,
            },
        );
        drop(sessions);
        let now = Instant::now();
        if let Some(addr) = listen_addr {
            self.book.learn(peer, addr, now);
        }
        self.book.connected(peer, now);
        self.ctx.metrics.connections_total.increment(1);
        self.update_gauges();
        tracing::info!(peer = %peer.short(), direction = direction.as_str(), "peer connected");
        self.share_peers(Some(peer));
        Ok(())
    }

    /// Sends our connected peers' addresses to one peer, or to all.
    fn share_peers(&self, to: Option<Did>) {
        let Ok(sessions) = self.ctx.shared.sessions.read() else {
            return;
        };
        let records: Vec<PeerRecord> = sessions
            .values()
            .filter_map(|s| {
                s.info.listen_addr.map(|addr| PeerRecord {
                    did: s.info.did,
                    addr,
                })
            })
            .collect();
        if records.is_empty() {
            return;
        }
        let Ok(frame) = encode_frame(&WireMessage::Peers(records), self.config.max_frame_bytes)
        else {
            return;
        };
        let frame = Bytes::from(frame);
        for (did, session) in sessions.iter() {
            if to.is_none_or(|t| t == *did) {
                let _ = session.queue(frame.clone());
            }
        }
    }

    fn redial(&mut self) {
        let free = self.config.max_peers.saturating_sub(
            self.ctx
                .shared
                .sessions
                .read()
                .map(|s| s.len())
                .unwrap_or(0),
        );
        if free == 0 {
            return;
        }
        let sessions = self.ctx.shared.clone();
        let blocked = self.blocked.clone();
        let due = self.book.due(Instant::now(), free, |did| {
            blocked.contains(did)
                || sessions
                    .sessions
                    .read()
                    .map(|s| s.contains_key(did))
                    .unwrap_or(true)
        });
        for (key, addr) in due {
            let did = match key {
                DialKey::Did(did) => Some(did),
                DialKey::Addr(_) => None,
            };
            let target = PeerTarget { did, addr };
            tokio::spawn(dial::outbound(self.ctx.clone(), target, Some(key), None));
        }
    }

    /// Folds quinn's per-connection path statistics into the aggregate transport metrics.
    fn transport_stats(&mut self) {
        let Ok(sessions) = self.ctx.shared.sessions.read() else {
            return;
        };
        let metrics = &self.ctx.metrics;
        let mut live = HashSet::new();
        for session in sessions.values() {
            let stats = session.connection.stats();
            metrics.rtt.record(stats.path.rtt.as_secs_f64());
            let now = (stats.path.lost_packets, stats.path.congestion_events);
            let seen = self
                .transport_seen
                .entry(session.stable_id)
                .or_insert((0, 0));
            metrics.lost_packets.increment(now.0.saturating_sub(seen.0));
            metrics
                .congestion_events
                .increment(now.1.saturating_sub(seen.1));
            *seen = now;
            live.insert(session.stable_id);
        }
        self.transport_seen.retain(|id, _| live.contains(id));
    }

    fn update_gauges(&self) {
        let active = self
            .ctx
            .shared
            .sessions
            .read()
            .map(|s| s.len())
            .unwrap_or(0);
        self.ctx.metrics.connections_active.set(active as f64);
        self.ctx
            .metrics
            .peers_discovered
            .set(self.book.known_peers() as f64);
    }
}

/// After registration: emits `PeerUp`, pumps the peer's frames to the node until the
/// connection closes, then emits `PeerDown` if it was still the peer's session.
pub(crate) async fn run_session(ctx: TaskContext, connection: Connection, hello: Hello) {
    let peer = hello.did;
    let started = Instant::now();
    let (tx, mut rx) = mpsc::channel::<Incoming>(64);
    tokio::spawn(session::run_readers(
        connection.clone(),
        ctx.limits.clone(),
        ctx.metrics.clone(),
        tx,
    ));
    let _ = ctx
        .events
        .send(NetEvent::PeerUp {
            peer,
            topics: hello.topics.clone(),
        })
        .await;
    while let Some(incoming) = rx.recv().await {
        match incoming {
            Incoming::Gossip(bytes) => {
                let _ = ctx
                    .events
                    .send(NetEvent::Gossip { from: peer, bytes })
                    .await;
            }
            Incoming::Topics(topics) => {
                if let Ok(mut sessions) = ctx.shared.sessions.write()
                    && let Some(s) = sessions.get_mut(&peer)
                {
                    s.info.topics.clone_from(&topics);
                }
                let _ = ctx.events.send(NetEvent::PeerTopics { peer, topics }).await;
            }
            Incoming::Peers(records) => {
                let _ = ctx.internal.send(Internal::PeerRecords { records }).await;
            }
        }
    }
    let _ = connection.closed().await;
    ctx.metrics
        .connection_duration
        .record(started.elapsed().as_secs_f64());
    let (reply, current) = oneshot::channel();
    let _ = ctx
        .internal
        .send(Internal::Closed {
            peer,
            stable_id: connection.stable_id(),
            reply,
        })
        .await;
    if current.await.unwrap_or(false) {
        let _ = ctx.events.send(NetEvent::PeerDown { peer }).await;
    }
}
