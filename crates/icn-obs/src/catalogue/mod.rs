//! The metric catalogue: the one place where metric names, HELP texts, units, label values and
//! histogram buckets are written down.
//!
//! The names of the original design (`icn_network_*`, `icn_gossip_*`, `icn_ledger_*`,
//! `icn_system_*`) are a public interface: they are never renamed. Four gauges of that design end in
//! `_total` ([`LEGACY_TOTAL_GAUGES`]); they are kept for compatibility and are the only accepted
//! `promtool check metrics` findings.

use metrics::Unit;

mod entries;

pub use entries::CATALOGUE;

/// The kind of a metric, as rendered in `# TYPE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Monotonic counter; name ends in `_total`.
    Counter,
    /// Value that goes up and down.
    Gauge,
    /// Prometheus histogram with the explicit buckets of its [`MetricDef`].
    Histogram,
}

impl MetricKind {
    /// The Prometheus type name.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// One label of a metric and the closed set of values it takes.
#[derive(Clone, Copy, Debug)]
pub struct LabelDef {
    /// Label name.
    pub name: &'static str,
    /// Every value the label takes; all combinations are registered at zero. Empty means the
    /// values are only known at run time (only `icn_build_info` does this).
    pub values: &'static [&'static str],
}

/// The definition of one metric.
#[derive(Clone, Copy, Debug)]
pub struct MetricDef {
    /// Full metric name.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// Unit of the value, if it has one.
    pub unit: Option<Unit>,
    /// HELP text.
    pub help: &'static str,
    /// Labels, each with its bounded value set.
    pub labels: &'static [LabelDef],
    /// Histogram bucket upper bounds (required for histograms, empty otherwise).
    pub buckets: &'static [f64],
    /// Which component updates the metric.
    pub updated_by: &'static str,
}

/// Metric names. Only the catalogue and the handle structs in `registry` use these.
pub mod names {
    #![allow(missing_docs)]
    pub const NETWORK_CONNECTIONS_TOTAL: &str = "icn_network_connections_total";
    pub const NETWORK_CONNECTIONS_ACTIVE: &str = "icn_network_connections_active";
    pub const NETWORK_PEERS_DISCOVERED: &str = "icn_network_peers_discovered";
    pub const NETWORK_MESSAGES_SENT_TOTAL: &str = "icn_network_messages_sent_total";
    pub const NETWORK_MESSAGES_RECEIVED_TOTAL: &str = "icn_network_messages_received_total";
    pub const NETWORK_BYTES_SENT_TOTAL: &str = "icn_network_bytes_sent_total";
    pub const NETWORK_BYTES_RECEIVED_TOTAL: &str = "icn_network_bytes_received_total";

    pub const GOSSIP_TOPICS_TOTAL: &str = "icn_gossip_topics_total";
    pub const GOSSIP_ENTRIES_TOTAL: &str = "icn_gossip_entries_total";
    pub const GOSSIP_ENTRIES_PUBLISHED_TOTAL: &str = "icn_gossip_entries_published_total";
    pub const GOSSIP_ENTRIES_RECEIVED_TOTAL: &str = "icn_gossip_entries_received_total";
    pub const GOSSIP_ANNOUNCES_SENT_TOTAL: &str = "icn_gossip_announces_sent_total";
    pub const GOSSIP_ANNOUNCES_RECEIVED_TOTAL: &str = "icn_gossip_announces_received_total";
    pub const GOSSIP_REQUESTS_SENT_TOTAL: &str = "icn_gossip_requests_sent_total";
    pub const GOSSIP_REQUESTS_RECEIVED_TOTAL: &str = "icn_gossip_requests_received_total";
    pub const GOSSIP_RESPONSES_SENT_TOTAL: &str = "icn_gossip_responses_sent_total";
    pub const GOSSIP_RESPONSES_RECEIVED_TOTAL: &str = "icn_gossip_responses_received_total";
    pub const GOSSIP_PUSHES_SENT_TOTAL: &str = "icn_gossip_pushes_sent_total";
    pub const GOSSIP_PUSHES_RECEIVED_TOTAL: &str = "icn_gossip_pushes_received_total";

