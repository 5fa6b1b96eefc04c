//! Soak run (not a CI test): N real `icnd` processes under sustained publishes and payments for
//! a long time while a real Prometheus scrapes every node every second. Reports RSS over time,
//! entries and ops lost (must be 0), digest agreement and scrape latency, as JSON on stdout.
//!
//! ```sh
//! scripts/soak.sh                      # 10 nodes, 10 minutes (builds release binaries first)
//! cargo run --release -p icn-testkit --example soak -- \
//!     --icnd target/release/icnd --nodes 10 --minutes 10 --publishes 40 --payments 20
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use icn_rpc::RpcClient;
use icn_testkit::process::IcndProcess;
use icn_testkit::tools::free_loopback_addr;
use icn_testkit::{scrape, wait_until};
use serde_json::json;

const TOPIC: &str = "soak";
const CURRENCY: &str = "SOAK";
/// Payload size of each published entry.
const PAYLOAD_BYTES: usize = 256;
/// How often RSS and scrape times are sampled from every node.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);

struct Options {
    icnd: PathBuf,
    nodes: usize,
    duration: Duration,
    /// Publishes per second, over all nodes.
    publishes: f64,
    /// Payments per second, over all nodes.
    payments: f64,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        icnd: PathBuf::from("target/release/icnd"),
        nodes: 10,
        duration: Duration::from_secs(600),
        publishes: 40.0,
        payments: 20.0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--icnd" => options.icnd = PathBuf::from(value()?),
            "--nodes" => options.nodes = value()?.parse()?,
            "--minutes" => {
                options.duration = Duration::from_secs_f64(value()?.parse::<f64>()? * 60.0)
            }
            "--publishes" => options.publishes = value()?.parse()?,
            "--payments" => options.payments = value()?.parse()?,
            other => bail!(
                "unknown argument {other}; see the doc comment of crates/icn-testkit/examples/soak.rs"
            ),
        }
    }
    anyhow::ensure!(options.nodes >= 2, "--nodes must be at least 2");
    anyhow::ensure!(
        options.publishes > 0.0 && options.payments > 0.0,
        "rates must be > 0"
    );
    Ok(options)
}

/// A Prometheus scraping every node every second; killed on drop.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
}

