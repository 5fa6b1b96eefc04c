//! The libp2p section of the report (scenario 6) and the ICN/libp2p ratios of one run.
//!
//! Always compiled, so the report has one definition; only the `libp2p` feature fills it (see
//! `libp2p_peer`). Without the feature the report leaves the section out.

use std::fmt::Write as _;

use serde::Serialize;

use crate::propagation::PropagationResult;
use crate::throughput::ThroughputResult;

/// What the rust-libp2p gossipsub peer measured, and how ICN compares in the same run.
#[derive(Clone, Debug, Serialize)]
pub struct Libp2pReport {
    /// The propagation cases of scenario 1, on gossipsub.
    pub propagation: Vec<PropagationResult>,
    /// The entry sizes of scenario 2, on gossipsub.
    pub throughput: Vec<Libp2pThroughput>,
    /// ICN's figure divided by libp2p's for every case both ran.
    pub ratios: Ratios,
}

/// Gossipsub throughput of one message size.
#[derive(Clone, Debug, Serialize)]
pub struct Libp2pThroughput {
    /// Payload bytes per message.
    pub entry_bytes: usize,
    /// Messages published.
    pub entries: usize,
    /// Nodes meant to receive every message.
    pub receivers: usize,
    /// Messages per second that reached every receiver.
    pub entries_per_s: f64,
    /// Payload MB (10^6 bytes) per second that arrived, summed over receivers.
    pub mb_per_s: f64,
    /// Arrivals / (messages × receivers): gossipsub publishes fire-and-forget and may drop.
    pub delivered_fraction: f64,
    /// Message copies gossipsub reported dropped (send queue full or too late, `SlowPeer`).
    pub dropped_copies: u64,
}

/// ICN ÷ libp2p, case by case. Throughput above 1 means ICN delivers more; latency above 1
/// means ICN is slower.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Ratios {
    /// Entries (messages) per second delivered to every receiver.
    pub throughput: Vec<ThroughputRatio>,
    /// Propagation latency percentiles.
    pub propagation: Vec<PropagationRatio>,
}

/// ICN ÷ libp2p throughput of one entry size.
#[derive(Clone, Debug, Serialize)]
pub struct ThroughputRatio {
    /// Payload bytes per entry.
    pub entry_bytes: usize,
    /// ICN entries/s ÷ libp2p entries/s (the goal: ≥ 3 at 1 KiB).
    pub entries_per_s: f64,
}

/// ICN ÷ libp2p latency of one propagation case.
#[derive(Clone, Debug, Serialize)]
pub struct PropagationRatio {
    /// Nodes in the cluster.
    pub nodes: usize,
    /// `mesh` or `random-<degree>`.
    pub topology: String,
    /// ICN p50 ÷ libp2p p50.
    pub p50: f64,
    /// ICN p99 ÷ libp2p p99.
    pub p99: f64,
}

impl Ratios {
    /// The ratios of every case that both ICN and libp2p ran in this run.
    pub fn of(
        icn_propagation: &[PropagationResult],
        icn_throughput: &[ThroughputResult],
        libp2p_propagation: &[PropagationResult],
        libp2p_throughput: &[Libp2pThroughput],
    ) -> Self {
        let throughput = icn_throughput
            .iter()
            .filter_map(|icn| {
                let peer = libp2p_throughput
                    .iter()
                    .find(|p| p.entry_bytes == icn.entry_bytes)?;
                Some(ThroughputRatio {
                    entry_bytes: icn.entry_bytes,
                    entries_per_s: icn.entries_per_s / peer.entries_per_s,
                })
            })
            .collect();
        let propagation = icn_propagation
            .iter()
            .filter_map(|icn| {
                let peer = libp2p_propagation
                    .iter()
                    .find(|p| p.nodes == icn.nodes && p.topology == icn.topology)?;
                Some(PropagationRatio {
                    nodes: icn.nodes,
                    topology: icn.topology.to_string(),
                    p50: icn.latency.p50_ms / peer.latency.p50_ms,
                    p99: icn.latency.p99_ms / peer.latency.p99_ms,
                })
            })
            .collect();
        Self {
            throughput,
            propagation,
        }
    }
}

impl Libp2pReport {
    /// The libp2p lines of the table, with the ratios beside them.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nlibp2p gossipsub nodes  topology   p50 ms   p99 ms   max ms  samples  ICN/libp2p p50   p99"
        );
        for p in &self.propagation {
            let ratio = self
                .ratios
                .propagation
                .iter()
                .find(|r| r.nodes == p.nodes && r.topology == p.topology.to_string());
            let _ = write!(out, "{}", p.table_row());
            match ratio {
                Some(r) => {
                    let _ = writeln!(out, "  {:>14.2}  {:>5.2}", r.p50, r.p99);
                }
                None => out.push('\n'),
            }
        }
        let _ = writeln!(
            out,
            "\nlibp2p gossipsub bytes  entries/s     MB/s  delivered  dropped  ICN/libp2p entries/s"
        );
        for t in &self.throughput {
            let ratio = self
                .ratios
                .throughput
                .iter()
                .find(|r| r.entry_bytes == t.entry_bytes);
            let _ = write!(
                out,
                "                 {:>5}  {:>9.0}  {:>7.1}  {:>9.3}  {:>7}",
                t.entry_bytes, t.entries_per_s, t.mb_per_s, t.delivered_fraction, t.dropped_copies
            );
            match ratio {
                Some(r) => {
                    let _ = writeln!(out, "  {:>20.3}", r.entries_per_s);
                }
                None => out.push('\n'),
            }
        }
        out
    }
}
