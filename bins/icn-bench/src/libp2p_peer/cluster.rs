//! N gossipsub nodes in this process, connected as one of ICN's benchmark graphs, with every
//! node's arrivals merged into one channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use icn_testkit::wait_until;
use tokio::sync::mpsc;

use super::node::{Arrival, MESH_N_LOW, Node};
use crate::topology::{self, Graph};

/// How long the links and the topic mesh may take to form.
const FORM_TIMEOUT: Duration = Duration::from_secs(60);

/// A running gossipsub cluster.
pub struct Libp2pCluster {
    nodes: Vec<Node>,
    arrivals: mpsc::UnboundedReceiver<Arrival>,
    dropped: Arc<AtomicU64>,
}

impl Libp2pCluster {
    /// Starts `n` nodes subscribed to `topic`, connected as `graph` (the same edges as ICN's
    /// clusters: node `i` dials node `j` for every edge `i < j`; gossipsub's peer exchange is
    /// off, so no other link forms). Returns once every node is connected to its neighbours,
    /// sees them subscribed, and has them in its mesh up to D_low.
    ///
    /// # Errors
    /// When a node fails to start or the mesh does not form within a minute.
    pub async fn start(n: usize, graph: Graph, topic: &str) -> anyhow::Result<Self> {
        let edges = topology::edges(n, graph)?;
        let (tx, arrivals) = mpsc::unbounded_channel();
        let dropped = Arc::new(AtomicU64::new(0));
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            nodes.push(Node::start(i, topic, tx.clone(), dropped.clone()).await?);
        }
        let cluster = Self {
            nodes,
            arrivals,
            dropped,
        };
        for &(i, j) in &edges {
            cluster.nodes[i]
                .dial(cluster.nodes[j].addr().clone())
                .await
                .with_context(|| format!("libp2p node {i} dialing node {j}"))?;
        }
        let degree = |i: usize| edges.iter().filter(|(a, b)| *a == i || *b == i).count();
        wait_until(FORM_TIMEOUT, "libp2p gossipsub mesh", || async {
            for (i, node) in cluster.nodes.iter().enumerate() {
                let Ok(state) = node.state().await else {
                    return false;
                };
                let d = degree(i);
                if state.connected != d || state.subscribed != d || state.mesh < d.min(MESH_N_LOW) {
                    return false;
                }
            }
            true
        })
        .await?;
        Ok(cluster)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// The next arrival at any node, or `None` when `deadline` passes first.
    ///
    /// # Errors
    /// When every node stopped.
    pub async fn next_arrival(&mut self, deadline: Instant) -> anyhow::Result<Option<Arrival>> {
        match tokio::time::timeout_at(deadline.into(), self.arrivals.recv()).await {
            Ok(Some(arrival)) => Ok(Some(arrival)),
            Ok(None) => anyhow::bail!("every libp2p node stopped"),
            Err(_) => Ok(None),
        }
    }

    /// Message copies gossipsub reported dropped since the start.
    pub fn dropped_copies(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Stops every node.
    pub async fn shutdown(self) {
        for node in self.nodes {
            node.shutdown().await;
        }
    }
}
