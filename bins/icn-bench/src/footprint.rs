//! Scenario 5: footprint. The idle RSS and CPU of one node alone in its own process (this
//! binary's `idle-node` subcommand: a full node with the default configuration on loopback,
//! what `icnd run` starts), read from `/proc`; then many nodes in this process.

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

/// What the idle node prints once it runs.
const READY: &str = "ready";
/// Time given to a started node to finish its start-up work before it is watched.
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
    /// Nodes started in this process.
    pub crowd_nodes: usize,
    /// Seconds to start them and form a random degree-4 graph.
    pub crowd_start_s: f64,
    /// Growth of this process's resident memory for the crowd, MB.
    pub crowd_rss_mb: f64,
    /// CPU of this process while the crowd idles, percent of one core.
    pub crowd_idle_cpu_percent: f64,
    /// Median propagation to every crowd node, ms.
    pub crowd_p50_ms: f64,
}

/// Measures the idle node (spawning `exe idle-node`) and the crowd.
///
/// # Errors
/// When the idle node cannot be spawned or measured, or the crowd fails to form.
pub async fn run(
    settings: &Settings,
    exe: &Path,
    progress: &Progress,
) -> anyhow::Result<FootprintResult> {
    progress.stage("footprint: idle node", 1);
    let window = settings.idle_window;
    let exe = exe.to_owned();
    let (idle_rss_mb, idle_cpu_percent) =
        tokio::task::spawn_blocking(move || idle_node(&exe, window)).await??;
    progress.inc(1);

    let n = settings.crowd_nodes;
    progress.stage(&format!("footprint: {n} nodes"), CROWD_ENTRIES as u64);
    let me = Process::myself()?;
    let rss_before = rss_mb(&me)?;
    let started = Instant::now();
    let crowd = topology::start(n, Graph::Random { degree: 4 }, propagation::TOPIC).await?;
    let crowd_start_s = started.elapsed().as_secs_f64();
    let outcome = async {
        tokio::time::sleep(SETTLE).await;
        let rss = rss_mb(&me)? - rss_before;
        let cpu = cpu_percent(&me, window).await?;
        let latency = propagation::measure(&crowd, CROWD_ENTRIES, 256, progress).await?;
        anyhow::Ok((rss, cpu, latency.p50_ms))
    }
    .await;
    crowd.shutdown().await?;
    let (crowd_rss_mb, crowd_idle_cpu_percent, crowd_p50_ms) = outcome?;
    Ok(FootprintResult {
        idle_rss_mb,
        idle_cpu_percent,
        crowd_nodes: n,
        crowd_start_s,
        crowd_rss_mb,
        crowd_idle_cpu_percent,
        crowd_p50_ms,
    })
}

/// Spawns `exe idle-node`, lets it settle, then reads its RSS and CPU over `window`.
fn idle_node(exe: &Path, window: Duration) -> anyhow::Result<(f64, f64)> {
    let dir = tempfile::tempdir()?;
    let mut child = Command::new(exe)
        .arg("idle-node")
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot spawn {} idle-node", exe.display()))?;
    let measured = watch_idle(&mut child, window);
    // Closing its stdin asks the node to stop; wait so no process is left behind.
    drop(child.stdin.take());
    let status = child.wait()?;
    let measured = measured?;
    anyhow::ensure!(status.success(), "idle node exited with {status}");
    Ok(measured)
}

fn watch_idle(child: &mut Child, window: Duration) -> anyhow::Result<(f64, f64)> {
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    anyhow::ensure!(line.trim() == READY, "idle node did not start: {line:?}");
    std::thread::sleep(SETTLE);
    let process = Process::new(i32::try_from(child.id())?)?;
    let before = cpu_ticks(&process)?;
    std::thread::sleep(window);
    let ticks = cpu_ticks(&process)? - before;
    let cpu = ticks as f64 / procfs::ticks_per_second() as f64 / window.as_secs_f64() * 100.0;
    Ok((rss_mb(&process)?, cpu))
}

/// CPU of `process` over `window`, percent of one core.
async fn cpu_percent(process: &Process, window: Duration) -> anyhow::Result<f64> {
    let before = cpu_ticks(process)?;
    tokio::time::sleep(window).await;
    let ticks = cpu_ticks(process)? - before;
    Ok(ticks as f64 / procfs::ticks_per_second() as f64 / window.as_secs_f64() * 100.0)
}

fn cpu_ticks(process: &Process) -> anyhow::Result<u64> {
    let stat = process.stat()?;
    Ok(stat.utime + stat.stime)
}

fn rss_mb(process: &Process) -> anyhow::Result<f64> {
    let kib = process.status()?.vmrss.context("no VmRSS")?;
    Ok(kib as f64 * 1024.0 / 1e6)
}

/// The `idle-node` subcommand: one node with the default configuration on loopback (ports
/// chosen by the OS) in `data_dir`, on the same runtime as `icnd run`; prints `ready` and
/// runs until stdin closes.
///
/// # Errors
/// When the node cannot start or stop.
pub fn idle_node_main(data_dir: PathBuf) -> anyhow::Result<()> {
    let mut config = NodeConfig::load_with_env(None, |_| None, &ConfigOverrides::default())?;
    config.data_dir = data_dir;
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    config.network.listen = loopback;
    config.metrics.addr = loopback;
    config.rpc.addr = loopback;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let node = Node::start(config, Some(Keypair::generate())).await?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "{READY}")?;
        stdout.flush()?;
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            std::io::stdin().read_to_end(&mut sink)
        })
        .await??;
        node.shutdown().await?;
        anyhow::Ok(())
    })
}
