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
//! - [`throughput`]: scenario 2, bytes delivered per second, beside [`quinn_baseline`].
//! - [`ledger`]: scenario 3, transfers per second on one node and across a cluster.
//! - [`metrics_cost`]: scenario 4, counter and render costs, scrape overhead.
//! - [`footprint`]: scenario 5, idle RSS and CPU, many nodes in one process.
//! - [`report`]: the JSON object and the table; [`stats`]: percentiles; [`progress`]: the bar.

pub mod arrivals;
pub mod footprint;
pub mod ledger;
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
        ledger,
        metrics,
        footprint,
    })
}
