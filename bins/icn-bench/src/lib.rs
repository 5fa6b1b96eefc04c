//! `icn-bench`: cluster benchmarks of ICN against the physical limit (raw quinn on loopback).
//!
//! Every scenario runs in-process nodes (`icn_testkit::Cluster`, real QUIC on 127.0.0.1) and
//! prints numbers; nothing here asserts a timing. Results of one run are meant to be compared
//! as ratios within that run (the machine is shared and noisy).
//!
//! # Layout
//! - [`settings`]: sample counts of the quick, full and tiny runs.
//! - [`topology`]: clusters as a full mesh or a random regular graph.
//! - [`arrivals`]: watching entries arrive at many nodes.
//! - [`propagation`]: scenario 1, publish-to-everywhere latency.
//! - [`throughput`]: scenario 2, bytes delivered per second, beside [`quinn_baseline`] and
//!   the [`floor`] of the work every delivery needs.
//! - [`ledger`]: scenario 3, transfers per second on one node and across a cluster.
//! - [`metrics_cost`]: scenario 4, counter and render costs, scrape overhead.
//! - [`footprint`]: scenario 5, idle RSS and CPU, many nodes in one process.
//! - `libp2p_peer` (cargo feature `libp2p`): scenario 6, scenarios 1 and 2 on rust-libp2p
//!   gossipsub in the same run; [`libp2p_report`]: its section of the report and the ratios.
//! - [`report`]: the JSON object and the table; [`stats`]: percentiles; [`progress`]: the bar.

pub mod arrivals;
pub mod floor;
pub mod footprint;
pub mod ledger;
#[cfg(feature = "libp2p")]
pub mod libp2p_peer;
pub mod libp2p_report;
pub mod metrics_cost;
pub mod progress;
pub mod propagation;
pub mod quinn_baseline;
pub mod report;
pub mod settings;
pub mod stats;
pub mod throughput;
pub mod topology;

use std::path::Path;
use std::time::Instant;

use libp2p_report::Libp2pReport;
#[cfg(feature = "libp2p")]
use libp2p_report::Ratios;
pub use progress::Progress;
pub use report::Report;
pub use settings::Settings;

/// A scenario that can be run alone (`--only`, e.g. to profile it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Scenario 1.
    Propagation,
    /// Scenario 2.
    Throughput,
    /// Scenario 3.
    Ledger,
    /// Scenario 4.
    Metrics,
    /// Scenario 5.
    Footprint,
    /// Scenario 6: scenarios 1 and 2 on rust-libp2p gossipsub (needs the `libp2p` feature).
    Libp2p,
}

/// Runs every scenario with `settings`; `exe` is this binary (spawned for the idle nodes).
///
/// # Errors
/// The first scenario that fails.
pub async fn run(
    mode: &str,
    settings: &Settings,
    exe: &Path,
    progress: &Progress,
) -> anyhow::Result<Report> {
    run_only(mode, settings, exe, progress, None).await
}

/// [`run`], limited to `only` when given (the other sections of the report stay empty).
///
/// # Errors
/// The first scenario that fails.
pub async fn run_only(
    mode: &str,
    settings: &Settings,
    exe: &Path,
    progress: &Progress,
    only: Option<Scenario>,
) -> anyhow::Result<Report> {
    anyhow::ensure!(
        only != Some(Scenario::Libp2p) || cfg!(feature = "libp2p"),
        "icn-bench was built without the libp2p peer: build it with `--features libp2p`"
    );
    let started = Instant::now();
    let runs = |s: Scenario| only.is_none_or(|o| o == s);
    let mut propagation = Vec::new();
    for case in settings
        .propagation
        .iter()
        .filter(|_| runs(Scenario::Propagation))
    {
        progress.stage(
            &format!("propagation {} {}", case.nodes, case.graph),
            settings.propagation_entries as u64,
        );
        propagation.push(propagation::run(settings, *case, progress).await?);
    }
    let throughput = if runs(Scenario::Throughput) {
        throughput::run(settings, progress).await?
    } else {
        Vec::new()
    };
    let libp2p = if runs(Scenario::Libp2p) {
        libp2p_section(settings, progress, &propagation, &throughput).await?
    } else {
        None
    };
    let ledger = if runs(Scenario::Ledger) {
        Some(ledger::run(settings, progress).await?)
    } else {
        None
    };
    let metrics = if runs(Scenario::Metrics) {
        Some(metrics_cost::run(settings, progress).await?)
    } else {
        None
    };
    let footprint = if runs(Scenario::Footprint) {
        Some(footprint::run(settings, exe, progress).await?)
    } else {
        None
    };
    progress.finish();
    Ok(Report {
        mode: mode.to_owned(),
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        elapsed_s: started.elapsed().as_secs_f64(),
        propagation,
        throughput,
        libp2p,
        ledger,
        metrics,
        footprint,
    })
}

/// Scenario 6 beside ICN's results of the same run.
#[cfg(feature = "libp2p")]
async fn libp2p_section(
    settings: &Settings,
    progress: &Progress,
    icn_propagation: &[propagation::PropagationResult],
    icn_throughput: &[throughput::ThroughputResult],
) -> anyhow::Result<Option<Libp2pReport>> {
    let (propagation, throughput) = libp2p_peer::run(settings, progress).await?;
    let ratios = Ratios::of(icn_propagation, icn_throughput, &propagation, &throughput);
    Ok(Some(Libp2pReport {
        propagation,
        throughput,
        ratios,
    }))
}

/// Without the `libp2p` feature there is no peer to measure.
#[cfg(not(feature = "libp2p"))]
async fn libp2p_section(
    _: &Settings,
    _: &Progress,
    _: &[propagation::PropagationResult],
    _: &[throughput::ThroughputResult],
) -> anyhow::Result<Option<Libp2pReport>> {
    Ok(None)
}
