//! A client streaming publishes and payments through RPC, recording what was acknowledged.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use icn_rpc::RpcClient;
use icn_testkit::{ProcessCluster, wait_until};

/// Topic the load publishes on.
pub const TOPIC: &str = "load";
/// Currency the load pays in.
pub const CURRENCY: &str = "HOUR";
/// Credit limit of every account: far above what a run can spend.
pub const LIMIT: u64 = 1_000_000;
/// Per-call timeout: a killed node refuses at once; a live one answers well within this.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Calls per node at most (keeps the entries of a run under one `entries` page).
const MAX_ROUNDS: usize = 400;

/// What the calls to one node produced.
#[derive(Debug, Default, Clone)]
pub struct Acked {
    /// Ids of entries whose publish answered success.
    pub entries: BTreeSet<String>,
    /// Op ids of payments that answered success.
    pub payments: BTreeSet<String>,
    /// Calls that failed (node down, refused, timed out).
    pub failed: usize,
}

/// Shared progress of one node's stream, readable while it runs.
#[derive(Default)]
struct Progress {
    acked: AtomicUsize,
    failed: AtomicUsize,
    /// The test asks the stream to make no call.
    paused: AtomicBool,
    /// The stream has seen `paused` and makes no call until it is cleared.
    parked: AtomicBool,
}

/// A running load: one task per node, each alternating a publish and a payment to the next node.
pub struct Load {
    stop: Arc<AtomicBool>,
    progress: Vec<Arc<Progress>>,
    tasks: Vec<tokio::task::JoinHandle<Acked>>,
}

/// Creates the currency on node 0 with a small default limit, raises every node's limit to
/// [`LIMIT`], and waits until every node sees its own limit.
pub async fn setup_currency(cluster: &ProcessCluster) -> anyhow::Result<()> {
    let issuer = cluster.client(0)?;
    issuer.create_currency(CURRENCY, 10).await?;
    for i in 0..cluster.len() {
        issuer
            .set_credit_limit(CURRENCY, cluster.node(i).did.clone(), LIMIT)
            .await?;
    }
    for i in 0..cluster.len() {
        let client = cluster.client(i)?;
        wait_until(
            Duration::from_secs(20),
            "every node to see its limit",
            || {
                let client = client.clone();
                async move {
                    client
                        .balance(Some(CURRENCY), None)
                        .await
                        .is_ok_and(|rows| rows.first().is_some_and(|r| r.limit == LIMIT))
                }
            },
        )
        .await?;
    }
    Ok(())
}

impl Load {
    /// Starts streaming to every node of `cluster` on the current runtime.
    pub fn start(cluster: &ProcessCluster) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let n = cluster.len();
        let mut progress = Vec::with_capacity(n);
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            let shared = Arc::new(Progress::default());
            progress.push(shared.clone());
            let data_dir = cluster.node(i).data_dir.clone();
            let payee = cluster.node((i + 1) % n).did.clone();
            tasks.push(tokio::spawn(stream(
                i,
                data_dir,
                payee,
                stop.clone(),
                shared,
            )));
        }
        Self {
            stop,
            progress,
            tasks,
        }
    }

    /// Calls to node `i` acknowledged so far.
    pub fn acked(&self, i: usize) -> usize {
        self.progress[i].acked.load(Ordering::Relaxed)
    }

    /// Calls to node `i` that failed so far.
    pub fn failed(&self, i: usize) -> usize {
        self.progress[i].failed.load(Ordering::Relaxed)
    }

    /// Stops the calls to node `i` (e.g. to scrape a restarted node before any call reaches
    /// it); returns once no call to it is in flight.
    pub async fn pause(&self, i: usize) -> anyhow::Result<()> {
        let progress = self.progress[i].clone();
        progress.paused.store(true, Ordering::SeqCst);
        wait_until(
            Duration::from_secs(30),
            &format!("the stream to node {i} to park"),
            || {
                let progress = progress.clone();
                async move { progress.parked.load(Ordering::SeqCst) }
            },
        )
        .await
    }

    /// Lets the calls to node `i` flow again.
    pub fn resume(&self, i: usize) {
        self.progress[i].paused.store(false, Ordering::SeqCst);
    }

    /// Waits until node `i` has acknowledged `more` calls beyond what it had when called.
    pub async fn wait_for_acks(&self, i: usize, more: usize) -> anyhow::Result<()> {
        let target = self.acked(i) + more;
        let progress = self.progress[i].clone();
        wait_until(
            Duration::from_secs(30),
            &format!("{more} more acknowledged calls to node {i}"),
            || {
                let progress = progress.clone();
                async move { progress.acked.load(Ordering::Relaxed) >= target }
            },
        )
        .await
    }

    /// Stops the streams and returns what each node acknowledged.
    pub async fn finish(self) -> anyhow::Result<Vec<Acked>> {
        self.stop.store(true, Ordering::Relaxed);
        let mut out = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            out.push(task.await?);
        }
        Ok(out)
    }
}

/// Alternates a publish and a payment to node `i` until stopped, re-reading the node's RPC
/// address after a failure (a restarted node listens elsewhere).
async fn stream(
    i: usize,
    data_dir: PathBuf,
    payee: String,
    stop: Arc<AtomicBool>,
    progress: Arc<Progress>,
) -> Acked {
    let mut acked = Acked::default();
    let mut client: Option<RpcClient> = None;
    let mut round = 0;
    while !stop.load(Ordering::Relaxed) && round < MAX_ROUNDS {
        if progress.paused.load(Ordering::SeqCst) {
            progress.parked.store(true, Ordering::SeqCst);
            client = None;
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        progress.parked.store(false, Ordering::SeqCst);
        let Some(rpc) = client.clone().or_else(|| {
            RpcClient::from_data_dir(&data_dir, None, None)
                .ok()
                .map(|c| c.with_timeout(CALL_TIMEOUT))
        }) else {
            progress.failed.fetch_add(1, Ordering::Relaxed);
            acked.failed += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        client = Some(rpc.clone());
        round += 1;
        let payload = format!("node {i} round {round}");
        let published = rpc.publish(TOPIC, payload.into_bytes()).await;
        let paid = rpc
            .pay(CURRENCY, payee.clone(), 1 + (round as u64 % 5), "load")
            .await;
        let mut ok = true;
        match published {
            Ok(result) => {
                acked.entries.insert(result.id);
            }
            Err(_) => ok = false,
        }
        match paid {
            Ok(result) => {
                acked.payments.insert(result.op_id);
            }
            Err(_) => ok = false,
        }
        if ok {
            progress.acked.fetch_add(1, Ordering::Relaxed);
        } else {
            progress.failed.fetch_add(1, Ordering::Relaxed);
            acked.failed += 1;
            client = None;
            // A dead node refuses at once: do not spin.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    acked
}
