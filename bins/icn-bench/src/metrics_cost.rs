//! Scenario 4: what instrumentation costs. A counter increment through a cached handle and
//! through the `metrics` macro (key lookup in the node's recorder), the render time of a
//! `/metrics` page of 1 000 and 10 000 series, gossip throughput with the nodes' metrics live
//! against the same workload with no-op metric handles (runs alternated), and propagation latency
//! with and without a client scraping every node's `/metrics` 10 times a second.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use icn_obs::NodeMetrics;
use icn_obs::catalogue::names;
use icn_testkit::MetricsMode;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::progress::Progress;
use crate::settings::Settings;
use crate::stats::{median, process_cpu_seconds};
use crate::topology::{self, Graph};
use crate::{propagation, throughput};

/// Metric of the synthetic series added to a node's registry to reach a page size (a
/// benchmark-only registry, never served).
const SYNTHETIC_SERIES: &str = "icn_bench_synthetic_total";
/// Metric names the synthetic series are spread over.
const SYNTHETIC_NAMES: usize = 100;
/// Timed samples of each counter cost (the median is reported).
const COUNTER_SAMPLES: usize = 5;
/// Payload bytes of an entry of the metrics-on/off throughput runs (the 1 KiB case).
const OVERHEAD_ENTRY_BYTES: usize = 1024;
/// Nodes of the metrics-on/off throughput runs (one publisher, the rest receive).
const OVERHEAD_THROUGHPUT_NODES: usize = 4;
/// The unmeasured warm-up run of each cluster publishes this fraction of a measured run.
const WARM_UP_FRACTION: usize = 5;

/// Instrumentation costs.
#[derive(Clone, Debug, Serialize)]
pub struct MetricsResult {
    /// Nanoseconds per increment through a cached `Counter` handle.
    pub counter_ns_cached: f64,
    /// Nanoseconds per increment through `counter!(name)` under the node's local recorder.
    pub counter_ns_macro: f64,
    /// Milliseconds to render a page of 1 000 series.
    pub render_ms_1k: f64,
    /// Milliseconds to render a page of 10 000 series.
    pub render_ms_10k: f64,
    /// Instrumentation overhead on gossip throughput: the median over pairs of adjacent runs of
    /// the same workload of `entries/s with no-op metrics / entries/s with live metrics`, minus
    /// one. 0.02 means the live metrics cost 2 % of the throughput; 0 or below means no cost
    /// showed above the run-to-run noise (see the per-run lists).
    pub overhead_ratio: f64,
    /// Entries per second delivered to every receiver with live node metrics (median of the
    /// runs; 4-node mesh, one publisher, 1 KiB entries, 64 publishes in flight).
    pub entries_per_s_on: f64,
    /// The same with [`NodeMetrics::noop`] handles on every node (median of the runs).
    pub entries_per_s_noop: f64,
    /// Instrumentation overhead on CPU: the median over pairs of `CPU per entry live / CPU per
    /// entry no-op`, minus one (`null` when the no-op runs were too short to measure any CPU).
    pub overhead_cpu_ratio: Option<f64>,
    /// CPU time of the benchmark process (all nodes) per published entry, µs, metrics live
    /// (median; the process's nanosecond CPU clock).
    pub cpu_us_per_entry_on: f64,
    /// The same with no-op metric handles.
    pub cpu_us_per_entry_noop: f64,
    /// Runs of each mode, after one unmeasured warm-up run of each, alternated in pairs whose
    /// order flips (on, off, off, on, on, off, ...) so a trend in machine load hits both alike.
    pub overhead_runs: usize,
    /// Entries per second of each live run, in run order (to judge the noise).
    pub entries_per_s_on_runs: Vec<f64>,
    /// Entries per second of each no-op run, in run order.
    pub entries_per_s_noop_runs: Vec<f64>,
    /// Propagation p50 with scrapers over p50 without (1.0 = no cost; was `overhead_ratio`
    /// before the no-op comparison existed).
    pub scrape_latency_ratio: f64,
    /// Propagation p99 with scrapers over p99 without.
    pub scrape_latency_ratio_p99: f64,
    /// p50 (ms) without scrapers.
    pub p50_ms_unscraped: f64,
    /// p50 (ms) with every node scraped.
    pub p50_ms_scraped: f64,
    /// Scrapes made during the loaded half.
    pub scrapes: u64,
}

