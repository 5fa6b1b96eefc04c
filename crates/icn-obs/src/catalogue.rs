//! The metric catalogue: the one place where metric names, HELP texts, units, label values and
//! histogram buckets are written down.
//!
//! The names of the original design (`icn_network_*`, `icn_gossip_*`, `icn_ledger_*`,
//! `icn_system_*`) are a public interface: they are never renamed. Four gauges of that design end in
//! `_total` ([`LEGACY_TOTAL_GAUGES`]); they are kept for compatibility and are the only accepted
//! `promtool check metrics` findings.

use metrics::Unit;

use crate::labels::{
    Actor, DialFailureReason, FrameRejectReason, GossipDropReason, GossipRejectReason,
    LedgerRejectReason, LogLevel, RpcMethod, RpcStatus, StorageErrorReason, Store,
};

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

const NO_LABELS: &[LabelDef] = &[];
const NO_BUCKETS: &[f64] = &[];

const fn counter(
    name: &'static str,
    unit: Option<Unit>,
    help: &'static str,
    updated_by: &'static str,
) -> MetricDef {
    MetricDef {
        name,
        kind: MetricKind::Counter,
        unit,
        help,
        labels: NO_LABELS,
        buckets: NO_BUCKETS,
        updated_by,
    }
}

const fn gauge(
    name: &'static str,
    unit: Option<Unit>,
    help: &'static str,
    updated_by: &'static str,
) -> MetricDef {
    MetricDef {
        name,
        kind: MetricKind::Gauge,
        unit,
        help,
        labels: NO_LABELS,
        buckets: NO_BUCKETS,
        updated_by,
    }
}

const fn labelled(def: MetricDef, labels: &'static [LabelDef]) -> MetricDef {
    MetricDef { labels, ..def }
}

const fn histogram(
    name: &'static str,
    unit: Option<Unit>,
    help: &'static str,
    buckets: &'static [f64],
    updated_by: &'static str,
) -> MetricDef {
    MetricDef {
        name,
        kind: MetricKind::Histogram,
        unit,
        help,
        labels: NO_LABELS,
        buckets,
        updated_by,
    }
}

const COUNT: Option<Unit> = Some(Unit::Count);
const BYTES: Option<Unit> = Some(Unit::Bytes);
const SECONDS: Option<Unit> = Some(Unit::Seconds);

