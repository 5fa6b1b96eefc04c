//! Scenario 5: footprint. The idle RSS and CPU, read from `/proc`, of a child process of this
//! binary (`idle-nodes` subcommand) running one node with the default configuration on
//! loopback (what `icnd run` starts), then of one running many nodes.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use icn_core::{ConfigOverrides, Node, NodeConfig};
use icn_identity::Keypair;
use procfs::process::Process;
use serde::Serialize;

use crate::progress::Progress;
use crate::propagation;
use crate::settings::Settings;
use crate::topology::{self, Graph};

/// What an `idle-nodes` child prints first once its nodes run.
const READY: &str = "ready";
/// Time given to started nodes to finish their start-up work before they are watched.
const SETTLE: Duration = Duration::from_secs(1);
/// Entries propagated through the crowd to show it works.
const CROWD_ENTRIES: usize = 20;

/// Footprint numbers.
#[derive(Clone, Debug, Serialize)]
pub struct FootprintResult {
    /// Resident memory of one idle node's process, MB (10^6 bytes).
    pub idle_rss_mb: f64,
    /// CPU of one idle node's process, percent of one core.
    pub idle_cpu_percent: f64,
    /// Nodes started in one process.
    pub crowd_nodes: usize,
    /// Seconds to start them and form a random degree-4 graph.
    pub crowd_start_s: f64,
    /// Resident memory of the process running the crowd, MB.
    pub crowd_rss_mb: f64,
    /// CPU of that process while the crowd idles, percent of one core.
    pub crowd_idle_cpu_percent: f64,
    /// Median propagation to every crowd node, ms.
    pub crowd_p50_ms: f64,
}

/// Measures the idle node and the crowd, each in its own child process (`exe idle-nodes`).
///
/// # Errors
/// When a child cannot be spawned or measured.
pub async fn run(
    settings: &Settings,
    exe: &Path,
    progress: &Progress,
) -> anyhow::Result<FootprintResult> {
    let window = settings.idle_window;
    progress.stage("footprint: idle node", 1);
    let single = {
        let exe = exe.to_owned();
        tokio::task::spawn_blocking(move || idle_nodes(&exe, 1, window)).await??
    };
    progress.inc(1);
    let n = settings.crowd_nodes;
    progress.stage(&format!("footprint: {n} nodes"), 1);
    let crowd = {
        let exe = exe.to_owned();
        tokio::task::spawn_blocking(move || idle_nodes(&exe, n, window)).await??
    };
    progress.inc(1);
    Ok(FootprintResult {
        idle_rss_mb: single.rss_mb,
        idle_cpu_percent: single.cpu_percent,
        crowd_nodes: n,
        crowd_start_s: crowd.start_s,
        crowd_rss_mb: crowd.rss_mb,
        crowd_idle_cpu_percent: crowd.cpu_percent,
        crowd_p50_ms: crowd.p50_ms,
    })
}

/// What a child process of idle nodes measured.
struct Idle {
    rss_mb: f64,
    cpu_percent: f64,
    start_s: f64,
    p50_ms: f64,
}

/// Spawns `exe idle-nodes n`, lets it settle, then reads its RSS and CPU over `window`.
fn idle_nodes(exe: &Path, n: usize, window: Duration) -> anyhow::Result<Idle> {
    let dir = tempfile::tempdir()?;
    let mut child = Command::new(exe)
        .arg("idle-nodes")
        .arg(n.to_string())
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot spawn {} idle-nodes", exe.display()))?;
    let measured = watch_idle(&mut child, window);
    // Closing its stdin asks the child to stop; wait so no process is left behind.
    drop(child.stdin.take());
    let status = child.wait()?;
    let measured = measured?;
    anyhow::ensure!(status.success(), "idle nodes exited with {status}");
    Ok(measured)
}

fn watch_idle(child: &mut Child, window: Duration) -> anyhow::Result<Idle> {
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [ready, start_s, p50_ms] = fields.as_slice() else {
        anyhow::bail!("idle nodes did not start: {line:?}");
    };
    anyhow::ensure!(*ready == READY, "idle nodes did not start: {line:?}");
    let (start_s, p50_ms) = (start_s.parse()?, p50_ms.parse()?);
    std::thread::sleep(SETTLE);
    let process = Process::new(i32::try_from(child.id())?)?;
    let before = cpu_ticks(&process)?;
    std::thread::sleep(window);
    let ticks = cpu_ticks(&process)? - before;
    let cpu_percent =
        ticks as f64 / procfs::ticks_per_second() as f64 / window.as_secs_f64() * 100.0;
    Ok(Idle {
        rss_mb: rss_mb(&process)?,
        cpu_percent,
        start_s,
        p50_ms,
    })
}

fn cpu_ticks(process: &Process) -> anyhow::Result<u64> {
    let stat = process.stat()?;
    Ok(stat.utime + stat.stime)
}

fn rss_mb(process: &Process) -> anyhow::Result<f64> {
    let kib = process.status()?.vmrss.context("no VmRSS")?;
    Ok(kib as f64 * 1024.0 / 1e6)
}

/// The `idle-nodes` subcommand. One node: the default configuration on loopback (ports
/// chosen by the OS) in `data_dir`, on the same runtime as `icnd run`. More: that many nodes
/// in a random degree-4 graph with the default refresh and peer-exchange intervals, after
/// propagating a few entries through them. Prints `ready <start seconds> <p50 ms>` and runs
/// until stdin closes.
///
/// # Errors
/// When the nodes cannot start or stop.
pub fn idle_nodes_main(n: usize, data_dir: PathBuf) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let started = Instant::now();
        let (running, start_s, p50_ms) = if n == 1 {
            let node = Node::start(default_config(data_dir)?, Some(Keypair::generate())).await?;
            (
                Running::Node(Box::new(node)),
                started.elapsed().as_secs_f64(),
                0.0,
            )
        } else {
            let defaults = default_config(data_dir)?;
            let graph = Graph::Random { degree: 4 };
            let crowd = topology::start_with(n, graph, propagation::TOPIC, |_, c| {
                c.metrics.refresh_interval = defaults.metrics.refresh_interval;
                c.network.peer_exchange_interval = defaults.network.peer_exchange_interval;
            })
            .await?;
            let start_s = started.elapsed().as_secs_f64();
            let latency =
                propagation::measure(&crowd, CROWD_ENTRIES, 256, &Progress::hidden()).await?;
            (Running::Crowd(crowd), start_s, latency.p50_ms)
        };
        let mut stdout = std::io::stdout();
        writeln!(stdout, "{READY} {start_s} {p50_ms}")?;
        stdout.flush()?;
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            std::io::stdin().read_to_end(&mut sink)
        })
        .await??;
        match running {
            Running::Node(node) => node.shutdown().await?,
            Running::Crowd(crowd) => crowd.shutdown().await?,
        }
        anyhow::Ok(())
    })
}

/// What an `idle-nodes` child runs.
enum Running {
    Node(Box<Node>),
    Crowd(icn_testkit::Cluster),
}

fn default_config(data_dir: PathBuf) -> anyhow::Result<NodeConfig> {
    let mut config = NodeConfig::load_with_env(None, |_| None, &ConfigOverrides::default())?;
    config.data_dir = data_dir;
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    config.network.listen = loopback;
    config.metrics.addr = loopback;
    config.rpc.addr = loopback;
    Ok(config)
}
