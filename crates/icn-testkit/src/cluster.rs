//! In-process clusters of full nodes: real QUIC on 127.0.0.1, ephemeral ports, temp data dirs,
//! each node with its own metrics listener.

use std::net::SocketAddr;
use std::time::Duration;

use icn_core::{ConfigOverrides, Node, NodeConfig};
use icn_identity::{Did, Keypair};
use icn_obs::NodeMetrics;

use crate::scrape::{Metrics, scrape};

/// How nodes are told about each other at start (peer exchange may connect more).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// Nobody bootstraps: tests dial by hand.
    Isolated,
    /// Node i bootstraps to node i-1.
    Line,
    /// Every node bootstraps to node 0.
    Star,
    /// Node i bootstraps to every node before it.
    FullMesh,
}

/// Which metrics registry the nodes of a cluster get.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MetricsMode {
    /// A live registry per node, as `icnd` runs.
    #[default]
    Live,
    /// [`NodeMetrics::noop`]: every handle does nothing and pages are empty (the baseline of
    /// the instrumentation-overhead benchmark).
    Noop,
}

impl MetricsMode {
    /// A fresh registry of this kind.
    ///
    /// # Errors
    /// When the live registry cannot be built.
    pub fn registry(self) -> anyhow::Result<NodeMetrics> {
        Ok(match self {
            MetricsMode::Live => NodeMetrics::new()?,
            MetricsMode::Noop => NodeMetrics::noop(),
        })
    }
}

/// One member of a cluster; stopped members keep their key, data dir and port.
pub struct Member {
    /// The node's identity.
    pub keypair: Keypair,
    /// The config it runs with.
    pub config: NodeConfig,
    /// The kind of registry it gets (a restart gets a fresh one of the same kind).
    pub metrics: MetricsMode,
    node: Option<Node>,
}

/// N in-process nodes.
pub struct Cluster {
    members: Vec<Member>,
    _dir: tempfile::TempDir,
}

/// A node config for tests: loopback, port 0, fast refresh and reconnects.
///
/// # Errors
/// Never in practice; config loading is fallible in general.
pub fn test_config(data_dir: std::path::PathBuf) -> anyhow::Result<NodeConfig> {
    let mut config = NodeConfig::load_with_env(None, |_| None, &ConfigOverrides::default())?;
    config.data_dir = data_dir;
    config.metrics.addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config.metrics.refresh_interval = Duration::from_millis(200);
    config.network.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.rpc.addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config.network.reconnect_min = Duration::from_millis(50);
    config.network.reconnect_max = Duration::from_millis(500);
    config.network.peer_exchange_interval = Duration::from_secs(2);
    Ok(config)
}

impl Cluster {
    /// Starts `n` nodes in `topology`, one after the other.
    ///
    /// # Errors
    /// When a node fails to start.
    pub async fn start(n: usize, topology: Topology) -> anyhow::Result<Self> {
        Self::start_with(n, topology, |_, _| {}).await
    }

    /// Like [`Cluster::start`], letting `adjust(i, config)` change each node's config first.
    ///
    /// # Errors
    /// When a node fails to start.
    pub async fn start_with(
        n: usize,
        topology: Topology,
        adjust: impl FnMut(usize, &mut NodeConfig),
    ) -> anyhow::Result<Self> {
        Self::start_with_metrics(n, topology, MetricsMode::Live, adjust).await
    }

    /// Like [`Cluster::start_with`], every node with a registry of kind `metrics`.
    ///
    /// # Errors
    /// When a node fails to start.
    pub async fn start_with_metrics(
        n: usize,
        topology: Topology,
        metrics: MetricsMode,
        mut adjust: impl FnMut(usize, &mut NodeConfig),
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut members: Vec<Member> = Vec::with_capacity(n);
        for i in 0..n {
            let keypair = Keypair::generate();
            let mut config = test_config(dir.path().join(format!("node{i}")))?;
            let targets: Vec<String> = match topology {
                Topology::Isolated => Vec::new(),
                Topology::Line if i > 0 => vec![members[i - 1].target()?],
                Topology::Star if i > 0 => vec![members[0].target()?],
                Topology::FullMesh => members[..i]
                    .iter()
                    .map(Member::target)
                    .collect::<anyhow::Result<_>>()?,
                _ => Vec::new(),
            };
            config.network.bootstrap = targets;
            adjust(i, &mut config);
            let node = Node::start_with_metrics(
                config.clone(),
                Some(keypair.clone()),
                metrics.registry()?,
            )
            .await?;
            // Pin the bound ports so a restart comes back on the same addresses.
            if let Some(network) = node.network() {
                config.network.listen = network.local_addr();
            }
            if let Some(addr) = node.metrics_addr() {
                config.metrics.addr = addr;
            }
            if let Some(addr) = node.rpc_addr() {
                config.rpc.addr = addr;
            }
            members.push(Member {
                keypair,
                config,
                metrics,
                node: Some(node),
            });
        }
        Ok(Self { members, _dir: dir })
    }

