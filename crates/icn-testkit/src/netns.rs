//! Network namespaces for tests of real network faults: a switch and one namespace per node.
//!
//! [`NetLab::new`] creates, under a name unique to this process, a *hub* namespace holding a
//! bridge (the switch) and one namespace per node, each joined to the bridge by a veth pair
//! whose node end is `eth0`. Taking a hub-side veth down is pulling that node's cable:
//! [`NetLab::set_link`] partitions and heals. Everything is deleted on drop, also when a test
//! fails; namespaces left behind by a killed test process are removed by the next lab.
//!
//! # Addresses
//! Node `i` has `127.0.0.{11 + i}/24` on `eth0`, so the tests keep to loopback addresses even
//! on a (namespace-private) wire. Linux treats 127/8 as martian outside `lo`: it drops such
//! packets on input and refuses to route or ARP for them, unless `route_localnet` is set on the
//! interface. Each node namespace therefore sets `net.ipv4.conf.{all,default,eth0}.route_localnet
//! = 1`, and replaces `lo`'s `127.0.0.1/8` (whose local route would swallow the whole /8, so
//! packets for a neighbour would never leave the namespace) with `127.0.0.1/32`. With that,
//! unicast UDP (QUIC) and multicast (mDNS, 224.0.0.251 on `eth0`) both work; `lo` still
//! serves the node's RPC and metrics on 127.0.0.1, reached with [`NetLab::run_in`].
//!
//! Namespaces need root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2's `ip`; without them
//! [`NetLab::new`] fails with a message saying so (CI runs as root, so it never skips).

use std::fs::File;
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use nix::sched::CloneFlags;

use crate::process::IcndProcess;

/// Prefix of every namespace a lab creates (`icnlab<pid>-<n>-...`).
const PREFIX: &str = "icnlab";
/// Interface name of a node's end of its veth pair.
pub const NODE_IF: &str = "eth0";
/// Labs created by this process (part of the namespace names).
static LABS: AtomicUsize = AtomicUsize::new(0);

/// One node's namespace.
#[derive(Debug, Clone)]
pub struct LabNode {
    /// Namespace name (for `ip netns exec`).
    pub ns: String,
    /// Address of the node's `eth0`.
    pub addr: Ipv4Addr,
    /// Name of the hub end of the node's veth pair.
    hub_if: String,
}

/// A bridge namespace and `n` node namespaces joined to it; removed on drop.
#[derive(Debug)]
pub struct NetLab {
    hub: String,
    nodes: Vec<LabNode>,
}

/// Runs `ip args...`, failing with its stderr.
fn ip(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .with_context(|| format!("cannot run `ip {}`", args.join(" ")))?;
    anyhow::ensure!(
        output.status.success(),
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

/// Why namespaces cannot be made here, if they cannot.
fn check_prerequisites() -> anyhow::Result<()> {
    let euid = nix::unistd::geteuid();
    anyhow::ensure!(
        euid.is_root(),
        "network-namespace tests need root (CAP_SYS_ADMIN, CAP_NET_ADMIN) but run as uid {euid}; \
         run them as root (CI does)"
    );
    let on_path = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("ip").is_file()));
    anyhow::ensure!(
        on_path,
        "network-namespace tests need `ip` from iproute2, which is not on PATH \
         (apt-get install iproute2)"
    );
    Ok(())
}

/// Deletes namespaces of earlier labs whose process is gone (a test killed before its drop).
fn remove_stale_namespaces() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", &name]);
        }
    }
}

