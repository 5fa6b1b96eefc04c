//! Real network faults: `icnd` processes in separate network namespaces joined by a bridge.
//!
//! Each node runs in its own namespace with a loopback address on its veth (see
//! `icn_testkit::netns`); the test talks to its RPC and metrics from a thread inside that
//! namespace. Without root or `ip` the tests fail and say why: they never pass silently.

use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use icn_rpc::{ClientError, RpcClient};
use icn_testkit::netns::{NODE_IF, NetLab};
use icn_testkit::process::IcndProcess;
use icn_testkit::{Metrics, wait_until};
use nix::sys::signal::Signal;

use crate::icnd;
use crate::network::init;

/// QUIC port every node listens on (each namespace has its own ports).
const PORT: u16 = 7777;
/// Deadline of every wait: generous for a loaded 2-core machine.
const WAIT: Duration = Duration::from_secs(25);

/// Short timers so that a partition of a few seconds kills the sessions and healing goes
/// through the real paths: redial with backoff, then anti-entropy.
const FAST_CONFIG: &str = r#"
[gossip]
topics = ["news"]
anti_entropy_interval = "1s"

[network]
keep_alive = "500ms"
idle_timeout = "3s"
reconnect_min = "200ms"
reconnect_max = "2s"
peer_exchange_interval = "2s"
"#;

struct LabNode {
    process: IcndProcess,
    dir: PathBuf,
    did: String,
}

/// Nodes first: they are killed before their namespaces are deleted, then the files go.
struct LabCluster {
    nodes: Vec<LabNode>,
    lab: NetLab,
    root: tempfile::TempDir,
}

impl LabCluster {
    /// Initialises `n` identities and starts one `icnd` per namespace; `args(i, node0)` gives
    /// node `i`'s extra flags (`node0` is node 0's `did@addr`).
    fn start(n: usize, args: impl Fn(usize, &str) -> Vec<String>) -> Self {
        let lab = NetLab::new(n).unwrap_or_else(|e| {
            panic!("cannot create network namespaces, so this test cannot run: {e:#}")
        });
        let root = tempfile::tempdir().unwrap();
        let password = root.path().join("pass");
        std::fs::write(&password, "netns test\n").unwrap();
        std::fs::write(root.path().join("icn.toml"), FAST_CONFIG).unwrap();
        let mut cluster = Self {
            nodes: Vec::new(),
            lab,
            root,
        };
        let dids: Vec<String> = (0..n)
            .map(|i| init(&cluster.root.path().join(format!("n{i}")), &password))
            .collect();
        let node0 = format!("{}@{}:{PORT}", dids[0], cluster.lab.node(0).addr);
        for (i, did) in dids.into_iter().enumerate() {
            let dir = cluster.root.path().join(format!("n{i}"));
            let listen = format!("{}:{PORT}", cluster.lab.node(i).addr);
            let config = cluster.root.path().join("icn.toml");
            let mut extra: Vec<String> = vec![
                "--password-file".into(),
                password.display().to_string(),
                "--config".into(),
                config.display().to_string(),
                "--listen".into(),
                listen,
                "--log-level".into(),
                "info,icn_net=debug".into(),
            ];
            extra.extend(args(i, &node0));
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            let process = cluster
                .lab
                .start_icnd(i, icnd(), &dir, &extra)
                .unwrap_or_else(|e| panic!("node {i}: {e:#}"));
            cluster.nodes.push(LabNode { process, dir, did });
        }
        cluster
    }

    /// Calls the RPC API of node `i` from inside its namespace.
    async fn rpc<T, F, Fut>(&self, i: usize, call: F) -> anyhow::Result<T>
    where
        F: FnOnce(RpcClient) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, ClientError>> + 'static,
        T: Send + 'static,
    {
        let dir = self.nodes[i].dir.clone();
        self.lab
            .run_in(i, move || async move {
                let client = RpcClient::from_data_dir(&dir, None, None)?;
                Ok(call(client).await?)
            })
            .await?
    }

    /// Scrapes node `i`'s `/metrics` from inside its namespace.
    async fn scrape(&self, i: usize) -> anyhow::Result<Metrics> {
        let addr = self.nodes[i]
            .process
            .metrics_addr()
            .ok_or_else(|| anyhow::anyhow!("node {i} wrote no metrics.addr"))?;
        self.lab
            .run_in(i, move || icn_testkit::scrape(addr))
            .await?
    }

    async fn peer_count(&self, i: usize) -> usize {
        self.rpc(i, |c| async move { c.peers().await })
            .await
            .map_or(0, |p| p.len())
    }

