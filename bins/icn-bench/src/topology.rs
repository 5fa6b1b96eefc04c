//! Starting in-process clusters in a given shape: full mesh, or a random regular graph whose
//! non-edges are blocked so peer exchange cannot turn it into a mesh.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use anyhow::Context as _;
use icn_core::NodeConfig;
use icn_net::PeerTarget;
use icn_testkit::{Cluster, MetricsMode, Topology, wait_until};
use rand::SeedableRng as _;
use rand::seq::SliceRandom as _;
use rand_chacha::ChaCha8Rng;
use serde::{Serialize, Serializer};

/// How long a cluster may take to form its links (50 nodes on a loaded 2-core machine).
const FORM_TIMEOUT: Duration = Duration::from_secs(120);

/// Seed of the random graphs, so every run measures the same shapes.
const GRAPH_SEED: u64 = 8;

/// The shape of a benchmark cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Graph {
    /// Every node connected to every other.
    Mesh,
    /// A random `degree`-regular graph (a mesh when there are too few nodes).
    Random {
        /// Links per node.
        degree: usize,
    },
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Graph::Mesh => f.write_str("mesh"),
            Graph::Random { degree } => write!(f, "random-{degree}"),
        }
    }
}

impl Serialize for Graph {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The config every benchmark node runs with on top of the test config.
pub fn bench_config(config: &mut NodeConfig, topic: &str) {
    config.gossip.topics = vec![topic.to_owned()];
    // No control API: benchmarks drive handles directly.
    config.rpc.enabled = false;
}

/// Starts `n` nodes joined to `topic` and connected as `graph`; returns once every link is up.
///
/// # Errors
/// When a node fails to start, or the links do not form within two minutes.
pub async fn start(n: usize, graph: Graph, topic: &str) -> anyhow::Result<Cluster> {
    start_with(n, graph, topic, |_, _| {}).await
}

/// [`start`], letting `adjust(i, config)` change each node's config first.
///
/// # Errors
/// As [`start`].
pub async fn start_with(
    n: usize,
    graph: Graph,
    topic: &str,
    adjust: impl FnMut(usize, &mut NodeConfig),
) -> anyhow::Result<Cluster> {
    start_with_metrics(n, graph, topic, MetricsMode::Live, adjust).await
}

/// [`start_with`], every node with a registry of kind `metrics` (live, or no-op handles).
///
/// # Errors
/// As [`start`].
pub async fn start_with_metrics(
    n: usize,
    graph: Graph,
    topic: &str,
    metrics: MetricsMode,
    mut adjust: impl FnMut(usize, &mut NodeConfig),
) -> anyhow::Result<Cluster> {
    let edges = edges(n, graph)?;
    let cluster = Cluster::start_with_metrics(n, Topology::Isolated, metrics, |i, c| {
        bench_config(c, topic);
        c.network.max_peers = n.max(2);
        adjust(i, c);
    })
    .await?;
    let adjacent = |i: usize, j: usize| edges.contains(&(i.min(j), i.max(j)));
    for i in 0..n {
        for j in (0..n).filter(|&j| j != i && !adjacent(i, j)) {
            network(&cluster, i)?
                .set_blocked(cluster.did(j), true)
                .await;
        }
    }
    for &(i, j) in &edges {
        let target = PeerTarget {
            did: Some(cluster.did(j)),
            addr: network(&cluster, j)?.local_addr(),
        };
        network(&cluster, i)?
            .dial(target)
            .await
            .with_context(|| format!("node {i} dialing node {j}"))?;
    }
    let degree = |i: usize| edges.iter().filter(|(a, b)| *a == i || *b == i).count();
    wait_until(FORM_TIMEOUT, "cluster links", || async {
        (0..n).all(|i| cluster.peers_of(i).len() == degree(i))
    })
    .await?;
    Ok(cluster)
}

fn network(cluster: &Cluster, i: usize) -> anyhow::Result<&icn_net::NetworkHandle> {
    cluster
        .node(i)
        .network()
        .ok_or_else(|| anyhow::anyhow!("node {i} has no network"))
}

/// The undirected edges `(low, high)` of `graph` over `n` nodes.
///
/// # Errors
/// When no simple connected regular graph of that degree could be drawn.
pub fn edges(n: usize, graph: Graph) -> anyhow::Result<BTreeSet<(usize, usize)>> {
    let mesh = || {
        (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .collect()
    };
    match graph {
        Graph::Mesh => Ok(mesh()),
        Graph::Random { degree } if degree + 1 >= n => Ok(mesh()),
        Graph::Random { degree } => random_regular(n, degree),
    }
}

/// A random simple connected `degree`-regular graph by the configuration model with rejection.
fn random_regular(n: usize, degree: usize) -> anyhow::Result<BTreeSet<(usize, usize)>> {
    anyhow::ensure!(
        (n * degree).is_multiple_of(2),
        "no {degree}-regular graph on {n} nodes"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(GRAPH_SEED);
    let mut stubs: Vec<usize> = (0..n)
        .flat_map(|i| std::iter::repeat_n(i, degree))
        .collect();
    for _ in 0..100_000 {
        stubs.shuffle(&mut rng);
        let mut edges = BTreeSet::new();
        let simple = stubs.chunks(2).all(|pair| {
            let (a, b) = (pair[0].min(pair[1]), pair[0].max(pair[1]));
            a != b && edges.insert((a, b))
        });
        if simple && connected(n, &edges) {
            return Ok(edges);
        }
    }
    anyhow::bail!("could not draw a connected {degree}-regular graph on {n} nodes")
}

fn connected(n: usize, edges: &BTreeSet<(usize, usize)>) -> bool {
    let mut seen = vec![false; n];
    let mut stack = vec![0];
    seen[0] = true;
    while let Some(v) = stack.pop() {
        for &(a, b) in edges {
            let next = if a == v {
                b
            } else if b == v {
                a
            } else {
                continue;
            };
            if !seen[next] {
                seen[next] = true;
                stack.push(next);
            }
        }
    }
    seen.into_iter().all(|s| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_graphs_are_regular_and_connected() {
        let edges = edges(25, Graph::Random { degree: 4 }).expect("graph");
        assert_eq!(edges.len(), 50);
        for i in 0..25 {
            assert_eq!(edges.iter().filter(|(a, b)| *a == i || *b == i).count(), 4);
        }
        assert!(connected(25, &edges));
        assert_eq!(
            super::edges(4, Graph::Random { degree: 4 })
                .expect("mesh")
                .len(),
            6
        );
    }
}
