//! Scenario 1: propagation latency. One node publishes entries one after the other; each
//! sample is the time from the publish call until the last other node holds the entry.

use std::time::{Duration, Instant};

use icn_gossip::Topic;
use icn_testkit::Cluster;
use serde::Serialize;

use crate::arrivals::Arrivals;
use crate::progress::Progress;
use crate::settings::{PropagationCase, Settings};
use crate::stats::Latency;
use crate::topology::{self, Graph};

/// Topic of the propagation scenarios.
pub const TOPIC: &str = "bench/propagation";
/// Entries published before measuring, so links and topic interests are settled.
pub const WARM_UP: usize = 5;
/// How long one entry may take to reach every node before the run fails.
pub const ENTRY_TIMEOUT: Duration = Duration::from_secs(30);

/// Propagation latency of one cluster.
#[derive(Clone, Debug, Serialize)]
pub struct PropagationResult {
    /// Nodes in the cluster.
    pub nodes: usize,
    /// `mesh` or `random-<degree>`.
    pub topology: Graph,
    /// Latency percentiles over every entry.
    #[serde(flatten)]
    pub latency: Latency,
}

impl PropagationResult {
    /// The row of the readable table: nodes, topology, p50, p99, max, samples (no newline).
    pub fn table_row(&self) -> String {
        format!(
            "                 {:>5}  {:<9} {:>7.2}  {:>7.2}  {:>7.2}  {:>7}",
            self.nodes,
            self.topology.to_string(),
            self.latency.p50_ms,
            self.latency.p99_ms,
            self.latency.max_ms,
            self.latency.samples
        )
    }
}

/// Runs one propagation case on a fresh cluster.
///
/// # Errors
/// When the cluster cannot start or an entry does not reach every node.
pub async fn run(
    settings: &Settings,
    case: PropagationCase,
    progress: &Progress,
) -> anyhow::Result<PropagationResult> {
    let cluster = topology::start(case.nodes, case.graph, TOPIC).await?;
    let latency = measure(
        &cluster,
        settings.propagation_entries,
        settings.propagation_payload,
        progress,
    )
    .await;
    cluster.shutdown().await?;
    Ok(PropagationResult {
        nodes: case.nodes,
        topology: case.graph,
        latency: latency?,
    })
}

/// Publishes `entries` entries of `payload` bytes at node 0 of a running cluster joined to
/// [`TOPIC`], one after the other, and summarises how long each took to reach every node.
///
/// # Errors
/// When an entry does not reach every node in time.
pub async fn measure(
    cluster: &Cluster,
    entries: usize,
    payload: usize,
    progress: &Progress,
) -> anyhow::Result<Latency> {
    let topic = Topic::new(TOPIC)?;
    let receivers: Vec<usize> = (1..cluster.len()).collect();
    let mut arrivals = Arrivals::watch(cluster, &receivers, &topic).await?;
    let gossip = cluster
        .node(0)
        .gossip()
        .ok_or_else(|| anyhow::anyhow!("node 0 has no gossip"))?;
    let mut samples = Vec::with_capacity(entries);
    for i in 0..WARM_UP + entries {
        // Distinct payloads: equal ones published in the same millisecond would share an id.
        let mut body = vec![0u8; payload.max(8)];
        body[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let started = Instant::now();
        gossip.publish(topic.clone(), body).await?;
        let last = arrivals
            .all_hold(i as u64, receivers.len(), ENTRY_TIMEOUT)
            .await?;
        if i >= WARM_UP {
            samples.push(last.saturating_duration_since(started));
            progress.inc(1);
        }
    }
    Latency::of(&samples).ok_or_else(|| anyhow::anyhow!("no propagation samples"))
}