    /// Waits until node `i` has exactly `n` sessions.
    async fn wait_peers(&self, i: usize, n: usize, what: &str) {
        let waited = wait_until(WAIT, what, || async { self.peer_count(i).await == n }).await;
        if let Err(e) = waited {
            panic!("{e:#}\n{}", self.logs());
        }
    }

    fn logs(&self) -> String {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| format!("--- node {i} ---\n{}", tail(&n.process.stderr(), 40)))
            .collect()
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn bootstrap_to_node0(i: usize, node0: &str) -> Vec<String> {
    match i {
        0 => Vec::new(),
        _ => vec!["--bootstrap".into(), node0.to_string()],
    }
}

/// Ids of the entries node `i` holds on `topic`.
async fn entry_ids(cluster: &LabCluster, i: usize, topic: &'static str) -> Vec<String> {
    cluster
        .rpc(
            i,
            move |c| async move { c.entries(topic, Some(1000)).await },
        )
        .await
        .map(|entries| entries.into_iter().map(|e| e.id).collect())
        .unwrap_or_default()
}

/// `(digest, ops)` of node `i`'s ledger.
async fn digest(cluster: &LabCluster, i: usize) -> Option<(String, u64)> {
    cluster
        .rpc(i, |c| async move { c.ledger_digest().await })
        .await
        .ok()
        .map(|d| (d.digest, d.ops))
}

/// True when every node reports the same ledger digest over `ops` ops.
async fn ledgers_agree(cluster: &LabCluster, ops: u64) -> bool {
    let mut first = None;
    for i in 0..cluster.nodes.len() {
        match digest(cluster, i).await {
            Some((digest, n)) if n == ops => match &first {
                None => first = Some(digest),
                Some(seen) if *seen == digest => {}
                Some(_) => return false,
            },
            _ => return false,
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_by_link_down_then_heal_converges() {
    const NODES: usize = 4;
    const CUT: usize = 3;
    let cluster = LabCluster::start(NODES, bootstrap_to_node0);
    for i in 0..NODES {
        cluster.wait_peers(i, NODES - 1, "a full mesh").await;
    }

    // Currency and credit limits, replicated everywhere before the cut.
    let cut_did = cluster.nodes[CUT].did.clone();
    cluster
        .rpc(0, |c| async move { c.create_currency("HOUR", 100).await })
        .await
        .unwrap();
    let limit_for = cut_did.clone();
    cluster
        .rpc(0, move |c| async move {
            c.set_credit_limit("HOUR", limit_for, 500).await
        })
        .await
        .unwrap();
    wait_until(WAIT, "the currency on every node", || {
        ledgers_agree(&cluster, 2)
    })
    .await
    .unwrap();

    // Pull node 3's cable and wait until both sides have noticed (idle timeout).
    let cut_at = Instant::now();
    cluster.lab.set_link(CUT, false).unwrap();
    cluster
        .wait_peers(CUT, 0, "the cut node to lose its sessions")
        .await;
    for i in 0..NODES - 1 {
        cluster
            .wait_peers(i, NODES - 2, "the majority to drop the cut node")
            .await;
    }
    let detected = cut_at.elapsed();

    // Both sides keep working: publish and pay on each.
    let minority_entry = cluster
        .rpc(CUT, |c| async move {
            c.publish("news", b"from the minority".to_vec()).await
        })
        .await
        .unwrap()
        .id;
    let majority_entry = cluster
        .rpc(1, |c| async move {
            c.publish("news", b"from the majority".to_vec()).await
        })
        .await
        .unwrap()
        .id;
    let to_node0 = cluster.nodes[0].did.clone();
    cluster
        .rpc(CUT, move |c| async move {
            c.pay("HOUR", to_node0, 40, "cut side").await
        })
        .await
        .unwrap();
    let to_cut = cut_did.clone();
    cluster
        .rpc(1, move |c| async move {
            c.pay("HOUR", to_cut, 25, "majority side").await
        })
        .await
        .unwrap();
    let to_node1 = cluster.nodes[1].did.clone();
    cluster
        .rpc(2, move |c| async move {
            c.pay("HOUR", to_node1, 10, "majority side").await
        })
        .await
        .unwrap();
    // The partition is real: neither side has the other's entry.
    assert!(
        !entry_ids(&cluster, 0, "news")
            .await
            .contains(&minority_entry)
    );
    assert!(
        !entry_ids(&cluster, CUT, "news")
            .await
            .contains(&majority_entry)
    );
    let partitioned_for = cut_at.elapsed();

    // Heal and measure.
    cluster.lab.set_link(CUT, true).unwrap();
    let healed_at = Instant::now();
    cluster
        .wait_peers(CUT, NODES - 1, "the cut node to reconnect")
        .await;
    let reconnected = healed_at.elapsed();
    let converged = wait_until(WAIT, "entries and ledgers to converge", || async {
        for i in 0..NODES {
            let ids = entry_ids(&cluster, i, "news").await;
            if !ids.contains(&minority_entry) || !ids.contains(&majority_entry) {
                return false;
            }
        }
        ledgers_agree(&cluster, 5).await
    })
    .await;
    if let Err(e) = converged {
        panic!("{e:#}\n{}", cluster.logs());
    }
    let convergence = healed_at.elapsed();

    // Nothing lost: the cut node's balance counts both payments everywhere.
    for i in 0..NODES {
        let account = cut_did.clone();
        let balances = cluster
            .rpc(i, move |c| async move {
                c.balance(Some("HOUR"), Some(account.as_str())).await
            })
            .await
            .unwrap();
        assert_eq!(balances.len(), 1, "node {i}: {balances:?}");
        assert_eq!(balances[0].balance, 25 - 40, "node {i}");
        assert_eq!(balances[0].limit, 500, "node {i}");
    }
    println!(
        "netns partition: {NODES} nodes, node {CUT} cut for {partitioned_for:.1?} \
         (sessions down after {detected:.1?}); after heal: reconnected in {reconnected:.1?}, \
         converged (2 entries, 3 payments, equal digests) in {convergence:.1?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mdns_nodes_find_each_other_without_bootstrap() {
    const NODES: usize = 3;
    let cluster = LabCluster::start(NODES, |_, _| {
        vec!["--mdns".into(), "--mdns-interface".into(), NODE_IF.into()]
    });
    let started = Instant::now();
    for i in 0..NODES {
        cluster
            .wait_peers(i, NODES - 1, "sessions found through mDNS")
            .await;
    }
    let meshed = started.elapsed();
    for i in 0..NODES {
        let page = cluster.scrape(i).await.unwrap();
        assert_eq!(
            page.get("icn_network_peers_discovered"),
            (NODES - 1) as f64,
            "node {i}"
        );
        let log = cluster.nodes[i].process.stderr();
        assert!(log.contains("mDNS discovered a peer"), "node {i}:\n{log}");
    }
    println!("netns mDNS: {NODES} nodes without bootstrap formed a full mesh in {meshed:.1?}");

    // The mDNS daemon stops with the node: SIGTERM still exits 0, promptly.
    let mut cluster = cluster;
    let node = &mut cluster.nodes[0].process;
    node.signal(Signal::SIGTERM).unwrap();
    let status = node.wait_exit(Duration::from_secs(5)).unwrap();
    assert!(status.success(), "{status}:\n{}", node.stderr());
}

/// Whether a UDP datagram from node `from` reaches node `to` within a second.
async fn udp_reaches(lab: &NetLab, from: usize, to: usize) -> bool {
    let to_addr = SocketAddr::from((lab.node(to).addr, 9));
    let receiver = lab
        .run_in(to, move || async move { UdpSocket::bind(to_addr) })
        .await
        .unwrap()
        .unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let from_addr = SocketAddr::from((lab.node(from).addr, 0));
    lab.run_in(from, move || async move {
        let sender = UdpSocket::bind(from_addr)?;
        sender.send_to(b"ping", to_addr)
    })
    .await
    .unwrap()
    .unwrap();
    let mut buf = [0u8; 8];
    receiver
        .recv_from(&mut buf)
        .is_ok_and(|(n, _)| &buf[..n] == b"ping")
}

/// The lab itself: loopback addresses on veths carry traffic, a cut link stops it, a healed
/// link carries it again, and dropping the lab deletes its namespaces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_links_cut_and_heal() {
    let lab = NetLab::new(2).unwrap_or_else(|e| {
        panic!("cannot create network namespaces, so this test cannot run: {e:#}")
    });
    assert!(
        udp_reaches(&lab, 0, 1).await,
        "no traffic between fresh namespaces"
    );
    lab.set_link(1, false).unwrap();
    assert!(
        !udp_reaches(&lab, 0, 1).await,
        "a cut link still carries traffic"
    );
    lab.set_link(1, true).unwrap();
    assert!(
        udp_reaches(&lab, 0, 1).await,
        "a healed link carries no traffic"
    );
    let names: Vec<String> = (0..2).map(|i| lab.node(i).ns.clone()).collect();
    drop(lab);
    let left: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into())
                .collect()
        })
        .unwrap_or_default();
    for name in names {
        assert!(!left.contains(&name), "{name} survived the lab");
    }
}
