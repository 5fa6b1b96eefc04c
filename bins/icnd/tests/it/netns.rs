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
use crate::init;

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
    /// node `i`'s extra flags (`node0` is node 0's `did@addr`). Nodes listen on their `eth0`
    /// address unless their flags say otherwise.
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
            let config = cluster.root.path().join("icn.toml");
            let mut extra: Vec<String> = vec![
                "--password-file".into(),
                password.display().to_string(),
                "--config".into(),
                config.display().to_string(),
                "--log-level".into(),
                "info,icn_net=debug".into(),
            ];
            let own = args(i, &node0);
            if !own.iter().any(|a| a == "--listen") {
                let listen = format!("{}:{PORT}", cluster.lab.node(i).addr);
                extra.extend(["--listen".into(), listen]);
            }
            extra.extend(own);
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

/// Publishes on both sides of a cut of node `cut` and pays across it: the cut node pays node 0
/// `amounts[0]`, node 1 pays the cut node `amounts[1]`, node 2 pays node 1 `amounts[2]`.
/// Returns the ids of the (minority, majority) entries; checks neither side has the other's.
async fn write_on_both_sides(
    cluster: &LabCluster,
    cut: usize,
    round: &str,
    amounts: [u64; 3],
) -> (String, String) {
    let payload = format!("{round}: from the minority").into_bytes();
    let minority = cluster
        .rpc(cut, |c| async move { c.publish("news", payload).await })
        .await
        .unwrap()
        .id;
    let payload = format!("{round}: from the majority").into_bytes();
    let majority = cluster
        .rpc(1, |c| async move { c.publish("news", payload).await })
        .await
        .unwrap()
        .id;
    let payments = [
        (cut, 0, amounts[0]),
        (1, cut, amounts[1]),
        (2, 1, amounts[2]),
    ];
    for (from, to, amount) in payments {
        let (to, memo) = (cluster.nodes[to].did.clone(), round.to_string());
        cluster
            .rpc(from, move |c| async move {
                c.pay("HOUR", to, amount, memo).await
            })
            .await
            .unwrap();
    }
    assert!(!entry_ids(cluster, 0, "news").await.contains(&minority));
    assert!(!entry_ids(cluster, cut, "news").await.contains(&majority));
    (minority, majority)
}

/// Waits until every node holds `entries` and every ledger has the same digest over `ops` ops.
async fn wait_converged(cluster: &LabCluster, entries: &[String], ops: u64) {
    let converged = wait_until(WAIT, "entries and ledgers to converge", || async {
        for i in 0..cluster.nodes.len() {
            let ids = entry_ids(cluster, i, "news").await;
            if !entries.iter().all(|e| ids.contains(e)) {
                return false;
            }
        }
        ledgers_agree(cluster, ops).await
    })
    .await;
    if let Err(e) = converged {
        panic!("{e:#}\n{}", cluster.logs());
    }
}

