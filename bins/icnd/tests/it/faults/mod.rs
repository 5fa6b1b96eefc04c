//! Process-level faults with real `icnd` processes: kill -9 and SIGTERM under load, damaged
//! stores, a full disk. Results are summarised in docs/reliability.md.
//!
//! Every test prints what it observed (`FAULTS ...` lines; run with `--no-capture` to see them).

mod disk_full;
mod load;
mod restart;
mod storage;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use icn_testkit::ProcessCluster;

use load::{Acked, TOPIC};

/// Largest `entries` page the RPC serves; a run publishes far fewer entries.
const ENTRIES_PAGE: usize = 10_000;

/// What one node lacks of the acknowledged set (empty when it holds everything).
async fn missing_on(cluster: &ProcessCluster, i: usize, acked: &[Acked]) -> anyhow::Result<String> {
    let client = cluster.client(i)?;
    let held: std::collections::BTreeSet<String> = client
        .entries(TOPIC, Some(ENTRIES_PAGE))
        .await?
        .into_iter()
        .map(|e| e.id)
        .collect();
    let lacking_entries = acked
        .iter()
        .flat_map(|a| &a.entries)
        .filter(|id| !held.contains(*id))
        .count();
    let mut lacking_payments = 0;
    for (payer, a) in acked.iter().enumerate() {
        let applied: std::collections::BTreeSet<String> = client
            .history(Some(&cluster.node(payer).did))
            .await?
            .into_iter()
            .filter(|h| h.status == "applied")
            .map(|h| h.op_id)
            .collect();
        lacking_payments += a
            .payments
            .iter()
            .filter(|id| !applied.contains(*id))
            .count();
    }
    if lacking_entries + lacking_payments == 0 {
        Ok(String::new())
    } else {
        Ok(format!(
            "node {i} lacks {lacking_entries} entries and {lacking_payments} applied payments"
        ))
    }
}

/// Waits until every node holds every acknowledged entry and applied payment and all ledger
/// digests agree; returns how long that took.
async fn wait_converged(
    cluster: &ProcessCluster,
    acked: &[Acked],
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let mut problems = Vec::new();
        let mut digests = BTreeMap::new();
        for i in 0..cluster.len() {
            match missing_on(cluster, i, acked).await {
                Ok(m) if m.is_empty() => {}
                Ok(m) => problems.push(m),
                Err(e) => problems.push(format!("node {i}: {e}")),
            }
            match cluster.client(i)?.ledger_digest().await {
                Ok(d) => {
                    digests.insert(i, d.digest);
                }
                Err(e) => problems.push(format!("node {i} digest: {e}")),
            }
        }
        let distinct: std::collections::BTreeSet<&String> = digests.values().collect();
        if distinct.len() > 1 {
            problems.push(format!("digests differ: {digests:?}"));
        }
        if problems.is_empty() {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "not converged after {timeout:?}: {problems:?}\n{}",
            cluster.all_stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A multi-threaded runtime for the clients, so load flows while the test thread signals,
/// waits for and restarts processes.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}
