//! Clusters of real `icnd` processes: `icnd init` then `icnd run` per node, each with its own
//! data directory and loopback ports, bootstrapped to each other, for fault tests that need a
//! real process (kill -9, SIGTERM, restart on the same data directory, a full disk).
//!
//! The process side is blocking (start, signal, wait) like [`IcndProcess`]; the RPC and metrics
//! side is async. Tests drive the processes from their own thread and run the clients on a
//! multi-threaded tokio runtime, so load keeps flowing while a node is killed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use icn_rpc::RpcClient;
use nix::sys::signal::Signal;

use crate::process::IcndProcess;
use crate::scrape::{Metrics, scrape};
use crate::wait::wait_until;

/// Passphrase of every node's keystore (tests only).
const PASSPHRASE: &str = "process cluster passphrase";
/// Gauge refresh interval of cluster nodes: short, so scrapes see fresh gauges.
const REFRESH_INTERVAL: &str = "200ms";

/// One node of a [`ProcessCluster`]; stopped nodes keep their identity, data dir and address.
pub struct ProcessNode {
    /// The node's DID, as printed by `icnd init`.
    pub did: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its QUIC address, fixed at first start so restarts keep it (peers redial it).
    p2p_addr: Option<SocketAddr>,
    /// The running process, if any.
    process: Option<IcndProcess>,
    /// How many times it was started (names each run's stderr file).
    runs: usize,
}

/// N real `icnd` processes on 127.0.0.1.
pub struct ProcessCluster {
    bin: PathBuf,
    root: tempfile::TempDir,
    password_file: PathBuf,
    nodes: Vec<ProcessNode>,
}

impl ProcessCluster {
    /// Initialises and starts `n` nodes, node i bootstrapping to every node before it, with data
    /// directories in a fresh temporary directory.
    ///
    /// # Errors
    /// When `icnd init` or `icnd run` fails for some node.
    pub fn start(bin: &Path, n: usize) -> anyhow::Result<Self> {
        Self::start_with(bin, n, |_| None)
    }

    /// Like [`ProcessCluster::start`]; `data_dir(i)` may place node i's data directory elsewhere
    /// (e.g. on a small tmpfs). It must not exist yet or be empty.
    ///
    /// # Errors
    /// When `icnd init` or `icnd run` fails for some node.
    pub fn start_with(
        bin: &Path,
        n: usize,
        mut data_dir: impl FnMut(usize) -> Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let root = tempfile::tempdir()?;
        let password_file = root.path().join("passphrase");
        std::fs::write(&password_file, PASSPHRASE)?;
        let mut cluster = Self {
            bin: bin.to_path_buf(),
            root,
            password_file,
            nodes: Vec::with_capacity(n),
        };
        for i in 0..n {
            let dir = data_dir(i).unwrap_or_else(|| cluster.root.path().join(format!("node{i}")));
            let did = cluster.init(&dir)?;
            cluster.nodes.push(ProcessNode {
                did,
                data_dir: dir,
                p2p_addr: None,
                process: None,
                runs: 0,
            });
            cluster.start_node(i)?;
        }
        Ok(cluster)
    }

    fn init(&self, dir: &Path) -> anyhow::Result<String> {
        let output = Command::new(&self.bin)
            .arg("init")
            .arg("--data-dir")
            .arg(dir)
            .arg("--password-file")
            .arg(&self.password_file)
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "icnd init --data-dir {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8(output.stdout)?.trim().to_string())
    }

    /// Number of nodes (running or not).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `i`.
    ///
    /// # Panics
    /// When `i` is out of range (a test bug).
    pub fn node(&self, i: usize) -> &ProcessNode {
        &self.nodes[i]
    }

    /// The temporary directory holding the cluster's files (passphrase, logs, data dirs).
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The passphrase file every node's keystore opens with.
    pub fn password_file(&self) -> &Path {
        &self.password_file
    }

    /// `did@addr` of node `i`, once it has run.
    pub fn bootstrap_target(&self, i: usize) -> Option<String> {
        let node = &self.nodes[i];
        node.p2p_addr.map(|addr| format!("{}@{addr}", node.did))
    }