    /// Number of members (running or not).
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True for an empty cluster.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The running node `i`.
    ///
    /// # Panics
    /// When node `i` is stopped (a test bug).
    pub fn node(&self, i: usize) -> &Node {
        self.members[i]
            .node
            .as_ref()
            .unwrap_or_else(|| panic!("node {i} is stopped"))
    }

    /// Member `i` (running or not).
    pub fn member(&self, i: usize) -> &Member {
        &self.members[i]
    }

    /// DID of node `i`.
    pub fn did(&self, i: usize) -> Did {
        self.members[i].keypair.did()
    }

    /// Indices of running nodes.
    pub fn running(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|i| self.members[*i].node.is_some())
            .collect()
    }

    /// Scrapes node `i`'s `/metrics` over HTTP.
    ///
    /// # Errors
    /// When the node is stopped or the scrape fails.
    pub async fn scrape(&self, i: usize) -> anyhow::Result<Metrics> {
        let addr = self.members[i]
            .node
            .as_ref()
            .and_then(Node::metrics_addr)
            .ok_or_else(|| anyhow::anyhow!("node {i} is not serving metrics"))?;
        scrape(addr).await
    }

    /// Connected peer DIDs of node `i`, sorted.
    pub fn peers_of(&self, i: usize) -> Vec<Did> {
        self.members[i]
            .node
            .as_ref()
            .and_then(Node::network)
            .map(|n| n.peers().into_iter().map(|p| p.did).collect())
            .unwrap_or_default()
    }

    /// Gracefully stops node `i` (its key, data dir and ports are kept for a restart).
    ///
    /// # Errors
    /// When the shutdown times out.
    pub async fn stop(&mut self, i: usize) -> anyhow::Result<()> {
        if let Some(node) = self.members[i].node.take() {
            node.shutdown().await?;
        }
        Ok(())
    }

    /// Starts node `i` again with the same identity, data dir and addresses.
    ///
    /// # Errors
    /// When the node fails to start.
    pub async fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.stop(i).await?;
        let member = &mut self.members[i];
        let node = Node::start_with_metrics(
            member.config.clone(),
            Some(member.keypair.clone()),
            member.metrics.registry()?,
        )
        .await?;
        member.node = Some(node);
        Ok(())
    }

    /// Cuts (or restores) the link between nodes `i` and `j` in both directions.
    pub async fn set_link(&self, i: usize, j: usize, up: bool) {
        let (di, dj) = (self.did(i), self.did(j));
        if let Some(network) = self.members[i].node.as_ref().and_then(Node::network) {
            network.set_blocked(dj, !up).await;
        }
        if let Some(network) = self.members[j].node.as_ref().and_then(Node::network) {
            network.set_blocked(di, !up).await;
        }
    }

    /// Cuts every link between the two groups.
    pub async fn partition(&self, left: &[usize], right: &[usize]) {
        for &i in left {
            for &j in right {
                self.set_link(i, j, false).await;
            }
        }
    }

    /// Restores every link between the two groups.
    pub async fn heal(&self, left: &[usize], right: &[usize]) {
        for &i in left {
            for &j in right {
                self.set_link(i, j, true).await;
            }
        }
    }

    /// Stops every running node.
    ///
    /// # Errors
    /// When a shutdown times out.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        for i in 0..self.members.len() {
            self.stop(i).await?;
        }
        Ok(())
    }
}

impl Member {
    /// `did@addr` of this member's QUIC listener.
    ///
    /// # Errors
    /// When the member has no bound address yet.
    pub fn target(&self) -> anyhow::Result<String> {
        Ok(format!(
            "{}@{}",
            self.keypair.did(),
            self.config.network.listen
        ))
    }

    /// The running node, if any.
    pub fn node(&self) -> Option<&Node> {
        self.node.as_ref()
    }
}
