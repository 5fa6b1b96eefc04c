//! Scenario 3: ledger transfers per second through the `LedgerHandle` (validated, applied and
//! durably stored before the call returns): on one node, and end to end across a cluster where
//! every node pays and the run ends when every node has applied every transfer.

use std::time::{Duration, Instant};

use icn_identity::{Did, Keypair};
use icn_ledger::LedgerHandle;
use icn_testkit::{Cluster, wait_until};
use serde::Serialize;
use tokio::task::JoinSet;

use crate::progress::Progress;
use crate::settings::Settings;
use crate::stats::Latency;
use crate::topology::{self, Graph};

/// Currency of the ledger scenarios.
const CURRENCY: &str = "BENCH";
/// Credit every account gets: never the limit of a benchmark.
const CREDIT: u64 = 1 << 50;
/// How long the cluster may take to agree.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(300);
/// Topic the benchmark nodes join besides the ledger's own.
const TOPIC: &str = "bench/ledger";

/// Ledger transfer rates.
#[derive(Clone, Debug, Serialize)]
pub struct LedgerResult {
    /// Transfers per second stored on one node.
    pub single_node_tps: f64,
    /// Transfers made in the single-node run.
    pub single_node_transfers: u64,
    /// Concurrent callers paying on each node.
    pub callers: usize,
    /// Time from a payment's call to its answer in the single-node run (durably stored).
    pub single_node_latency: Latency,
    /// Transfers per second applied by every node of the cluster.
    pub cluster_tps: f64,
    /// Transfers made in the cluster run.
    pub cluster_transfers: u64,
    /// Milliseconds from the last acknowledged transfer of the cluster run until every node
    /// had applied every transfer (how far delivery lagged behind the payers).
    pub cluster_catch_up_ms: f64,
    /// Nodes of the cluster run.
    pub cluster_nodes: usize,
}

/// Runs both ledger scenarios.
///
/// # Errors
/// When a node fails to start, a transfer is refused, or the cluster does not agree in time.
pub async fn run(settings: &Settings, progress: &Progress) -> anyhow::Result<LedgerResult> {
    progress.stage("ledger single node", 1);
    let callers = settings.ledger_callers;
    let single = topology::start(1, Graph::Mesh, TOPIC).await?;
    let outcome = single_node(&single, settings.ledger_duration, callers).await;
    single.shutdown().await?;
    let (paid, single_elapsed) = outcome?;
    let single_node_transfers = paid.len() as u64;
    let single_node_latency =
        Latency::of(&paid).ok_or_else(|| anyhow::anyhow!("no payment in the single-node run"))?;
    progress.inc(1);

    progress.stage("ledger cluster", 1);
    let n = settings.ledger_nodes;
    let cluster = topology::start(n, Graph::Mesh, TOPIC).await?;
    let outcome = across(&cluster, settings.ledger_duration, callers).await;
    cluster.shutdown().await?;
    let (cluster_transfers, cluster_elapsed, catch_up) = outcome?;
    progress.inc(1);

    Ok(LedgerResult {
        single_node_tps: single_node_transfers as f64 / single_elapsed.as_secs_f64(),
        single_node_transfers,
        callers,
        single_node_latency,
        cluster_tps: cluster_transfers as f64 / cluster_elapsed.as_secs_f64(),
        cluster_transfers,
        cluster_catch_up_ms: catch_up.as_secs_f64() * 1e3,
        cluster_nodes: n,
    })
}

fn ledger(cluster: &Cluster, i: usize) -> anyhow::Result<LedgerHandle> {
    cluster
        .node(i)
        .ledger()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("node {i} has no ledger"))
}

/// Pays to a fresh account from one node for `duration`; returns each payment's latency and
/// the time taken.
async fn single_node(
    cluster: &Cluster,
    duration: Duration,
    callers: usize,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let ledger = ledger(cluster, 0)?;
    ledger.create_currency(CURRENCY, CREDIT).await?;
    let started = Instant::now();
    let paid = pay_for(
        ledger,
        Keypair::generate().did(),
        started + duration,
        callers,
    )
    .await?;
    Ok((paid, started.elapsed()))
}

/// Every node pays the next one for `duration`; returns transfers, the time until every node
/// has applied all of them, and the part of it after the last transfer was acknowledged.
async fn across(
    cluster: &Cluster,
    duration: Duration,
    callers: usize,
) -> anyhow::Result<(u64, Duration, Duration)> {
    let n = cluster.len();
    let ledgers = (0..n)
        .map(|i| ledger(cluster, i))
        .collect::<anyhow::Result<Vec<_>>>()?;
    ledgers[0].create_currency(CURRENCY, CREDIT).await?;
    wait_until(CONVERGE_TIMEOUT, "currency at every node", || async {
        let mut all = true;
        for l in &ledgers {
            all &= l.digest().await.is_ok_and(|d| d.ops >= 1);
        }
        all
    })
    .await?;
    let before = applied(&ledgers).await?;
    let started = Instant::now();
    let deadline = started + duration;
    let mut payers = JoinSet::new();
    for (i, l) in ledgers.iter().enumerate() {
        payers.spawn(pay_for(
            l.clone(),
            ledgers[(i + 1) % n].did(),
            deadline,
            callers,
        ));
    }
    let mut made = 0;
    while let Some(done) = payers.join_next().await {
        made += done??.len() as u64;
    }
    let target = before + made;
    let paid = Instant::now();
    wait_until(
        CONVERGE_TIMEOUT,
        "every transfer applied everywhere",
        || async { applied(&ledgers).await.is_ok_and(|least| least >= target) },
    )
    .await?;
    Ok((made, started.elapsed(), paid.elapsed()))
}

/// The fewest applied transfers over `ledgers`.
async fn applied(ledgers: &[LedgerHandle]) -> anyhow::Result<u64> {
    let mut least = u64::MAX;
    for l in ledgers {
        least = least.min(l.digest().await?.applied_transfers);
    }
    Ok(least)
}

/// `callers` concurrent callers paying 1 unit to `to` until `deadline`; returns the latency of
/// each payment made.
async fn pay_for(
    ledger: LedgerHandle,
    to: Did,
    deadline: Instant,
    callers: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut tasks = JoinSet::new();
    for _ in 0..callers {
        let ledger = ledger.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let asked = Instant::now();
                ledger.pay(CURRENCY, to, 1, String::new()).await?;
                latencies.push(asked.elapsed());
            }
            anyhow::Ok(latencies)
        });
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done??);
    }
    Ok(all)
}