    /// Starts node `i` (again) on its data directory and address, bootstrapping to every other
    /// node that has run; waits until it serves metrics and RPC. Its stderr goes to a new file
    /// per run ([`ProcessCluster::stderr_path`]).
    ///
    /// # Errors
    /// When it is already running, or exits before serving.
    pub fn start_node(&mut self, i: usize) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.nodes[i].process.is_none(),
            "node {i} is already running"
        );
        let listen = self.nodes[i]
            .p2p_addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let mut args = vec![
            "--password-file".to_string(),
            self.password_file.display().to_string(),
            "--listen".to_string(),
            listen.to_string(),
            "--metrics-refresh-interval".to_string(),
            REFRESH_INTERVAL.to_string(),
        ];
        for j in (0..self.nodes.len()).filter(|&j| j != i) {
            if let Some(target) = self.bootstrap_target(j) {
                args.push("--bootstrap".into());
                args.push(target);
            }
        }
        let node = &mut self.nodes[i];
        node.runs += 1;
        let log = self
            .root
            .path()
            .join(format!("node{i}.run{}.stderr", node.runs));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let process = IcndProcess::start_logged(&self.bin, &node.data_dir, &args, &log)?;
        if node.p2p_addr.is_none() {
            let text = std::fs::read_to_string(node.data_dir.join("p2p.addr"))?;
            node.p2p_addr = Some(text.trim().parse()?);
        }
        node.process = Some(process);
        Ok(())
    }

    fn process(&self, i: usize) -> anyhow::Result<&IcndProcess> {
        self.nodes[i]
            .process
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("node {i} is not running"))
    }

    /// Sends SIGKILL to node `i` and reaps it.
    ///
    /// # Errors
    /// When it is not running or does not die within 5 s.
    pub fn kill(&mut self, i: usize) -> anyhow::Result<ExitStatus> {
        self.stop(i, Signal::SIGKILL, Duration::from_secs(5))
    }

    /// Sends `signal` to node `i` and waits at most `timeout` for it to exit. The node counts as
    /// stopped afterwards (a process still running after `timeout` is killed).
    ///
    /// # Errors
    /// When it is not running or does not exit within `timeout`.
    pub fn stop(
        &mut self,
        i: usize,
        signal: Signal,
        timeout: Duration,
    ) -> anyhow::Result<ExitStatus> {
        self.process(i)?.signal(signal)?;
        let mut process = self.nodes[i]
            .process
            .take()
            .ok_or_else(|| anyhow::anyhow!("node {i} is not running"))?;
        // On timeout the process is dropped here, which kills it.
        process.wait_exit(timeout)
    }

    /// Whether node `i` has a live process.
    pub fn is_running(&mut self, i: usize) -> bool {
        self.nodes[i]
            .process
            .as_mut()
            .is_some_and(|p| matches!(p.try_exit_status(), Ok(None)))
    }

    /// Path of the stderr log of node `i`'s latest run (run numbers start at 1).
    pub fn stderr_path(&self, i: usize) -> PathBuf {
        self.root
            .path()
            .join(format!("node{i}.run{}.stderr", self.nodes[i].runs))
    }

    /// What node `i`'s latest run wrote to stderr.
    pub fn stderr(&self, i: usize) -> String {
        std::fs::read_to_string(self.stderr_path(i)).unwrap_or_default()
    }

    /// Every run's stderr of every node, labelled (for assertion messages).
    pub fn all_stderr(&self) -> String {
        let mut out = String::new();
        for (i, node) in self.nodes.iter().enumerate() {
            for run in 1..=node.runs {
                let path = self.root.path().join(format!("node{i}.run{run}.stderr"));
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                out.push_str(&format!("----- node {i} run {run} -----\n{text}"));
            }
        }
        out
    }

    /// An RPC client of node `i`, from the `rpc.addr` and `rpc.token` of its current run.
    ///
    /// # Errors
    /// When the node has not written them (not running).
    pub fn client(&self, i: usize) -> anyhow::Result<RpcClient> {
        Ok(RpcClient::from_data_dir(
            &self.nodes[i].data_dir,
            None,
            None,
        )?)
    }

    /// The metrics address of node `i`'s current run.
    ///
    /// # Errors
    /// When it is not running.
    pub fn metrics_addr(&self, i: usize) -> anyhow::Result<SocketAddr> {
        self.process(i)?
            .metrics_addr()
            .ok_or_else(|| anyhow::anyhow!("node {i} has no metrics address"))
    }

    /// Scrapes node `i`'s `/metrics`.
    ///
    /// # Errors
    /// When it is not running or the scrape fails.
    pub async fn scrape(&self, i: usize) -> anyhow::Result<Metrics> {
        scrape(self.metrics_addr(i)?).await
    }

    /// Waits until every running node has a session with every other running node.
    ///
    /// # Errors
    /// On timeout.
    pub async fn wait_connected(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let running: Vec<usize> = (0..self.len()).filter(|&i| self.is_running(i)).collect();
        let clients = running
            .iter()
            .map(|&i| self.client(i))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let want = running.len().saturating_sub(1);
        wait_until(timeout, "every running node to see every other", || {
            let clients = clients.clone();
            async move {
                for client in &clients {
                    match client.peers().await {
                        Ok(peers) if peers.len() >= want => {}
                        _ => return false,
                    }
                }
                true
            }
        })
        .await
    }
}