/// Runs every metrics measurement.
///
/// # Errors
/// When the registry cannot be built or the propagation cluster fails.
pub async fn run(settings: &Settings, progress: &Progress) -> anyhow::Result<MetricsResult> {
    progress.stage("metrics: counters, render", 4);
    let counter_ns_cached = counter_cost(settings.counter_iterations, false)?;
    progress.inc(1);
    let counter_ns_macro = counter_cost(settings.counter_iterations, true)?;
    progress.inc(1);
    let render_ms_1k = render_cost(1_000, settings.render_repeats)?;
    progress.inc(1);
    let render_ms_10k = render_cost(10_000, settings.render_repeats)?;
    progress.inc(1);

    let runs = settings.overhead_runs.max(1);
    let per_run = settings.overhead_throughput_entries;
    progress.stage(
        "metrics: on vs no-op throughput",
        (2 * (runs * per_run + (per_run / WARM_UP_FRACTION).max(1))) as u64,
    );
    let OnOff {
        on,
        noop,
        rate_ratio,
        cpu_ratio,
    } = on_off_throughput(settings, progress).await?;

    progress.stage(
        "metrics: scrape overhead",
        2 * settings.overhead_entries as u64,
    );
    let (unscraped, scraped, scrapes) = scrape_overhead(settings, progress).await?;
    Ok(MetricsResult {
        counter_ns_cached,
        counter_ns_macro,
        render_ms_1k,
        render_ms_10k,
        overhead_ratio: rate_ratio - 1.0,
        entries_per_s_on: on.entries_per_s,
        entries_per_s_noop: noop.entries_per_s,
        overhead_cpu_ratio: cpu_ratio.map(|r| r - 1.0),
        cpu_us_per_entry_on: on.cpu_us_per_entry,
        cpu_us_per_entry_noop: noop.cpu_us_per_entry,
        overhead_runs: runs,
        entries_per_s_on_runs: on.runs,
        entries_per_s_noop_runs: noop.runs,
        scrape_latency_ratio: scraped.p50_ms / unscraped.p50_ms,
        scrape_latency_ratio_p99: scraped.p99_ms / unscraped.p99_ms,
        p50_ms_unscraped: unscraped.p50_ms,
        p50_ms_scraped: scraped.p50_ms,
        scrapes,
    })
}

/// Median nanoseconds per increment of `icn_network_messages_sent_total`.
fn counter_cost(iterations: u64, through_macro: bool) -> anyhow::Result<f64> {
    let node = NodeMetrics::new()?;
    let cached = node.network().messages_sent.clone();
    let mut samples = Vec::with_capacity(COUNTER_SAMPLES);
    for _ in 0..COUNTER_SAMPLES {
        let started = Instant::now();
        if through_macro {
            node.with_local_recorder(|| {
                for _ in 0..iterations {
                    metrics::counter!(black_box(names::NETWORK_MESSAGES_SENT_TOTAL))
                        .increment(black_box(1));
                }
            });
        } else {
            for _ in 0..iterations {
                black_box(&cached).increment(black_box(1));
            }
        }
        samples.push(started.elapsed().as_nanos() as f64 / iterations.max(1) as f64);
    }
    Ok(median(&mut samples))
}

/// Median milliseconds to render a node registry grown to `series` sample lines.
fn render_cost(series: usize, repeats: usize) -> anyhow::Result<f64> {
    let node = NodeMetrics::new()?;
    let base = sample_lines(&node.render());
    let extra = series.saturating_sub(base);
    node.with_local_recorder(|| {
        for i in 0..extra {
            let name = format!("{SYNTHETIC_SERIES}_{}", i % SYNTHETIC_NAMES);
            metrics::counter!(name, "series" => (i / SYNTHETIC_NAMES).to_string())
                .increment(i as u64);
        }
    });
    let rendered = sample_lines(&node.render());
    anyhow::ensure!(
        rendered >= series,
        "registry renders {rendered} series, wanted {series}"
    );
    let mut samples = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        let page = node.render();
        samples.push(started.elapsed().as_secs_f64() * 1e3);
        black_box(page);
    }
    Ok(median(&mut samples))
}