impl NetLab {
    /// Creates the hub and `nodes` node namespaces, links up.
    ///
    /// # Errors
    /// When not root, when `ip` is missing, or when any step fails (with `ip`'s message);
    /// whatever was created is removed again.
    pub fn new(nodes: usize) -> anyhow::Result<Self> {
        check_prerequisites()?;
        anyhow::ensure!(nodes <= 200, "at most 200 nodes per lab");
        remove_stale_namespaces();
        let base = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            LABS.fetch_add(1, Ordering::Relaxed)
        );
        let mut lab = Self {
            hub: format!("{base}-hub"),
            nodes: Vec::new(),
        };
        ip(&["netns", "add", &lab.hub]).context("cannot create a network namespace")?;
        ip(&["-n", &lab.hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &lab.hub, "link", "set", "br0", "up"])?;
        for i in 0..nodes {
            let octet = u8::try_from(11 + i)?;
            let node = LabNode {
                ns: format!("{base}-n{i}"),
                addr: Ipv4Addr::new(127, 0, 0, octet),
                hub_if: format!("v{i}"),
            };
            // Pushed before it exists so a failure half-way still deletes it on drop.
            lab.nodes.push(node.clone());
            lab.add_node(&node)?;
        }
        Ok(lab)
    }

    fn add_node(&self, node: &LabNode) -> anyhow::Result<()> {
        let (hub, ns) = (self.hub.as_str(), node.ns.as_str());
        ip(&["netns", "add", ns])?;
        #[rustfmt::skip]
        ip(&["-n", hub, "link", "add", &node.hub_if, "type", "veth", "peer", "name", NODE_IF,
             "netns", ns])?;
        ip(&[
            "-n",
            hub,
            "link",
            "set",
            &node.hub_if,
            "master",
            "br0",
            "up",
        ])?;
        for conf in ["all", "default", NODE_IF] {
            let key = format!("net.ipv4.conf.{conf}.route_localnet=1");
            let output = self.command(node, "sysctl").args(["-qw", &key]).output()?;
            anyhow::ensure!(
                output.status.success(),
                "sysctl {key} in {ns}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        ip(&["-n", ns, "addr", "del", "127.0.0.1/8", "dev", "lo"])?;
        ip(&["-n", ns, "addr", "add", "127.0.0.1/32", "dev", "lo"])?;
        let cidr = format!("{}/24", node.addr);
        ip(&["-n", ns, "addr", "add", &cidr, "dev", NODE_IF])?;
        ip(&["-n", ns, "link", "set", NODE_IF, "up"])?;
        Ok(())
    }

    /// Node `i`.
    ///
    /// # Panics
    /// When `i` is out of range (a bug in the test).
    pub fn node(&self, i: usize) -> &LabNode {
        &self.nodes[i]
    }

    /// Number of node namespaces.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when the lab has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Connects (`up`) or disconnects node `i` from the bridge.
    ///
    /// # Errors
    /// When `ip` fails.
    pub fn set_link(&self, i: usize, up: bool) -> anyhow::Result<()> {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.hub, "link", "set", &self.nodes[i].hub_if, state])
    }

    /// `ip netns exec <ns> program`: a command to run inside `node`'s namespace.
    pub fn command(&self, node: &LabNode, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &node.ns]).arg(program);
        command
    }

    /// Starts `icnd run` inside node `i`'s namespace (see [`IcndProcess::start_via`]).
    ///
    /// # Errors
    /// When the process cannot start or exits before serving.
    pub fn start_icnd(
        &self,
        i: usize,
        bin: &Path,
        data_dir: &Path,
        extra: &[&str],
    ) -> anyhow::Result<IcndProcess> {
        let launcher = ["ip", "netns", "exec", self.nodes[i].ns.as_str()];
        IcndProcess::start_via(&launcher, bin, data_dir, extra)
    }

    /// Runs `f`'s future to completion on a thread that has joined node `i`'s namespace, so
    /// every socket it opens (RPC client, scrape) lives there. Build clients inside `f`.
    ///
    /// # Errors
    /// When the namespace cannot be entered or the thread panics.
    pub async fn run_in<F, Fut, T>(&self, i: usize, f: F) -> anyhow::Result<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        let path = format!("/run/netns/{}", self.nodes[i].ns);
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(format!("netns-{i}"))
            .spawn(move || {
                let result = (|| {
                    let file = File::open(&path).with_context(|| format!("open {path}"))?;
                    nix::sched::setns(&file, CloneFlags::CLONE_NEWNET)
                        .with_context(|| format!("setns {path}"))?;
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    Ok(runtime.block_on(f()))
                })();
                let _ = tx.send(result);
            })?;
        rx.await.context("namespace thread panicked")?
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        // Deleting a namespace destroys its interfaces, and with them their veth peers.
        for node in &self.nodes {
            if let Err(e) = ip(&["netns", "del", &node.ns]) {
                eprintln!("netns cleanup: {e}");
            }
        }
        if let Err(e) = ip(&["netns", "del", &self.hub]) {
            eprintln!("netns cleanup: {e}");
        }
    }
}
