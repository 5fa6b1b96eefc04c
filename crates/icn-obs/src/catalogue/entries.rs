//! The entries of [`CATALOGUE`]: one definition per metric, grouped by subsystem.

use metrics::Unit;

use super::{
    AMOUNT_BUCKETS, CONNECTION_DURATION_BUCKETS, LATENCY_BUCKETS, LabelDef, MESSAGE_SIZE_BUCKETS,
    MetricDef, MetricKind, PROPAGATION_BUCKETS, RTT_BUCKETS, SCRAPE_BUCKETS, names,
};
use crate::labels::{
    Actor, DialFailureReason, FrameRejectReason, GossipDropReason, GossipRejectReason,
    LedgerRejectReason, LogLevel, RpcMethod, RpcStatus, StorageErrorReason, Store,
};

const NO_LABELS: &[LabelDef] = &[];
const NO_BUCKETS: &[f64] = &[];

/// An unlabelled counter or gauge.
const fn scalar(
    kind: MetricKind,
    name: &'static str,
    unit: Option<Unit>,
    help: &'static str,
    updated_by: &'static str,
) -> MetricDef {
    MetricDef {
        name,
        kind,
        unit,
        help,
        labels: NO_LABELS,
        buckets: NO_BUCKETS,
        updated_by,
    }
}

const fn counter(
    name: &'static str,
    unit: Option<Unit>,
    help: &'static str,
    updated_by: &'static str,
) -> MetricDef {
    scalar(MetricKind::Counter, name, unit, help, updated_by)
}

const fn gauge(
    name: &'static str,
    unit: Option<Unit>,
    help: &'static str,
    updated_by: &'static str,
) -> MetricDef {
    scalar(MetricKind::Gauge, name, unit, help, updated_by)
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
    counter(
        names::GOSSIP_PUSHES_SENT_TOTAL,
        COUNT,
        "Push messages sent: this node's own new entries, and small entries it relays, sent unasked to the peers that follow their topic.",
        "gossip",
    ),
    counter(
        names::GOSSIP_PUSHES_RECEIVED_TOTAL,
        COUNT,
        "Push messages received: new entries sent unasked by their author, or small ones by a relay.",
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