/// Lines of a Prometheus text page that carry a sample.
fn sample_lines(page: &str) -> usize {
    page.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

/// The on/off comparison: each mode's medians, and the medians of the per-pair ratios.
struct OnOff {
    on: Throughput,
    noop: Throughput,
    /// Median over pairs of no-op entries/s over live entries/s.
    rate_ratio: f64,
    /// Median over pairs of live CPU per entry over no-op CPU per entry.
    cpu_ratio: Option<f64>,
}

/// Medians over the runs of one metrics mode.
struct Throughput {
    entries_per_s: f64,
    cpu_us_per_entry: f64,
    /// Entries per second of each run.
    runs: Vec<f64>,
}

/// The throughput workload on two clusters of the same shape, one with live metrics and one
/// with no-op handles: one unmeasured warm-up run on each, then measured runs alternated in
/// pairs whose order flips (on, off, off, on, ...), so that drifting machine load hits both modes
/// alike. Both clusters stay up throughout, so each run also meets the same idle neighbour and
/// stores of the same size.
async fn on_off_throughput(settings: &Settings, progress: &Progress) -> anyhow::Result<OnOff> {
    let start = |mode| {
        topology::start_with_metrics(
            OVERHEAD_THROUGHPUT_NODES,
            Graph::Mesh,
            throughput::TOPIC,
            mode,
            |_, _| {},
        )
    };
    let live = start(MetricsMode::Live).await?;
    let noop = match start(MetricsMode::Noop).await {
        Ok(cluster) => cluster,
        Err(e) => {
            live.shutdown().await?;
            return Err(e);
        }
    };
    let entries = settings.overhead_throughput_entries;
    let runs = async {
        let warm_up = (entries / WARM_UP_FRACTION).max(1);
        throughput_run(&live, warm_up, progress).await?;
        throughput_run(&noop, warm_up, progress).await?;
        let (mut on, mut off) = (Vec::new(), Vec::new());
        for pair in 0..settings.overhead_runs.max(1) {
            if pair % 2 == 0 {
                on.push(throughput_run(&live, entries, progress).await?);
                off.push(throughput_run(&noop, entries, progress).await?);
            } else {
                off.push(throughput_run(&noop, entries, progress).await?);
                on.push(throughput_run(&live, entries, progress).await?);
            }
        }
        anyhow::Ok((on, off))
    }
    .await;
    live.shutdown().await?;
    noop.shutdown().await?;
    let (on, off) = runs?;
    let summary = |runs: &[(f64, f64)]| {
        let rates: Vec<f64> = runs.iter().map(|r| r.0).collect();
        let mut cpu: Vec<f64> = runs.iter().map(|r| r.1).collect();
        Throughput {
            entries_per_s: median(&mut rates.clone()),
            cpu_us_per_entry: median(&mut cpu),
            runs: rates,
        }
    };
    let mut rate_ratios: Vec<f64> = on.iter().zip(&off).map(|(a, b)| b.0 / a.0).collect();
    let mut cpu_ratios: Vec<f64> = on
        .iter()
        .zip(&off)
        // A run that used no CPU measured nothing, either side.
        .filter(|(a, b)| a.1 > 0.0 && b.1 > 0.0)
        .map(|(a, b)| a.1 / b.1)
        .collect();
    Ok(OnOff {
        on: summary(&on),
        noop: summary(&off),
        rate_ratio: median(&mut rate_ratios),
        cpu_ratio: (!cpu_ratios.is_empty()).then(|| median(&mut cpu_ratios)),
    })
}

/// One throughput run: entries per second to every receiver, and process CPU µs per entry.
async fn throughput_run(
    cluster: &icn_testkit::Cluster,
    entries: usize,
    progress: &Progress,
) -> anyhow::Result<(f64, f64)> {
    let cpu_before = process_cpu_seconds()?;
    let (elapsed, _receivers) =
        throughput::deliver(cluster, entries, OVERHEAD_ENTRY_BYTES, progress).await?;
    let cpu = process_cpu_seconds()? - cpu_before;
    Ok((
        entries as f64 / elapsed.as_secs_f64(),
        cpu * 1e6 / entries.max(1) as f64,
    ))
}

/// Propagation on one cluster without, then with, scrapers on every node.
async fn scrape_overhead(
    settings: &Settings,
    progress: &Progress,
) -> anyhow::Result<(crate::stats::Latency, crate::stats::Latency, u64)> {
    let cluster = topology::start(settings.overhead_nodes, Graph::Mesh, propagation::TOPIC).await?;
    let outcome = async {
        let (entries, payload) = (settings.overhead_entries, settings.propagation_payload);
        let unscraped = propagation::measure(&cluster, entries, payload, progress).await?;
        let scrapes = Arc::new(AtomicU64::new(0));
        let mut scrapers = JoinSet::new();
        let client = reqwest::Client::new();
        let every = Duration::from_secs(1) / settings.scrapes_per_second.max(1);
        for i in 0..cluster.len() {
            let addr = cluster
                .node(i)
                .metrics_addr()
                .ok_or_else(|| anyhow::anyhow!("node {i} serves no metrics"))?;
            let (client, scrapes) = (client.clone(), scrapes.clone());
            scrapers.spawn(async move {
                let mut ticker = tokio::time::interval(every);
                loop {
                    ticker.tick().await;
                    let page = client.get(format!("http://{addr}/metrics")).send().await;
                    if let Ok(response) = page
                        && response.bytes().await.is_ok()
                    {
                        scrapes.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        let scraped = propagation::measure(&cluster, entries, payload, progress).await;
        scrapers.shutdown().await;
        anyhow::Ok((unscraped, scraped?, scrapes.load(Ordering::Relaxed)))
    }
    .await;
    cluster.shutdown().await?;
    outcome
}