    pub const GOSSIP_ENTRIES_REJECTED_TOTAL: &str = "icn_gossip_entries_rejected_total";
    pub const GOSSIP_PROPAGATION_DELAY_SECONDS: &str = "icn_gossip_propagation_delay_seconds";
    pub const GOSSIP_ANTI_ENTROPY_ROUNDS_TOTAL: &str = "icn_gossip_anti_entropy_rounds_total";
    pub const GOSSIP_ANTI_ENTROPY_RECOVERED_TOTAL: &str = "icn_gossip_anti_entropy_recovered_total";
    pub const GOSSIP_ANTI_ENTROPY_BYTES_TOTAL: &str = "icn_gossip_anti_entropy_bytes_total";
    pub const GOSSIP_SUBSCRIBER_LAGGED_TOTAL: &str = "icn_gossip_subscriber_lagged_total";
    pub const GOSSIP_DROPPED_TOTAL: &str = "icn_gossip_dropped_total";

    pub const LEDGER_TRANSACTIONS_REJECTED_TOTAL: &str = "icn_ledger_transactions_rejected_total";
    pub const LEDGER_EQUIVOCATIONS_TOTAL: &str = "icn_ledger_equivocations_total";
    pub const LEDGER_REPLAYS_TOTAL: &str = "icn_ledger_replays_total";
    pub const LEDGER_APPLY_DURATION_SECONDS: &str = "icn_ledger_apply_duration_seconds";
    pub const LEDGER_PENDING_OPS: &str = "icn_ledger_pending_ops";

    pub const LEDGER_STATE_DIGEST_PREFIX: &str = "icn_ledger_state_digest_prefix";

    pub const PROCESS_CPU_SECONDS_TOTAL: &str = "process_cpu_seconds_total";
    pub const PROCESS_RESIDENT_MEMORY_BYTES: &str = "process_resident_memory_bytes";
    pub const PROCESS_VIRTUAL_MEMORY_BYTES: &str = "process_virtual_memory_bytes";
    pub const PROCESS_VIRTUAL_MEMORY_MAX_BYTES: &str = "process_virtual_memory_max_bytes";
    pub const PROCESS_OPEN_FDS: &str = "process_open_fds";
    pub const PROCESS_MAX_FDS: &str = "process_max_fds";
    pub const PROCESS_THREADS: &str = "process_threads";
    pub const PROCESS_START_TIME_SECONDS: &str = "process_start_time_seconds";

    pub const LEDGER_TRANSACTIONS_TOTAL: &str = "icn_ledger_transactions_total";
    pub const LEDGER_ACCOUNTS_TOTAL: &str = "icn_ledger_accounts_total";
    pub const LEDGER_CURRENCIES_TOTAL: &str = "icn_ledger_currencies_total";
    pub const LEDGER_TRANSACTION_AMOUNT: &str = "icn_ledger_transaction_amount";

    pub const NETWORK_FRAMES_REJECTED_TOTAL: &str = "icn_network_frames_rejected_total";
    pub const NETWORK_DIAL_FAILURES_TOTAL: &str = "icn_network_dial_failures_total";
    pub const NETWORK_CONNECTION_DURATION_SECONDS: &str = "icn_network_connection_duration_seconds";
    pub const NETWORK_MESSAGE_SIZE_BYTES: &str = "icn_network_message_size_bytes";

    pub const NETWORK_RTT_SECONDS: &str = "icn_network_rtt_seconds";
    pub const NETWORK_LOST_PACKETS_TOTAL: &str = "icn_network_lost_packets_total";
    pub const NETWORK_CONGESTION_EVENTS_TOTAL: &str = "icn_network_congestion_events_total";
    pub const NETWORK_INBOUND_THROTTLED_TOTAL: &str = "icn_network_inbound_throttled_total";
    pub const SYSTEM_MAILBOX_DEPTH: &str = "icn_system_mailbox_depth";
    pub const SYSTEM_MAILBOX_FULL_TOTAL: &str = "icn_system_mailbox_full_total";
    pub const SYSTEM_STORAGE_ERRORS_TOTAL: &str = "icn_system_storage_errors_total";
    pub const LOG_MESSAGES_TOTAL: &str = "icn_log_messages_total";

    pub const RPC_REQUESTS_TOTAL: &str = "icn_rpc_requests_total";
    pub const RPC_REQUEST_DURATION_SECONDS: &str = "icn_rpc_request_duration_seconds";
    pub const RPC_ACTIVE_REQUESTS: &str = "icn_rpc_active_requests";

    pub const SYSTEM_UPTIME_SECONDS: &str = "icn_system_uptime_seconds";
    pub const SYSTEM_ACTORS_ACTIVE: &str = "icn_system_actors_active";
    pub const SYSTEM_ACTOR_RESTARTS_TOTAL: &str = "icn_system_actor_restarts_total";
    pub const BUILD_INFO: &str = "icn_build_info";
    pub const OBS_SCRAPE_DURATION_SECONDS: &str = "icn_obs_scrape_duration_seconds";
}

