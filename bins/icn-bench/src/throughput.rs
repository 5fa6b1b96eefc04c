//! Scenario 2: throughput. One node of a full mesh publishes many entries of one size with a
//! window of publishes in flight; the run ends when every other node holds all of them. Beside
//! it, the raw quinn baseline for the same write size.

use std::sync::Arc;
use std::time::{Duration, Instant};

use icn_gossip::Topic;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::arrivals::Arrivals;
use crate::floor::{self, Floor};
use crate::progress::Progress;
use crate::quinn_baseline;
use crate::settings::Settings;
use crate::stats::{mb_per_s, process_cpu_seconds};
use crate::topology::{self, Graph};

/// Topic of the throughput scenario.
pub(crate) const TOPIC: &str = "bench/throughput";
/// Publishes in flight at once.
pub const WINDOW: usize = 64;
/// How long one throughput run may take.
const TIMEOUT: Duration = Duration::from_secs(300);

/// Throughput of one entry size.
#[derive(Clone, Debug, Serialize)]
pub struct ThroughputResult {
    /// Payload bytes per entry.
    pub entry_bytes: usize,
    /// Entries published.
    pub entries: usize,
    /// Nodes receiving every entry.
    pub receivers: usize,
    /// Entries per second delivered to every receiver.
    pub entries_per_s: f64,
    /// Payload MB (10^6 bytes) per second delivered, summed over receivers.
    pub mb_per_s: f64,
    /// Raw quinn, one stream, same write size, same run.
    pub quinn_mb_per_s: f64,
    /// `mb_per_s / quinn_mb_per_s`.
    pub ratio: f64,
    /// Process CPU time over wall time while the cluster delivered: cores kept busy (the
    /// machine has 2).
    pub cpu_cores: f64,
    /// The same during the raw quinn transfer.
    pub quinn_cpu_cores: f64,
    /// Process CPU time per byte delivered, gossip ÷ raw quinn: how much more work a
    /// delivered byte costs than a byte over one quinn stream. Unlike `ratio`, it leaves out
    /// how much of the machine the process got (load still changes what a byte costs). `None`
    /// when either side used less than one 10 ms clock tick.
    pub cpu_per_byte_vs_quinn: Option<f64>,
    /// The unavoidable work of this delivery and the best `ratio` it allows.
    pub floor: Floor,
    /// `ratio / floor.ratio`: how near the result came to that bound.
    pub of_floor: Option<f64>,
}

/// Runs the throughput scenario for every configured entry size.
///
/// # Errors
/// When a cluster cannot start or delivery does not complete in time.
pub async fn run(
    settings: &Settings,
    progress: &Progress,
) -> anyhow::Result<Vec<ThroughputResult>> {
    let mut results = Vec::new();
    // Before any cluster starts, so nothing else runs; it does not depend on the entry size.
    let disk_mb_per_s = floor::disk_mb_per_s(settings.floor_disk_bytes, &std::env::temp_dir())?;
    for &size in &settings.throughput_sizes {
        let entries = settings.throughput_entries(size);
        progress.stage(&format!("throughput {size} B"), entries as u64);
        let cluster = topology::start(settings.throughput_nodes, Graph::Mesh, TOPIC).await?;
        let cpu_before = process_cpu_seconds()?;
        let delivered = deliver(&cluster, entries, size, progress).await;
        let cpu_seconds = process_cpu_seconds()? - cpu_before;
        cluster.shutdown().await?;
        let (elapsed, receivers) = delivered?;
        let quinn = quinn_baseline::measure(settings.quinn_bytes, size).await?;
        let floor = floor::measure(
            size,
            receivers,
            &quinn,
            settings.floor_budget,
            disk_mb_per_s,
            &std::env::temp_dir(),
        )?;
        let delivered_bytes = (entries * size * receivers) as f64;
        let mb_per_s = mb_per_s(delivered_bytes as u64, elapsed);
        results.push(ThroughputResult {
            entry_bytes: size,
            entries,
            receivers,
            entries_per_s: entries as f64 / elapsed.as_secs_f64(),
            mb_per_s,
            quinn_mb_per_s: quinn.mb_per_s,
            ratio: mb_per_s / quinn.mb_per_s,
            cpu_cores: cpu_seconds / elapsed.as_secs_f64(),
            quinn_cpu_cores: quinn.cpu_cores,
            floor,
            of_floor: floor.ratio.map(|bound| mb_per_s / quinn.mb_per_s / bound),
            cpu_per_byte_vs_quinn: (cpu_seconds > 0.0 && quinn.cpu_seconds > 0.0)
                .then(|| cpu_seconds / delivered_bytes / quinn.cpu_seconds_per_byte()),
        });
    }
    Ok(results)
}

/// Publishes `entries` entries at node 0 and waits until every other node holds them all;
/// returns the time from the first publish to the last arrival, and the number of receivers.
pub(crate) async fn deliver(
    cluster: &icn_testkit::Cluster,
    entries: usize,
    size: usize,
    progress: &Progress,
) -> anyhow::Result<(Duration, usize)> {
    let topic = Topic::new(TOPIC)?;
    let receivers: Vec<usize> = (1..cluster.len()).collect();
    let mut arrivals = Arrivals::watch(cluster, &receivers, &topic).await?;
    let gossip = cluster
        .node(0)
        .gossip()
        .ok_or_else(|| anyhow::anyhow!("node 0 has no gossip"))?
        .clone();
    let window = Arc::new(Semaphore::new(WINDOW));
    let mut publishes = JoinSet::new();
    let started = Instant::now();
    for i in 0..entries {
        let permit = window.clone().acquire_owned().await?;
        let (gossip, topic) = (gossip.clone(), topic.clone());
        let mut payload = vec![0x5Au8; size.max(8)];
        payload[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let progress = progress.clone();
        publishes.spawn(async move {
            let result = gossip.publish(topic, payload).await;
            drop(permit);
            progress.inc(1);
            result
        });
        while let Some(done) = publishes.try_join_next() {
            done??;
        }
    }
    while let Some(done) = publishes.join_next().await {
        done??;
    }
    let last = arrivals
        .all_counted(&receivers, entries as u64, TIMEOUT)
        .await?;
    Ok((last.duration_since(started), receivers.len()))
}
