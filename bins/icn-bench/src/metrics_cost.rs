//! Scenario 4: what instrumentation costs. A counter increment through a cached handle and
//! through the `metrics` macro (key lookup in the node's recorder), the render time of a
//! `/metrics` page of 1 000 and 10 000 series, and propagation latency with and without a
//! client scraping every node's `/metrics` 10 times a second.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use icn_obs::NodeMetrics;
use icn_obs::catalogue::names;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::progress::Progress;
use crate::propagation;
use crate::settings::Settings;
use crate::stats::median;
use crate::topology::{self, Graph};

/// Metric of the synthetic series added to a node's registry to reach a page size (a
/// benchmark-only registry, never served).
const SYNTHETIC_SERIES: &str = "icn_bench_synthetic_total";
/// Metric names the synthetic series are spread over.
const SYNTHETIC_NAMES: usize = 100;
/// Timed samples of each counter cost (the median is reported).
const COUNTER_SAMPLES: usize = 5;

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
    /// Propagation p50 with scrapers over p50 without (1.0 = no cost).
    pub overhead_ratio: f64,
    /// Propagation p99 with scrapers over p99 without.
    pub overhead_ratio_p99: f64,
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
        overhead_ratio: scraped.p50_ms / unscraped.p50_ms,
        overhead_ratio_p99: scraped.p99_ms / unscraped.p99_ms,
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
