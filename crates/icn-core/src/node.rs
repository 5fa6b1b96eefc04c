//! A running node: metrics listener first, then the actors, then the gauge-refresh task.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use icn_gossip::{GossipActor, GossipConfig, GossipHandle, GossipStore, Topic};
use icn_identity::{Did, Keypair};
use icn_ledger::{LedgerActor, LedgerConfig, LedgerHandle, LedgerStore};
use icn_net::{NetworkActor, NetworkHandle};
use icn_obs::health::ActorCounts;
use icn_obs::labels::{Actor, LabelValue, LogLevel};
use icn_obs::{
    HealthReport, HealthStatus, MetricsServer, MetricsServerConfig, NodeMetrics, NodeStatus,
    Readiness,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use icn_rpc::{RpcServer, RpcToken};

use crate::CoreError;
use crate::config::NodeConfig;
use crate::rpc_backend::NodeRpc;
use crate::supervisor::Supervisor;

/// How long a graceful shutdown may take before it is reported as timed out.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Name of the keystore file inside the data directory.
pub const IDENTITY_FILE: &str = "identity.key";

/// File in the data directory holding the bound metrics address (useful with port 0).
pub const METRICS_ADDR_FILE: &str = "metrics.addr";
/// File in the data directory holding the bound peer-to-peer (QUIC) address.
pub const P2P_ADDR_FILE: &str = "p2p.addr";
/// Capacity of the network → gossip event channel.
const NET_EVENTS_CAPACITY: usize = 4096;
/// Gossip store file in the data directory.
pub const GOSSIP_STORE_FILE: &str = "gossip.redb";
/// Ledger store file in the data directory.
pub const LEDGER_STORE_FILE: &str = "ledger.redb";
/// Bytes of a network frame reserved for the wire envelope around a gossip message.
const GOSSIP_FRAME_HEADROOM: usize = 64;

/// A started node. Dropping it without [`Node::shutdown`] cancels its tasks without waiting.
pub struct Node {
    supervisor: Supervisor,
    state: Arc<NodeState>,
    metrics: NodeMetrics,
    metrics_addr: Option<SocketAddr>,
    rpc_addr: Option<SocketAddr>,
}

/// What the HTTP handlers, the RPC backend and the refresh task read.
pub(crate) struct NodeState {
    pub(crate) started: Instant,
    supervisor: Supervisor,
    metrics: NodeMetrics,
    /// Why the node is degraded (empty when it runs everything).
    missing: Vec<String>,
    pub(crate) did: Option<Did>,
    pub(crate) network: Option<NetworkHandle>,
    pub(crate) gossip: Option<GossipHandle>,
    pub(crate) ledger: OnceLock<LedgerHandle>,
    /// Whether bootstrap peers are configured (then readiness needs a peer).
    has_bootstrap: bool,
}

impl NodeStatus for NodeState {
    fn refresh_gauges(&self) {
        let system = self.metrics.system();
        system
            .uptime_seconds
            .set(self.started.elapsed().as_secs_f64());
        // Lossless for any realistic number of tasks.
        system.actors_active.set(self.supervisor.running() as f64);
        self.metrics.collect_process();
        let depth = &system.mailbox_depth;
        if let Some(network) = &self.network {
            depth
                .get(Actor::Network)
                .set(network.mailbox_depth() as f64);
            let gossip = self.gossip.as_ref().map_or(0, GossipHandle::mailbox_depth);
            depth
                .get(Actor::Gossip)
                .set((network.events_depth() + gossip) as f64);
        }
        if let Some(ledger) = self.ledger.get() {
            depth.get(Actor::Ledger).set(ledger.mailbox_depth() as f64);
        }
        for level in LogLevel::ALL {
            system
                .log_messages
                .get(*level)
                .absolute(icn_obs::logging::log_count(*level));
        }
    }

    fn health(&self) -> HealthReport {
        let active = self.supervisor.running();
        let expected = self.supervisor.expected();
        let mut reasons = self.missing.clone();
        let status = if self.supervisor.gave_up() {
            reasons.push("an actor keeps failing and is no longer restarted".into());
            HealthStatus::Unhealthy
        } else if !reasons.is_empty() || active < expected {
            if active < expected {
                reasons.push(format!("{active} of {expected} actors running"));
            }
            HealthStatus::Degraded
        } else {
            HealthStatus::Healthy
        };
        HealthReport {
            status,
            reasons,
            version: icn_obs::registry::BUILD_VERSION,
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            did: self.did.map(|d| d.to_string()),
            actors: ActorCounts { active, expected },
            listen_addr: self.network.as_ref().map(|n| n.local_addr().to_string()),
            peers: self.network.as_ref().map(|n| n.peer_count() as u64),
            topics: self
                .gossip
                .as_ref()
                .and_then(|g| g.joined_topics().ok())
                .map(|t| t.len() as u64),
            entries: self.gossip.as_ref().and_then(|g| g.stored_count().ok()),
            ledger: None,
        }
    }

    fn readiness(&self) -> Readiness {
        let mut reasons = self.missing.clone();
        if self.supervisor.gave_up() {
            reasons.push("an actor keeps failing".into());
        }
        if let Some(network) = &self.network
            && self.has_bootstrap
            && network.peer_count() == 0
        {
            reasons.push("no peer connected yet".into());
        }
        Readiness {
            ready: reasons.is_empty(),
            reasons,
        }
    }
}

impl Node {
    /// Starts a node: creates the data directory, binds and serves the metrics listener first,
    /// starts the actors that the configuration and the node's identity allow, then the
    /// gauge-refresh task.
    ///
    /// # Errors
    /// [`CoreError::Io`] when the data directory cannot be created, [`CoreError::Obs`] when the
    /// metrics listener cannot bind or its token or TLS files cannot be used.
    pub async fn start(config: NodeConfig, identity: Option<Keypair>) -> Result<Self, CoreError> {
        Self::start_with_metrics(config, identity, NodeMetrics::new()?).await
    }

    /// [`Node::start`] with a registry of the caller's: a fresh one, or [`NodeMetrics::noop`]
    /// (benchmarks compare the two to measure what instrumentation costs). The registry must not
    /// be shared with another node, or both would count into the same series.
    ///
    /// # Errors
    /// As [`Node::start`].
    pub async fn start_with_metrics(
        config: NodeConfig,
        identity: Option<Keypair>,
        metrics: NodeMetrics,
    ) -> Result<Self, CoreError> {
        let started = Instant::now();
        create_data_dir(&config.data_dir)?;
        let supervisor = Supervisor::new(CancellationToken::new(), metrics.system().clone());

        let identity_path = config.data_dir.join(IDENTITY_FILE);
        let mut missing = Vec::new();
        if identity.is_none() {
            missing.push(format!(
                "no identity at {}: create one with `icnd init --data-dir {}`",
                identity_path.display(),
                config.data_dir.display()
            ));
        }

        // Bind every socket before anything runs, so a clash fails start-up with its address.
        let network = match &identity {
            Some(keypair) => {
                let (events_tx, events_rx) = mpsc::channel(NET_EVENTS_CAPACITY);
                let (actor, handle) = NetworkActor::bind(
                    config.network.clone(),
                    keypair,
                    Vec::new(),
                    metrics.network().clone(),
                    events_tx,
                )?;
                write_runtime_file(
                    &config.data_dir,
                    P2P_ADDR_FILE,
                    &handle.local_addr().to_string(),
                )?;
                let gossip_store = GossipStore::open(&config.data_dir.join(GOSSIP_STORE_FILE))?;
                gossip_store.count_errors_in(metrics.system().storage_errors.clone());
                let topics = config
                    .gossip
                    .topics
                    .iter()
                    .map(|t| Topic::new(t).map_err(|e| CoreError::Config(e.to_string())))
                    .collect::<Result<Vec<_>, _>>()?;
                let (gossip, gossip_handle) = GossipActor::new(
                    gossip_config(&config),
                    keypair.clone(),
                    gossip_store,
                    handle.clone(),
                    events_rx,
                    &topics,
                    config.network.max_frame_bytes - GOSSIP_FRAME_HEADROOM,
                    metrics.gossip().clone(),
                )?;
                let ledger_store = LedgerStore::open(
                    &config.data_dir.join(LEDGER_STORE_FILE),
                    config.ledger.max_op_bytes,
                )?;
                ledger_store.count_errors_in(metrics.system().storage_errors.clone());
                Some(Actors {
                    network: actor,
                    network_handle: handle,
                    gossip,
                    gossip_handle,
                    ledger_store,
                })
            }
            None => None,
        };

        let state = Arc::new(NodeState {
            started,
            supervisor: supervisor.clone(),
            metrics: metrics.clone(),
            missing,
            did: identity.as_ref().map(Keypair::did),
            network: network.as_ref().map(|a| a.network_handle.clone()),
            gossip: network.as_ref().map(|a| a.gossip_handle.clone()),
            ledger: OnceLock::new(),
            has_bootstrap: !config.network.bootstrap.is_empty(),
        });

        let metrics_addr = if config.metrics.enabled {
            let server_config = MetricsServerConfig {
                addr: config.metrics.addr,
                path: config.metrics.path.clone(),
                token_file: config.metrics.token_file.clone(),
                auth_all: config.metrics.auth_all,
                tls: config.metrics.tls_files(),
            };
            let server =
                MetricsServer::bind(&server_config, metrics.clone(), state.clone()).await?;
            let addr = server.local_addr();
            let (tls, token) = (server.is_tls(), server.is_authenticated());
            write_runtime_file(&config.data_dir, METRICS_ADDR_FILE, &addr.to_string())?;
            let stop = supervisor.shutdown_token();
            supervisor.spawn_task(async move {
                if let Err(e) = server.serve(stop).await {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            });
            tracing::info!(addr = %addr, path = %config.metrics.path, tls, token, "serving metrics");
            Some(addr)
        } else {
            tracing::info!("metrics listener disabled");
            None
        };

        // Bound now (a port clash fails start-up), served once the actors it drives run.
        let rpc_server = if config.rpc.enabled {
            let token = RpcToken::generate();
            token
                .write_to(&config.data_dir)
                .map_err(|e| CoreError::Io {
                    path: config.data_dir.join(icn_rpc::TOKEN_FILE),
                    source: std::io::Error::other(e.to_string()),
                })?;
            let backend = Arc::new(NodeRpc {
                state: state.clone(),
            });
            let server =
                RpcServer::bind(config.rpc.addr, token, metrics.rpc().clone(), backend).await?;
            Some(server)
        } else {
            None
        };

        for reason in &state.missing {
            tracing::warn!("{reason}; running degraded (metrics and health only)");
        }

        if let (Some(actors), Some(keypair)) = (network, identity) {
            let stop = supervisor.shutdown_token();
            supervisor.spawn_critical(Actor::Network, actors.network.run(stop.clone()));
            supervisor.spawn_critical(Actor::Gossip, actors.gossip.run(stop.clone()));
            let (ledger, ledger_handle) = LedgerActor::start(
                ledger_config(&config),
                keypair,
                actors.ledger_store,
                actors.gossip_handle,
                metrics.ledger().clone(),
            )
            .await?;
            let _ = state.ledger.set(ledger_handle);
            supervisor.spawn_critical(Actor::Ledger, ledger.run(stop));
            let handle = actors.network_handle;
            tracing::info!(did = %handle.did(), addr = %handle.local_addr(), "node started");
        }

        let rpc_addr = match rpc_server {
            Some(server) => {
                let addr = server.local_addr();
                icn_rpc::write_addr_file(&config.data_dir, addr).map_err(|e| CoreError::Io {
                    path: config.data_dir.join(icn_rpc::ADDR_FILE),
                    source: std::io::Error::other(e.to_string()),
                })?;
                let stop = supervisor.shutdown_token();
                let data_dir = config.data_dir.clone();
                supervisor.spawn_task(async move {
                    if let Err(e) = server.serve(stop).await {
                        tracing::error!(error = %e, "RPC listener failed");
                    }
                    // A stopped node leaves no stale address behind for icnctl.
                    let _ = std::fs::remove_file(data_dir.join(icn_rpc::ADDR_FILE));
                });
                tracing::info!(addr = %addr, "serving the control API");
                Some(addr)
            }
            None => None,
        };

        spawn_refresh_task(&supervisor, state.clone(), config.metrics.refresh_interval);
        state.refresh_gauges();

        Ok(Self {
            supervisor,
            state,
            metrics,
            metrics_addr,
            rpc_addr,
        })
    }

    /// Address the metrics listener is bound to, if enabled.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Address the control API is bound to, if enabled.
    pub fn rpc_addr(&self) -> Option<SocketAddr> {
        self.rpc_addr
    }

    /// This node's registry.
    pub fn metrics(&self) -> &NodeMetrics {
        &self.metrics
    }

    /// The current `/health` report.
    pub fn health(&self) -> HealthReport {
        self.state.health()
    }

    /// The node's DID, when it has an identity.
    pub fn did(&self) -> Option<Did> {
        self.state.did
    }

    /// The network, when the node has an identity.
    pub fn network(&self) -> Option<&NetworkHandle> {
        self.state.network.as_ref()
    }

    /// Gossip, when the node has an identity.
    pub fn gossip(&self) -> Option<&GossipHandle> {
        self.state.gossip.as_ref()
    }

    /// The ledger, when the node has an identity.
    pub fn ledger(&self) -> Option<&LedgerHandle> {
        self.state.ledger.get()
    }

    /// The supervisor (actor counts, shutdown token).
    pub fn supervisor(&self) -> &Supervisor {
        &self.supervisor
    }

    /// Stops accepting work, stops every task and waits for them (at most [`SHUTDOWN_TIMEOUT`]).
    ///
    /// # Errors
    /// [`CoreError::ShutdownTimeout`] when some task did not stop in time.
    pub async fn shutdown(self) -> Result<(), CoreError> {
        tracing::info!("shutting down");
        if self.supervisor.shutdown(SHUTDOWN_TIMEOUT).await {
            tracing::info!("stopped");
            Ok(())
        } else {
            Err(CoreError::ShutdownTimeout(SHUTDOWN_TIMEOUT))
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.supervisor.shutdown_token().cancel();
    }
}

/// The actors of a node with an identity, bound but not yet running.
struct Actors {
    network: NetworkActor,
    network_handle: NetworkHandle,
    gossip: GossipActor,
    gossip_handle: GossipHandle,
    ledger_store: LedgerStore,
}

/// The gossip core's settings from the node configuration.
fn gossip_config(config: &NodeConfig) -> GossipConfig {
    let mut gossip = GossipConfig::default();
    gossip.entry_limits.max_payload_bytes = config.gossip.max_payload_bytes;
    gossip.anti_entropy_interval_ms =
        u64::try_from(config.gossip.anti_entropy_interval.as_millis()).unwrap_or(u64::MAX);
    gossip
}

/// The ledger's settings: an entry of own ops never exceeds what gossip accepts.
fn ledger_config(config: &NodeConfig) -> LedgerConfig {
    let mut ledger = config.ledger.clone();
    ledger.max_entry_bytes = ledger.max_entry_bytes.min(config.gossip.max_payload_bytes);
    ledger
}

fn spawn_refresh_task(supervisor: &Supervisor, state: Arc<NodeState>, every: Duration) {
    let stop = supervisor.shutdown_token();
    supervisor.spawn_task(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticker.tick() => {
                    state.refresh_gauges();
                    state.metrics.run_upkeep();
                }
            }
        }
    });
}

/// Writes a small runtime file (bound addresses) atomically, so readers never see half of it.
fn write_runtime_file(dir: &std::path::Path, name: &str, contents: &str) -> Result<(), CoreError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let io = |source| CoreError::Io {
        path: path.clone(),
        source,
    };
    std::fs::write(&tmp, format!("{contents}\n")).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)
}

fn create_data_dir(dir: &PathBuf) -> Result<(), CoreError> {
    let io = |source| CoreError::Io {
        path: dir.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir).map_err(io)?.permissions().mode();
        // Keep the data directory private; never loosen one the operator tightened.
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o700))
                .map_err(io)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_ledger_entries_never_exceed_what_gossip_accepts() {
        let mut config = NodeConfig::default();
        let ledger = ledger_config(&config);
        assert_eq!(ledger.max_entry_bytes, icn_ledger::DEFAULT_MAX_ENTRY_BYTES);
        config.gossip.max_payload_bytes = 16 * 1024;
        assert_eq!(ledger_config(&config).max_entry_bytes, 16 * 1024);
    }
}