/// Every metric a node exposes.
pub const CATALOGUE: &[MetricDef] = &[
    // Network.
    counter(
        names::NETWORK_CONNECTIONS_TOTAL,
        COUNT,
        "Peer connections established (handshake and Hello completed) since start.",
        "network",
    ),
    gauge(
        names::NETWORK_CONNECTIONS_ACTIVE,
        COUNT,
        "Peer connections currently open.",
        "network",
    ),
    gauge(
        names::NETWORK_PEERS_DISCOVERED,
        COUNT,
        "Distinct peers this node knows an address for (bootstrap, peer exchange, mDNS).",
        "network",
    ),
    counter(
        names::NETWORK_MESSAGES_SENT_TOTAL,
        COUNT,
        "Frames written to peers (a broadcast counts one per successful send).",
        "network",
    ),
    counter(
        names::NETWORK_MESSAGES_RECEIVED_TOTAL,
        COUNT,
        "Frames read from peers and decoded successfully.",
        "network",
    ),
    counter(
        names::NETWORK_BYTES_SENT_TOTAL,
        BYTES,
        "Frame bytes (length prefix included) written to peers.",
        "network",
    ),
    counter(
        names::NETWORK_BYTES_RECEIVED_TOTAL,
        BYTES,
        "Frame bytes (length prefix included) read from peers.",
        "network",
    ),
    labelled(
        counter(
            names::NETWORK_FRAMES_REJECTED_TOTAL,
            COUNT,
            "Incoming frames rejected (the stream is closed), by reason.",
            "network",
        ),
        &[LabelDef {
            name: "reason",
            values: FrameRejectReason::VALUES,
        }],
    ),
    labelled(
        counter(
            names::NETWORK_DIAL_FAILURES_TOTAL,
            COUNT,
            "Connection attempts (outgoing dials and incoming handshakes) that did not become a session, by reason.",
            "network",
        ),
        &[LabelDef {
            name: "reason",
            values: DialFailureReason::VALUES,
        }],
    ),
    histogram(
        names::NETWORK_CONNECTION_DURATION_SECONDS,
        SECONDS,
        "Lifetime of closed peer connections.",
        CONNECTION_DURATION_BUCKETS,
        "network",
    ),
    histogram(
        names::NETWORK_MESSAGE_SIZE_BYTES,
        BYTES,
        "Size of frames written and read (length prefix included).",
        MESSAGE_SIZE_BUCKETS,
        "network",
    ),
    histogram(
        names::NETWORK_RTT_SECONDS,
        SECONDS,
        "QUIC round-trip time estimates, one sample per connection per second.",
        RTT_BUCKETS,
        "network",
    ),
    counter(
        names::NETWORK_LOST_PACKETS_TOTAL,
        COUNT,
        "QUIC packets declared lost, summed over connections.",
        "network",
    ),
    counter(
        names::NETWORK_CONGESTION_EVENTS_TOTAL,
        COUNT,
        "QUIC congestion events, summed over connections.",
        "network",
    ),
    counter(
        names::NETWORK_INBOUND_THROTTLED_TOTAL,
        COUNT,
        "Frames whose reading waited because their peer's received but unprocessed bytes \
         were at network.inbound_buffer_bytes (QUIC flow control then slows the peer).",
        "network",
    ),
    // Gossip.
    gauge(
        names::GOSSIP_TOPICS_TOTAL,
        COUNT,
        "Topics this node replicates (legacy name: a gauge despite the _total suffix).",
        "gossip / refresh task",
    ),
    gauge(
        names::GOSSIP_ENTRIES_TOTAL,
        COUNT,
        "Gossip entries held in the local store (legacy name: a gauge despite the _total suffix).",
        "gossip / refresh task",
    ),
    counter(
        names::GOSSIP_ENTRIES_PUBLISHED_TOTAL,
        COUNT,
        "Entries published by this node.",
        "gossip",
    ),
    counter(
        names::GOSSIP_ENTRIES_RECEIVED_TOTAL,
        COUNT,
        "Valid entries received from peers and stored for the first time.",
        "gossip",
    ),
    counter(
        names::GOSSIP_ANNOUNCES_SENT_TOTAL,
        COUNT,
        "Announce messages sent.",
        "gossip",
    ),
    counter(
        names::GOSSIP_ANNOUNCES_RECEIVED_TOTAL,
        COUNT,
        "Announce messages received.",
        "gossip",
    ),
    counter(
        names::GOSSIP_REQUESTS_SENT_TOTAL,
        COUNT,
        "Request messages sent.",
        "gossip",
    ),
    counter(
        names::GOSSIP_REQUESTS_RECEIVED_TOTAL,
        COUNT,
        "Request messages received.",
        "gossip",
    ),
    counter(
        names::GOSSIP_RESPONSES_SENT_TOTAL,
        COUNT,
        "Response messages sent.",
        "gossip",
    ),
    counter(
        names::GOSSIP_RESPONSES_RECEIVED_TOTAL,
        COUNT,
        "Response messages received.",
        "gossip",
    ),
    labelled(
        counter(
            names::GOSSIP_ENTRIES_REJECTED_TOTAL,
            COUNT,
            "Gossip entries or messages rejected by validation, by reason.",
            "gossip",
        ),
        &[LabelDef {
            name: "reason",
            values: GossipRejectReason::VALUES,
        }],
    ),
    histogram(
        names::GOSSIP_PROPAGATION_DELAY_SECONDS,
        SECONDS,
        "Receive time minus the entry's timestamp, for entries received from peers.",
        PROPAGATION_BUCKETS,
        "gossip",
    ),
    counter(
        names::GOSSIP_ANTI_ENTROPY_ROUNDS_TOTAL,
        COUNT,
        "Anti-entropy reconciliations started with a peer.",
        "gossip",
    ),
    counter(
        names::GOSSIP_ANTI_ENTROPY_RECOVERED_TOTAL,
        COUNT,
        "Entries obtained because anti-entropy found them missing.",
        "gossip",
    ),
    counter(
        names::GOSSIP_ANTI_ENTROPY_BYTES_TOTAL,
        BYTES,
        "Encoded bytes of anti-entropy messages sent and received.",
        "gossip",
    ),
    counter(
        names::GOSSIP_SUBSCRIBER_LAGGED_TOTAL,
        COUNT,
        "Entries a slow local subscriber missed because its bounded buffer was full.",
        "gossip",
    ),
    labelled(
        counter(
            names::GOSSIP_DROPPED_TOTAL,
            COUNT,
            "Ids or messages the gossip core declined to handle to keep its memory and work \
             bounded, by reason (anti-entropy recovers what an honest peer lost).",
            "gossip",
        ),
        &[LabelDef {
            name: "reason",
            values: GossipDropReason::VALUES,
        }],
    ),
    // Ledger.
    counter(
        names::LEDGER_TRANSACTIONS_TOTAL,
        COUNT,
        "Ledger transfers applied to this node's state.",
        "ledger",
    ),
    gauge(
        names::LEDGER_ACCOUNTS_TOTAL,
        COUNT,
        "Accounts with ledger activity (legacy name: a gauge despite the _total suffix).",
        "ledger / refresh task",
    ),
    gauge(
        names::LEDGER_CURRENCIES_TOTAL,
        COUNT,
        "Currencies created (legacy name: a gauge despite the _total suffix).",
        "ledger / refresh task",
    ),
    histogram(
        names::LEDGER_TRANSACTION_AMOUNT,
        COUNT,
        "Amounts of applied transfers, in integer currency units.",
        AMOUNT_BUCKETS,
        "ledger",
    ),
    labelled(
        counter(
            names::LEDGER_TRANSACTIONS_REJECTED_TOTAL,
            COUNT,
            "Ledger ops rejected (by validation or by the fold), by reason.",
            "ledger",
        ),
        &[LabelDef {
            name: "reason",
            values: LedgerRejectReason::VALUES,
        }],
    ),
    counter(
        names::LEDGER_EQUIVOCATIONS_TOTAL,
        COUNT,
        "Equivocating transfers detected (same sender and seq); each group of k counts k-1.",
        "ledger",
    ),
    counter(
        names::LEDGER_REPLAYS_TOTAL,
        COUNT,
        "Re-folds caused by ops that arrived out of order.",
        "ledger",
    ),
    histogram(
        names::LEDGER_APPLY_DURATION_SECONDS,
        SECONDS,
        "Time to validate, fold and store one batch of ledger ops from peers (written at once, synced within a second).",
        LATENCY_BUCKETS,
        "ledger",
    ),
    gauge(
        names::LEDGER_PENDING_OPS,
        COUNT,
        "Held ops that are rejected for now but could apply if missing ops arrive (seq gaps, unknown currency).",
        "ledger",
    ),
    gauge(
        names::LEDGER_STATE_DIGEST_PREFIX,
        None,
        "First 48 bits of the ledger state digest as an integer; equal on nodes holding the same ops.",
        "ledger",
    ),
    // RPC.
    labelled(
        counter(
            names::RPC_REQUESTS_TOTAL,
            COUNT,
            "Control API requests, by method and outcome.",
            "rpc",
        ),
        &[
            LabelDef {
                name: "method",
                values: RpcMethod::VALUES,
            },
            LabelDef {
                name: "status",
                values: RpcStatus::VALUES,
            },
        ],
    ),
    labelled(
        histogram(
            names::RPC_REQUEST_DURATION_SECONDS,
            SECONDS,
            "Control API request latency, by method.",
            LATENCY_BUCKETS,
            "rpc",
        ),
        &[LabelDef {
            name: "method",
            values: RpcMethod::VALUES,
        }],
    ),
    gauge(
        names::RPC_ACTIVE_REQUESTS,
        COUNT,
        "Control API requests in progress.",
        "rpc",
    ),
    // System.
    gauge(
        names::SYSTEM_UPTIME_SECONDS,
        SECONDS,
        "Seconds since the node started.",
        "refresh task",
    ),
    gauge(
        names::SYSTEM_ACTORS_ACTIVE,
        COUNT,
        "Actor tasks currently running.",
        "refresh task",
    ),
    labelled(
        counter(
            names::SYSTEM_ACTOR_RESTARTS_TOTAL,
            COUNT,
            "Actor tasks that ended unexpectedly (panic or error) and were restarted.",
            "supervisor",
        ),
        &[LabelDef {
            name: "actor",
            values: Actor::VALUES,
        }],
    ),
    labelled(
        gauge(
            names::SYSTEM_MAILBOX_DEPTH,
            COUNT,
            "Messages waiting in an actor's inbound channel.",
            "refresh task",
        ),
        &[LabelDef {
            name: "actor",
            values: Actor::VALUES,
        }],
    ),
    labelled(
        counter(
            names::SYSTEM_MAILBOX_FULL_TOTAL,
            COUNT,
            "Times a message met a full bounded channel (dropped, or the sender had to wait).",
            "network / gossip",
        ),
        &[LabelDef {
            name: "actor",
            values: Actor::VALUES,
        }],
    ),
    labelled(
        counter(
            names::SYSTEM_STORAGE_ERRORS_TOTAL,
            COUNT,
            "Failed reads and writes of a durable store, by store and reason (a full disk shows as no_space); the caller got an error and nothing was acknowledged.",
            "gossip / ledger store",
        ),
        &[
            LabelDef {
                name: "store",
                values: Store::VALUES,
            },
            LabelDef {
                name: "reason",
                values: StorageErrorReason::VALUES,
            },
        ],
    ),
    labelled(
        counter(
            names::LOG_MESSAGES_TOTAL,
            COUNT,
            "Log events emitted by the process, by level (process-wide: every node of a process shows the same counts).",
            "logging layer",
        ),
        &[LabelDef {
            name: "level",
            values: LogLevel::VALUES,
        }],
    ),
    // The exporter itself.
    histogram(
        names::OBS_SCRAPE_DURATION_SECONDS,
        SECONDS,
        "Time this node spent on one scrape of its own metrics page (gauge refresh and render); a scrape's own time shows on the next page.",
        SCRAPE_BUCKETS,
        "metrics listener",
    ),
    // Process (the metrics-process collector, refreshed with the gauges).
    counter(
        names::PROCESS_CPU_SECONDS_TOTAL,
        SECONDS,
        "User and system CPU time of the process, in whole seconds.",
        "process collector",
    ),
    gauge(
        names::PROCESS_RESIDENT_MEMORY_BYTES,
        BYTES,
        "Resident memory of the process.",
        "process collector",
    ),
    gauge(
        names::PROCESS_VIRTUAL_MEMORY_BYTES,
        BYTES,
        "Virtual memory of the process.",
        "process collector",
    ),
    gauge(
        names::PROCESS_VIRTUAL_MEMORY_MAX_BYTES,
        BYTES,
        "Maximum virtual memory the process may use.",
        "process collector",
    ),
    gauge(
        names::PROCESS_OPEN_FDS,
        COUNT,
        "Open file descriptors.",
        "process collector",
    ),
    gauge(
        names::PROCESS_MAX_FDS,
        COUNT,
        "Limit on open file descriptors.",
        "process collector",
    ),
    gauge(
        names::PROCESS_THREADS,
        COUNT,
        "Threads of the process.",
        "process collector",
    ),
    gauge(
        names::PROCESS_START_TIME_SECONDS,
        SECONDS,
        "Start time of the process since the Unix epoch.",
        "process collector",
    ),
    labelled(
        gauge(
            names::BUILD_INFO,
            None,
            "Build information; always 1.",
            "start-up",
        ),
        &[
            LabelDef {
                name: "version",
                values: &[],
            },
            LabelDef {
                name: "git_sha",
                values: &[],
            },
        ],
    ),
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