/// Gauges of the original design whose names end in `_total`; kept for compatibility.
pub const LEGACY_TOTAL_GAUGES: &[&str] = &[
    names::GOSSIP_TOPICS_TOTAL,
    names::GOSSIP_ENTRIES_TOTAL,
    names::LEDGER_ACCOUNTS_TOTAL,
    names::LEDGER_CURRENCIES_TOTAL,
];

/// Buckets for transfer amounts (integer currency units, roughly 1-2.5-5 per decade).
pub const AMOUNT_BUCKETS: &[f64] = &[
    1.0,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
    1_000.0,
    2_500.0,
    5_000.0,
    10_000.0,
    50_000.0,
    100_000.0,
    1_000_000.0,
];

/// Buckets for connection lifetimes: one second to one day.
pub const CONNECTION_DURATION_BUCKETS: &[f64] = &[
    1.0, 10.0, 60.0, 300.0, 900.0, 1_800.0, 3_600.0, 21_600.0, 86_400.0,
];

/// Buckets for frame sizes: 64 B to the 4 MiB frame limit.
pub const MESSAGE_SIZE_BUCKETS: &[f64] = &[
    64.0,
    256.0,
    1_024.0,
    4_096.0,
    16_384.0,
    65_536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
];

/// Buckets for propagation delays: 1 ms to 1 minute.
pub const PROPAGATION_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Buckets for round-trip times: 100 µs to 2 s.
pub const RTT_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0,
];

/// Buckets for the node's own render of `/metrics`: 500 µs to 1 s.
pub const SCRAPE_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Buckets for local request latencies: 100 µs to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Looks up a metric definition by name.
pub fn find(name: &str) -> Option<&'static MetricDef> {
    CATALOGUE.iter().find(|def| def.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The names of the original design, which must never change.
    const ORIGINAL: &[&str] = &[
        "icn_network_connections_total",
        "icn_network_messages_sent_total",
        "icn_network_messages_received_total",
        "icn_network_bytes_sent_total",
        "icn_network_bytes_received_total",
        "icn_gossip_entries_published_total",
        "icn_gossip_entries_received_total",
        "icn_gossip_announces_sent_total",
        "icn_gossip_announces_received_total",
        "icn_gossip_requests_sent_total",
        "icn_gossip_requests_received_total",
        "icn_gossip_responses_sent_total",
        "icn_gossip_responses_received_total",
        "icn_ledger_transactions_total",
        "icn_network_connections_active",
        "icn_network_peers_discovered",
        "icn_gossip_topics_total",
        "icn_gossip_entries_total",
        "icn_ledger_accounts_total",
        "icn_ledger_currencies_total",
        "icn_system_uptime_seconds",
        "icn_system_actors_active",
        "icn_ledger_transaction_amount",
    ];

    #[test]
    fn original_names_are_all_present() {
        for name in ORIGINAL {
            assert!(find(name).is_some(), "{name} missing from the catalogue");
        }
    }

    #[test]
    fn names_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for def in CATALOGUE {
            assert!(seen.insert(def.name), "{} declared twice", def.name);
            assert!(
                def.name.starts_with("icn_") || def.name.starts_with("process_"),
                "{}",
                def.name
            );
            assert!(
                def.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{} is not snake_case",
                def.name
            );
            assert!(!def.help.is_empty(), "{} has no help", def.name);
        }
    }

    #[test]
    fn kinds_follow_naming_rules() {
        for def in CATALOGUE {
            match def.kind {
                MetricKind::Counter => assert!(def.name.ends_with("_total"), "{}", def.name),
                MetricKind::Gauge => assert!(
                    !def.name.ends_with("_total") || LEGACY_TOTAL_GAUGES.contains(&def.name),
                    "gauge {} ends in _total",
                    def.name
                ),
                MetricKind::Histogram => {
                    assert!(!def.buckets.is_empty(), "{} has no buckets", def.name);
                    assert!(
                        def.buckets.windows(2).all(|w| w[0] < w[1]),
                        "{} buckets not increasing",
                        def.name
                    );
                }
            }
            if def.kind != MetricKind::Histogram {
                assert!(def.buckets.is_empty(), "{} has buckets", def.name);
            }
            if def.unit == Some(Unit::Seconds) && def.kind != MetricKind::Counter {
                assert!(def.name.ends_with("_seconds"), "{}", def.name);
            }
            if def.unit == Some(Unit::Seconds) && def.kind == MetricKind::Counter {
                assert!(def.name.ends_with("_seconds_total"), "{}", def.name);
            }
        }
    }
}