impl Prometheus {
    fn start(dir: &Path, targets: &[SocketAddr]) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: icnd\n    static_configs:\n      - targets: [{}]\n",
            list.join(", ")
        );
        std::fs::write(dir.join("prometheus.yml"), config)?;
        let addr = free_loopback_addr()?;
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log"))?)
            .spawn()
            .context("cannot start prometheus (Debian: apt install prometheus)")?;
        Ok(Self { child, addr })
    }

    /// The first value of an instant query, if any.
    async fn scalar(&self, promql: &str) -> Option<f64> {
        let answer: serde_json::Value = reqwest::Client::new()
            .get(format!("http://{}/api/v1/query", self.addr))
            .query(&[("query", promql)])
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        answer["data"]["result"][0]["value"][1]
            .as_str()?
            .parse()
            .ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Acknowledged and failed calls of one kind, over all nodes.
#[derive(Default)]
struct Tally {
    acknowledged: AtomicU64,
    failed: AtomicU64,
}

fn init(icnd: &Path, dir: &Path, password: &Path) -> anyhow::Result<()> {
    let output = Command::new(icnd)
        .args(["init", "--data-dir"])
        .arg(dir)
        .arg("--password-file")
        .arg(password)
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "icnd init: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// Calls `call` `per_second` times a second until `until`, counting outcomes.
async fn drive<F, Fut>(per_second: f64, until: Instant, tally: Arc<Tally>, mut call: F)
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n = 0;
    while Instant::now() < until {
        tick.tick().await;
        n += 1;
        let counter = if call(n).await {
            &tally.acknowledged
        } else {
            &tally.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    let root = tempfile::tempdir()?;
    let password = root.path().join("passphrase");
    std::fs::write(&password, "soak passphrase\n")?;
    let password_flag = format!("--password-file={}", password.display());

    // Nodes: node 0 first, the others bootstrap from it.
    let mut nodes = Vec::new();
    let mut bootstrap = None;
    for i in 0..options.nodes {
        let dir = root.path().join(format!("n{i}"));
        init(&options.icnd, &dir, &password)?;
        let mut args = vec![password_flag.clone()];
        args.extend(bootstrap.clone());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let node = IcndProcess::start(&options.icnd, &dir, &args)?;
        if i == 0 {
            let p2p = std::fs::read_to_string(dir.join("p2p.addr"))?;
            bootstrap = Some(format!("--bootstrap={}", p2p.trim()));
        }
        nodes.push((node, dir));
    }
    let metrics: Vec<SocketAddr> = nodes
        .iter()
        .map(|(node, _)| node.metrics_addr().context("no metrics address"))
        .collect::<anyhow::Result<_>>()?;
    let clients: Vec<RpcClient> = nodes
        .iter()
        .map(|(_, dir)| RpcClient::from_data_dir(dir, None, None))
        .collect::<Result<_, _>>()?;
    let peers = (options.nodes - 1) as f64;
    for addr in &metrics {
        wait_until(Duration::from_secs(120), "a full mesh", || async {
            scrape(*addr)
                .await
                .is_ok_and(|m| m.get("icn_network_connections_active") == peers)
        })
        .await?;
    }
    eprintln!("soak: {} nodes meshed", options.nodes);
    let prometheus = Prometheus::start(&root.path().join("prometheus"), &metrics)?;

    let mut dids = Vec::new();
    for client in &clients {
        dids.push(
            client
                .status()
                .await?
                .did
                .context("node without identity")?,
        );
    }
    clients[0].create_currency(CURRENCY, 1_000_000_000).await?;
    for client in &clients {
        wait_until(
            Duration::from_secs(60),
            "the currency everywhere",
            || async {
                client
                    .balance(Some(CURRENCY), None)
                    .await
                    .is_ok_and(|b| !b.is_empty())
            },
        )
        .await?;
    }

    // Load.
    let started = Instant::now();
    let until = started + options.duration;
    let publishes = Arc::new(Tally::default());
    let payments = Arc::new(Tally::default());
    let per_node = options.nodes as f64;
    let mut load = tokio::task::JoinSet::new();
    for (i, client) in clients.iter().enumerate() {
        let (publisher, tally) = (client.clone(), publishes.clone());
        load.spawn(drive(
            options.publishes / per_node,
            until,
            tally,
            move |n| {
                let client = publisher.clone();
                async move {
                    let mut payload = format!("node {i} entry {n} ").into_bytes();
                    payload.resize(PAYLOAD_BYTES, b'.');
                    client.publish(TOPIC, payload).await.is_ok()
                }
            },
        ));
        let (payer, tally) = (client.clone(), payments.clone());
        let payee = dids[(i + 1) % dids.len()].clone();
        load.spawn(drive(
            options.payments / per_node,
            until,
            tally,
            move |_| {
                let (client, payee) = (payer.clone(), payee.clone());
                async move { client.pay(CURRENCY, payee, 1, "").await.is_ok() }
            },
        ));
    }

    // Samples while the load runs.
    let mut samples = Vec::new();
    while Instant::now() < until {
        tokio::time::sleep(SAMPLE_EVERY.min(until.saturating_duration_since(Instant::now()))).await;
        let mut rss = Vec::new();
        for addr in &metrics {
            if let Ok(page) = scrape(*addr).await {
                rss.push(page.get("process_resident_memory_bytes") / 1_048_576.0);
            }
        }
        let max = rss.iter().copied().fold(0.0, f64::max);
        let mean = rss.iter().sum::<f64>() / rss.len().max(1) as f64;
        let elapsed = started.elapsed().as_secs();
        eprintln!(
            "soak: {elapsed:>4} s  publishes {}  payments {}  RSS mean {mean:.1} MiB max {max:.1} MiB",
            publishes.acknowledged.load(Ordering::Relaxed),
            payments.acknowledged.load(Ordering::Relaxed),
        );
        samples.push(json!({"seconds": elapsed, "rss_mean_mib": mean, "rss_max_mib": max}));
    }
    while load.join_next().await.is_some() {}
    let load_seconds = started.elapsed().as_secs_f64();

    // Convergence: every acknowledged entry and transfer on every node, one digest.
    let entries = publishes.acknowledged.load(Ordering::Relaxed);
    let transfers = payments.acknowledged.load(Ordering::Relaxed);
    let converging = Instant::now();
    let converged = wait_until(Duration::from_secs(300), "convergence", || async {
        let mut digests = Vec::new();
        for client in &clients {
            let Ok(topics) = client.topics().await else {
                return false;
            };
            let held = topics
                .iter()
                .find(|t| t.topic == TOPIC)
                .map_or(0, |t| t.entries);
            let Ok(digest) = client.ledger_digest().await else {
                return false;
            };
            if held != entries || digest.applied_transfers != transfers {
                return false;
            }
            digests.push(digest.digest);
        }
        digests.windows(2).all(|w| w[0] == w[1])
    })
    .await;
    let converge_seconds = converging.elapsed().as_secs_f64();
    let mut lost_entries = 0;
    let mut lost_transfers = 0;
    let mut digests = Vec::new();
    for client in &clients {
        let topics = client.topics().await?;
        let held = topics
            .iter()
            .find(|t| t.topic == TOPIC)
            .map_or(0, |t| t.entries);
        let digest = client.ledger_digest().await?;
        lost_entries += entries.saturating_sub(held);
        lost_transfers += transfers.saturating_sub(digest.applied_transfers);
        digests.push(digest.digest);
    }
    digests.sort();
    digests.dedup();

    let window = format!("{}s", load_seconds.ceil() as u64);
    let scrape_p99 = prometheus
        .scalar(&format!(
            "histogram_quantile(0.99, sum by (le) (rate(icn_obs_scrape_duration_seconds_bucket{{job=\"icnd\"}}[{window}])))"
        ))
        .await;
    let prometheus_scrape_max = prometheus
        .scalar(&format!(
            "max(max_over_time(scrape_duration_seconds{{job=\"icnd\"}}[{window}]))"
        ))
        .await;
    let up_min = prometheus
        .scalar(&format!("min(min_over_time(up{{job=\"icnd\"}}[{window}]))"))
        .await;
    let report = json!({
        "nodes": options.nodes,
        "load_seconds": load_seconds,
        "publishes": {
            "acknowledged": entries,
            "failed": publishes.failed.load(Ordering::Relaxed),
            "per_second": entries as f64 / load_seconds,
        },
        "payments": {
            "acknowledged": transfers,
            "failed": payments.failed.load(Ordering::Relaxed),
            "per_second": transfers as f64 / load_seconds,
        },
        "converged": converged.is_ok(),
        "converge_seconds_after_load": converge_seconds,
        "lost_entries_summed_over_nodes": lost_entries,
        "lost_transfers_summed_over_nodes": lost_transfers,
        "distinct_digests": digests.len(),
        "node_scrape_seconds_p99": scrape_p99,
        "prometheus_scrape_seconds_max": prometheus_scrape_max,
        "up_min": up_min,
        "rss": samples,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    drop(prometheus);
    drop(nodes);
    if lost_entries > 0 || lost_transfers > 0 || digests.len() != 1 {
        bail!("the soak lost data or did not converge: see the report");
    }
    Ok(())
}