/// When node `i`'s sessions started (to tell whether a cut closed them).
async fn sessions_since(cluster: &LabCluster, i: usize) -> Vec<u64> {
    let peers = cluster.rpc(i, |c| async move { c.peers().await }).await;
    let mut since: Vec<u64> = peers
        .unwrap_or_default()
        .iter()
        .map(|p| p.connected_since_unix_ms)
        .collect();
    since.sort_unstable();
    since
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

    // 1. A brief cut, shorter than the idle timeout: writes on both sides, then heal at once.
    let before = sessions_since(&cluster, CUT).await;
    let flap_at = Instant::now();
    cluster.lab.set_link(CUT, false).unwrap();
    let (minority1, majority1) = write_on_both_sides(&cluster, CUT, "flap", [10, 5, 3]).await;
    cluster.lab.set_link(CUT, true).unwrap();
    let flap_for = flap_at.elapsed();
    let healed_at = Instant::now();
    wait_converged(&cluster, &[minority1.clone(), majority1.clone()], 5).await;
    let flap_convergence = healed_at.elapsed();
    let kept = if sessions_since(&cluster, CUT).await == before {
        "sessions kept"
    } else {
        "sessions re-established"
    };

    // 2. A long cut: both sides notice (idle timeout), keep working, then heal.
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
    let (minority2, majority2) =
        write_on_both_sides(&cluster, CUT, "partition", [40, 25, 10]).await;
    let partitioned_for = cut_at.elapsed();
    cluster.lab.set_link(CUT, true).unwrap();
    let healed_at = Instant::now();
    cluster
        .wait_peers(CUT, NODES - 1, "the cut node to reconnect")
        .await;
    let reconnected = healed_at.elapsed();
    wait_converged(&cluster, &[minority1, majority1, minority2, majority2], 8).await;
    let convergence = healed_at.elapsed();

    // Nothing lost: the cut node's balance counts all four payments on every node.
    for i in 0..NODES {
        let account = cut_did.clone();
        let balances = cluster
            .rpc(i, move |c| async move {
                c.balance(Some("HOUR"), Some(account.as_str())).await
            })
            .await
            .unwrap();
        assert_eq!(balances.len(), 1, "node {i}: {balances:?}");
        assert_eq!(balances[0].balance, -10 + 5 - 40 + 25, "node {i}");
        assert_eq!(balances[0].limit, 500, "node {i}");
    }
    println!(
        "netns partition, {NODES} nodes, node {CUT} cut: \
         brief cut of {flap_for:.1?} ({kept}) converged {flap_convergence:.1?} after heal; \
         long cut of {partitioned_for:.1?} (sessions down after {detected:.1?}) reconnected \
         {reconnected:.1?} and converged {convergence:.1?} after heal \
         (4 entries, 6 payments, equal digests on every node)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mdns_nodes_find_each_other_without_bootstrap() {
    const NODES: usize = 3;
    // Node 0 restricts mDNS to its veth; node 1 uses every interface; node 2 listens on the
    // unspecified address, so it announces each interface's own addresses.
    let cluster = LabCluster::start(NODES, |i, _| {
        let mut args = vec!["--mdns".to_string()];
        match i {
            0 => args.extend(["--mdns-interface".into(), NODE_IF.into()]),
            1 => {}
            _ => args.extend(["--listen".into(), format!("0.0.0.0:{PORT}")]),
        }
        args
    });
    let started = Instant::now();
    for i in 0..NODES {
        cluster
            .wait_peers(i, NODES - 1, "sessions found through mDNS")
            .await;
    }
    let meshed = started.elapsed();
    // Every node discovers every neighbour over mDNS (a session alone could come from the
    // neighbour's own discovery), at the neighbour's veth address: never an address of its own
    // namespace such as the 127.0.0.1 that node 2's announcements also carry.
    let discoveries = |i: usize| -> Vec<String> {
        let log = cluster.nodes[i].process.stderr();
        log.lines()
            .filter(|l| l.contains("mDNS discovered a peer"))
            .map(str::to_string)
            .collect()
    };
    let neighbour_addrs = |i: usize| -> Vec<String> {
        (0..NODES)
            .filter(|j| *j != i)
            .map(|j| format!("addr={}:{PORT}", cluster.lab.node(j).addr))
            .collect()
    };
    let all_discovered = wait_until(WAIT, "every node to discover each neighbour", || async {
        (0..NODES).all(|i| {
            let found = discoveries(i);
            neighbour_addrs(i)
                .iter()
                .all(|addr| found.iter().any(|l| l.contains(addr.as_str())))
        })
    })
    .await;
    if let Err(e) = all_discovered {
        panic!("{e:#}\n{}", cluster.logs());
    }
    for i in 0..NODES {
        for line in discoveries(i) {
            let neighbour = neighbour_addrs(i).iter().any(|a| line.contains(a.as_str()));
            assert!(neighbour, "node {i} discovered a wrong address: {line}");
        }
        let page = cluster.scrape(i).await.unwrap();
        assert_eq!(
            page.get("icn_network_peers_discovered"),
            (NODES - 1) as f64,
            "node {i}"
        );
    }
    println!("netns mDNS: {NODES} nodes without bootstrap formed a full mesh in {meshed:.1?}");

    // The mDNS daemon stops with the node: SIGTERM still exits 0, promptly.
    let mut cluster = cluster;
    let node = &mut cluster.nodes[0].process;
    node.signal(Signal::SIGTERM).unwrap();
    let status = node.wait_exit(Duration::from_secs(5)).unwrap();
    assert!(status.success(), "{status}:\n{}", node.stderr());
    assert!(
        node.stderr().contains("mDNS discovery stopped"),
        "{}",
        node.stderr()
    );
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
    // A link that was down can drop the first datagrams while the bridge port comes back and
    // the sender's neighbour entry (failed during the cut) is resolved again: retry a while.
    let mut healed = false;
    for _ in 0..5 {
        if udp_reaches(&lab, 0, 1).await {
            healed = true;
            break;
        }
    }
    assert!(healed, "a healed link carries no traffic");
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
