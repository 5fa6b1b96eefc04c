//! The result of a run: one JSON object, or a readable table.

use std::fmt::Write as _;

use serde::Serialize;

use crate::footprint::FootprintResult;
use crate::ledger::LedgerResult;
use crate::libp2p_report::Libp2pReport;
use crate::metrics_cost::MetricsResult;
use crate::propagation::PropagationResult;
use crate::throughput::ThroughputResult;

/// Everything one run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Which settings ran (`quick`, `full`, `tiny`).
    pub mode: String,
    /// CPUs this process could use.
    pub cpus: usize,
    /// Wall time of the whole run, seconds.
    pub elapsed_s: f64,
    /// Scenario 1.
    pub propagation: Vec<PropagationResult>,
    /// Scenario 2.
    pub throughput: Vec<ThroughputResult>,
    /// Scenario 6 (built with the `libp2p` feature only): scenarios 1 and 2 on rust-libp2p
    /// gossipsub, and ICN ÷ libp2p.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub libp2p: Option<Libp2pReport>,
    /// Scenario 3.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<LedgerResult>,
    /// Scenario 4.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsResult>,
    /// Scenario 5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub footprint: Option<FootprintResult>,
}

impl Report {
    /// A plain-text table of the results.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "icn-bench ({} run, {} CPUs, {:.0} s)\n",
            self.mode, self.cpus, self.elapsed_s
        );
        if !self.propagation.is_empty() {
            let _ = writeln!(
                out,
                "propagation      nodes  topology   p50 ms   p99 ms   max ms  samples"
            );
        }
        for p in &self.propagation {
            let _ = writeln!(out, "{}", p.table_row());
        }
        if !self.throughput.is_empty() {
            let _ = writeln!(
                out,
                "\nthroughput       bytes  entries/s     MB/s  quinn MB/s  ratio  floor  of floor  cores  \
                 quinn cores  CPU/byte vs quinn"
            );
        }
        for t in &self.throughput {
            let _ = writeln!(
                out,
                "                 {:>5}  {:>9.0}  {:>7.1}  {:>10.1}  {:>5.3}  {:>5}  {:>8}  \
                 {:>5.2}  {:>11.2}  {:>17}",
                t.entry_bytes,
                t.entries_per_s,
                t.mb_per_s,
                t.quinn_mb_per_s,
                t.ratio,
                optional(t.floor.ratio, 3),
                optional(t.of_floor, 2),
                t.cpu_cores,
                t.quinn_cpu_cores,
                optional(t.cpu_per_byte_vs_quinn, 2)
            );
        }
        for t in &self.throughput {
            let f = &t.floor;
            let _ = writeln!(
                out,
                "                 floor of {} B, µs per entry: sign {:.1}, check {:.1}, store {:.1}, \
                 quinn transport {:.1}; disk {:.0} MB/s synced, best sustained ratio {:.3}",
                t.entry_bytes,
                f.sign_us,
                f.verify_us,
                f.store_us,
                f.transport_us,
                f.disk_mb_per_s,
                f.disk_ratio
            );
        }
        if let Some(p) = &self.libp2p {
            out.push_str(&p.table());
        }
        if let Some(l) = &self.ledger {
            let _ = writeln!(
                out,
                "\nledger           one node {:.0} transfers/s (payment p50 {:.1} ms, p99 {:.1} ms); \
                 {} nodes {:.0} transfers/s (caught up {:.0} ms after the last payment); \
                 {} callers per node",
                l.single_node_tps,
                l.single_node_latency.p50_ms,
                l.single_node_latency.p99_ms,
                l.cluster_nodes,
                l.cluster_tps,
                l.cluster_catch_up_ms,
                l.callers
            );
        }
        if let Some(m) = &self.metrics {
            let _ = writeln!(
                out,
                "metrics          counter {:.1} ns cached, {:.1} ns macro; render {:.2} ms (1k), \
             {:.2} ms (10k)\n                 throughput on {:.0} / no-op {:.0} entries/s: \
             overhead {:+.1} % (CPU {}); scraped/unscraped p50 {:.3} (p99 {:.3})",
                m.counter_ns_cached,
                m.counter_ns_macro,
                m.render_ms_1k,
                m.render_ms_10k,
                m.entries_per_s_on,
                m.entries_per_s_noop,
                m.overhead_ratio * 100.0,
                m.overhead_cpu_ratio.map_or_else(
                    || "not measured".to_owned(),
                    |r| format!("{:+.1} %", r * 100.0)
                ),
                m.scrape_latency_ratio,
                m.scrape_latency_ratio_p99
            );
        }
        if let Some(f) = &self.footprint {
            let _ = writeln!(
                out,
                "footprint        idle node {:.1} MB RSS, {:.2} % CPU; {} nodes: start {:.1} s, \
             +{:.0} MB, {:.1} % CPU idle, p50 {:.2} ms",
                f.idle_rss_mb,
                f.idle_cpu_percent,
                f.crowd_nodes,
                f.crowd_start_s,
                f.crowd_rss_mb,
                f.crowd_idle_cpu_percent,
                f.crowd_p50_ms
            );
        }
        out
    }
}

/// `value` with `decimals` decimals, or `-` when there is none.
fn optional(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}
