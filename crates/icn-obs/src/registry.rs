//! The per-node registry and the typed handle structs handed to components.
//!
//! A node never installs the `metrics` crate's global recorder: each [`NodeMetrics`] owns its own
//! [`NodeRecorder`], so two nodes in one process render two independent pages. Order matters
//! and is fixed here: build the recorder (with buckets for every histogram), describe every metric,
//! then register every series at zero. [`NodeMetrics::noop`] hands out handles that do nothing
//! (the baseline of the instrumentation-overhead benchmark).

use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder};

use crate::ObsError;
use crate::catalogue::{CATALOGUE, LabelDef, MetricDef, MetricKind, names};
use crate::labels::{
    Actor, CounterVec, CounterVec2, DialFailureReason, FrameRejectReason, GaugeVec,
    GossipDropReason, GossipRejectReason, HistogramVec, LabelValue, LedgerRejectReason, LogLevel,
    RpcMethod, RpcStatus, StorageErrorReason, Store,
};
use crate::recorder::NodeRecorder;

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// Version label of `icn_build_info`.
pub const BUILD_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Git commit label of `icn_build_info` (`unknown` outside a git checkout).
pub const BUILD_GIT_SHA: &str = env!("ICN_GIT_SHA");

/// Network counters and gauges (`icn_network_*`).
#[derive(Clone, Debug)]
pub struct NetworkMetrics {
    /// Connections established since start.
    pub connections_total: Counter,
    /// Connections currently open.
    pub connections_active: Gauge,
    /// Peers with a known address.
    pub peers_discovered: Gauge,
    /// Frames written.
    pub messages_sent: Counter,
    /// Frames read and decoded.
    pub messages_received: Counter,
    /// Frame bytes written.
    pub bytes_sent: Counter,
    /// Frame bytes read.
    pub bytes_received: Counter,
    /// Rejected incoming frames, by reason.
    pub frames_rejected: CounterVec<FrameRejectReason>,
    /// Failed dials and handshakes, by reason.
    pub dial_failures: CounterVec<DialFailureReason>,
    /// Lifetime of closed connections.
    pub connection_duration: Histogram,
    /// Sizes of frames written and read.
    pub message_size: Histogram,
    /// Round-trip time samples.
    pub rtt: Histogram,
    /// Lost packets over all connections.
    pub lost_packets: Counter,
    /// Congestion events over all connections.
    pub congestion_events: Counter,
    /// Sends that met a full per-peer queue (counted under the network actor).
    pub queue_full: Counter,
    /// Inbound gossip that met a full network → gossip channel (counted under gossip).
    pub gossip_inbox_full: Counter,
    /// Frames that waited for their peer's inbound byte budget.
    pub inbound_throttled: Counter,
}

/// Control API RED metrics (`icn_rpc_*`).
#[derive(Clone, Debug)]
pub struct RpcMetrics {
    /// Requests by method and outcome.
    pub requests: CounterVec2<RpcMethod, RpcStatus>,
    /// Latency by method.
    pub duration: HistogramVec<RpcMethod>,
    /// Requests in progress.
    pub active: Gauge,
}

/// Gossip counters and gauges (`icn_gossip_*`).
#[derive(Clone, Debug)]
pub struct GossipMetrics {
    /// Topics replicated.
    pub topics: Gauge,
    /// Entries stored.
    pub entries: Gauge,
    /// Entries published locally.
    pub entries_published: Counter,
    /// Valid entries received and stored for the first time.
    pub entries_received: Counter,
    /// Announce messages sent.
    pub announces_sent: Counter,
    /// Announce messages received.
    pub announces_received: Counter,
    /// Request messages sent.
    pub requests_sent: Counter,
    /// Request messages received.
    pub requests_received: Counter,
    /// Response messages sent.
    pub responses_sent: Counter,
    /// Push messages sent.
    pub pushes_sent: Counter,
    /// Push messages received.
    pub pushes_received: Counter,
    /// Response messages received.
    pub responses_received: Counter,
    /// Rejected entries or messages, by reason.
    pub entries_rejected: CounterVec<GossipRejectReason>,
    /// Receive time minus entry timestamp.
    pub propagation_delay: Histogram,
    /// Anti-entropy rounds started.
    pub anti_entropy_rounds: Counter,
    /// Entries recovered by anti-entropy.
    pub anti_entropy_recovered: Counter,
    /// Anti-entropy bytes.
    pub anti_entropy_bytes: Counter,
    /// Entries dropped for slow subscribers.
    pub subscriber_lagged: Counter,
    /// Work the gossip core dropped, by reason.
    pub dropped: CounterVec<GossipDropReason>,
}

/// Ledger counters, gauges and histograms (`icn_ledger_*`).
#[derive(Clone, Debug)]
pub struct LedgerMetrics {
    /// Transfers applied.
    pub transactions: Counter,
    /// Accounts with activity.
    pub accounts: Gauge,
    /// Currencies created.
    pub currencies: Gauge,
    /// Amounts of applied transfers.
    pub transaction_amount: Histogram,
    /// Rejected ops, by reason.
    pub rejected: CounterVec<LedgerRejectReason>,
    /// Equivocations detected.
    pub equivocations: Counter,
    /// Out-of-order replays.
    pub replays: Counter,
    /// Batch apply latency.
    pub apply_duration: Histogram,
    /// Pending ops.
    pub pending_ops: Gauge,
    /// First 48 bits of the state digest.
    pub state_digest_prefix: Gauge,
}

/// Process-level node metrics (`icn_system_*`).
#[derive(Clone, Debug)]
pub struct SystemMetrics {
    /// Seconds since start.
    pub uptime_seconds: Gauge,
    /// Actor tasks running.
    pub actors_active: Gauge,
    /// Unexpected actor exits, by actor.
    pub actor_restarts: CounterVec<Actor>,
    /// Inbound channel depth, by actor.
    pub mailbox_depth: GaugeVec<Actor>,
    /// Full-channel events, by actor.
    pub mailbox_full: CounterVec<Actor>,
    /// Log events by level (process-wide counts copied in by the refresh).
    pub log_messages: CounterVec<LogLevel>,
    /// Failed store operations, by store and reason (counted by the stores themselves).
    pub storage_errors: CounterVec2<Store, StorageErrorReason>,
}

/// The exporter's own metrics (`icn_obs_*`).
#[derive(Clone, Debug)]
pub struct ObsMetrics {
    /// Time of each scrape's gauge refresh and render, so a slow page shows before Prometheus
    /// starts timing out.
    pub scrape_duration: Histogram,
}

/// One node's metrics: its own recorder (which renders the page) and every component's handles.
///
/// Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct NodeMetrics {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` for a no-op registry.
    recorder: Option<NodeRecorder>,
    process: metrics_process::Collector,
    network: NetworkMetrics,
    gossip: GossipMetrics,
    ledger: LedgerMetrics,
    rpc: RpcMetrics,
    system: SystemMetrics,
    obs: ObsMetrics,
}

impl std::fmt::Debug for NodeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeMetrics").finish_non_exhaustive()
    }
}

impl NodeMetrics {
    /// Builds a fresh registry: buckets configured, every metric described and registered at zero.
    ///
    /// # Errors
    /// [`ObsError::Build`] if the catalogue's bucket lists are rejected by the recorder.
    pub fn new() -> Result<Self, ObsError> {
        let histograms = CATALOGUE.iter().filter(|d| d.kind == MetricKind::Histogram);
        let recorder = NodeRecorder::new(histograms.map(|d| (d.name, d.buckets)))?;
        register_catalogue(&recorder);
        let metrics = Self::with_handles(&recorder, Some(recorder.clone()));
        // Builds the page layout now, so the first scrape is as cheap as the next ones.
        recorder.run_upkeep();
        Ok(metrics)
    }

    /// A registry whose every handle is a no-op (`Counter::noop()`, ...): nothing is stored,
    /// [`NodeMetrics::render`] returns an empty page and the process collector does not run.
    /// The baseline against which instrumentation overhead is measured.
    pub fn noop() -> Self {
        Self::with_handles(&metrics::NoopRecorder, None)
    }

    /// Whether this is a [`NodeMetrics::noop`] registry.
    pub fn is_noop(&self) -> bool {
        self.inner.recorder.is_none()
    }

    /// Registers every component's handles on `r` (the node's recorder, or the no-op recorder).
    fn with_handles(r: &dyn Recorder, recorder: Option<NodeRecorder>) -> Self {
        let network = NetworkMetrics {
            connections_total: counter(r, names::NETWORK_CONNECTIONS_TOTAL),
            connections_active: gauge(r, names::NETWORK_CONNECTIONS_ACTIVE),
            peers_discovered: gauge(r, names::NETWORK_PEERS_DISCOVERED),
            messages_sent: counter(r, names::NETWORK_MESSAGES_SENT_TOTAL),
            messages_received: counter(r, names::NETWORK_MESSAGES_RECEIVED_TOTAL),
            bytes_sent: counter(r, names::NETWORK_BYTES_SENT_TOTAL),
            bytes_received: counter(r, names::NETWORK_BYTES_RECEIVED_TOTAL),
            frames_rejected: counter_vec(r, names::NETWORK_FRAMES_REJECTED_TOTAL),
            dial_failures: counter_vec(r, names::NETWORK_DIAL_FAILURES_TOTAL),
            connection_duration: histogram(r, names::NETWORK_CONNECTION_DURATION_SECONDS),
            message_size: histogram(r, names::NETWORK_MESSAGE_SIZE_BYTES),
            rtt: histogram(r, names::NETWORK_RTT_SECONDS),
            lost_packets: counter(r, names::NETWORK_LOST_PACKETS_TOTAL),
            congestion_events: counter(r, names::NETWORK_CONGESTION_EVENTS_TOTAL),
            queue_full: counter_with(r, names::SYSTEM_MAILBOX_FULL_TOTAL, Actor::Network),
            gossip_inbox_full: counter_with(r, names::SYSTEM_MAILBOX_FULL_TOTAL, Actor::Gossip),
            inbound_throttled: counter(r, names::NETWORK_INBOUND_THROTTLED_TOTAL),
        };
        let rpc = RpcMetrics {
            requests: counter_vec2(r, names::RPC_REQUESTS_TOTAL),
            duration: histogram_vec(r, names::RPC_REQUEST_DURATION_SECONDS),
            active: gauge(r, names::RPC_ACTIVE_REQUESTS),
        };
        let gossip = GossipMetrics {
            topics: gauge(r, names::GOSSIP_TOPICS_TOTAL),
            entries: gauge(r, names::GOSSIP_ENTRIES_TOTAL),
            entries_published: counter(r, names::GOSSIP_ENTRIES_PUBLISHED_TOTAL),
            entries_received: counter(r, names::GOSSIP_ENTRIES_RECEIVED_TOTAL),
            announces_sent: counter(r, names::GOSSIP_ANNOUNCES_SENT_TOTAL),
            announces_received: counter(r, names::GOSSIP_ANNOUNCES_RECEIVED_TOTAL),
            requests_sent: counter(r, names::GOSSIP_REQUESTS_SENT_TOTAL),
            requests_received: counter(r, names::GOSSIP_REQUESTS_RECEIVED_TOTAL),
            responses_sent: counter(r, names::GOSSIP_RESPONSES_SENT_TOTAL),
            responses_received: counter(r, names::GOSSIP_RESPONSES_RECEIVED_TOTAL),
            pushes_sent: counter(r, names::GOSSIP_PUSHES_SENT_TOTAL),
            pushes_received: counter(r, names::GOSSIP_PUSHES_RECEIVED_TOTAL),
            entries_rejected: counter_vec(r, names::GOSSIP_ENTRIES_REJECTED_TOTAL),
            propagation_delay: histogram(r, names::GOSSIP_PROPAGATION_DELAY_SECONDS),
            anti_entropy_rounds: counter(r, names::GOSSIP_ANTI_ENTROPY_ROUNDS_TOTAL),
            anti_entropy_recovered: counter(r, names::GOSSIP_ANTI_ENTROPY_RECOVERED_TOTAL),
            anti_entropy_bytes: counter(r, names::GOSSIP_ANTI_ENTROPY_BYTES_TOTAL),
            subscriber_lagged: counter(r, names::GOSSIP_SUBSCRIBER_LAGGED_TOTAL),
            dropped: counter_vec(r, names::GOSSIP_DROPPED_TOTAL),
        };
        let ledger = LedgerMetrics {
            transactions: counter(r, names::LEDGER_TRANSACTIONS_TOTAL),
            accounts: gauge(r, names::LEDGER_ACCOUNTS_TOTAL),
            currencies: gauge(r, names::LEDGER_CURRENCIES_TOTAL),
            transaction_amount: histogram(r, names::LEDGER_TRANSACTION_AMOUNT),
            rejected: counter_vec(r, names::LEDGER_TRANSACTIONS_REJECTED_TOTAL),
            equivocations: counter(r, names::LEDGER_EQUIVOCATIONS_TOTAL),
            replays: counter(r, names::LEDGER_REPLAYS_TOTAL),
            apply_duration: histogram(r, names::LEDGER_APPLY_DURATION_SECONDS),
            pending_ops: gauge(r, names::LEDGER_PENDING_OPS),
            state_digest_prefix: gauge(r, names::LEDGER_STATE_DIGEST_PREFIX),
        };
        let system = SystemMetrics {
            uptime_seconds: gauge(r, names::SYSTEM_UPTIME_SECONDS),
            actors_active: gauge(r, names::SYSTEM_ACTORS_ACTIVE),
            actor_restarts: counter_vec(r, names::SYSTEM_ACTOR_RESTARTS_TOTAL),
            mailbox_depth: gauge_vec(r, names::SYSTEM_MAILBOX_DEPTH),
            mailbox_full: counter_vec(r, names::SYSTEM_MAILBOX_FULL_TOTAL),
            log_messages: counter_vec(r, names::LOG_MESSAGES_TOTAL),
            storage_errors: counter_vec2(r, names::SYSTEM_STORAGE_ERRORS_TOTAL),
        };

        let obs = ObsMetrics {
            scrape_duration: histogram(r, names::OBS_SCRAPE_DURATION_SECONDS),
        };

        Self {
            inner: Arc::new(Inner {
                recorder,
                process: metrics_process::Collector::default(),
                network,
                gossip,
                ledger,
                rpc,
                system,
                obs,
            }),
        }
    }

    /// Network handles.
    pub fn network(&self) -> &NetworkMetrics {
        &self.inner.network
    }

    /// Gossip handles.
    pub fn gossip(&self) -> &GossipMetrics {
        &self.inner.gossip
    }

    /// Ledger handles.
    pub fn ledger(&self) -> &LedgerMetrics {
        &self.inner.ledger
    }

    /// Control API handles.
    pub fn rpc(&self) -> &RpcMetrics {
        &self.inner.rpc
    }

    /// System handles.
    pub fn system(&self) -> &SystemMetrics {
        &self.inner.system
    }

    /// The exporter's own handles.
    pub fn obs(&self) -> &ObsMetrics {
        &self.inner.obs
    }

    /// Renders the Prometheus text exposition (format 0.0.4) of this node only (empty for a
    /// no-op registry).
    ///
    /// Rendering drains pending histogram samples. It takes about a millisecond for 10 000
    /// series, so async callers still run it on a blocking thread.
    pub fn render(&self) -> String {
        self.inner
            .recorder
            .as_ref()
            .map_or_else(String::new, NodeRecorder::render)
    }

    /// Renders without asking the node to refresh its gauges first (what a scrape would do).
    /// Same text as [`NodeMetrics::render`]; the name makes the intent explicit at call sites
    /// that observe the refresh task itself.
    pub fn render_without_refresh(&self) -> String {
        self.render()
    }

    /// Folds pending histogram samples into their buckets.
    ///
    /// The recorder has no upkeep task of its own; without calling this (or rendering)
    /// periodically, samples recorded between scrapes accumulate without bound.
    pub fn run_upkeep(&self) {
        if let Some(recorder) = &self.inner.recorder {
            recorder.run_upkeep();
        }
    }

    /// Reads the process's CPU, memory, file descriptors and threads into this node's
    /// `process_*` series (cheap: a few reads of the OS's process accounting). Does nothing for
    /// a no-op registry.
    pub fn collect_process(&self) {
        let inner = &self.inner;
        if let Some(recorder) = &inner.recorder {
            metrics::with_local_recorder(recorder, || inner.process.collect());
        }
    }

    /// Runs `f` with this node's recorder installed as the thread-local recorder, so code that only
    /// speaks the `metrics` macros records into this node.
    pub fn with_local_recorder<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.inner.recorder {
            Some(recorder) => metrics::with_local_recorder(recorder, f),
            None => metrics::with_local_recorder(&metrics::NoopRecorder, f),
        }
    }
}

/// Describes every catalogue metric on `recorder`, registers at zero every series whose label
/// values are all known up front, and sets `icn_build_info` to 1.
///
/// [`NodeMetrics::new`] does this on its own recorder; it is public so that another recorder (a
/// test's reference exporter, say) can show the same first page.
pub fn register_catalogue(recorder: &dyn Recorder) {
    for def in CATALOGUE {
        describe(recorder, def);
        zero_register(recorder, def);
    }
    gauge_labelled(
        recorder,
        names::BUILD_INFO,
        &[("version", BUILD_VERSION), ("git_sha", BUILD_GIT_SHA)],
    )
    .set(1.0);
}

fn describe(recorder: &dyn Recorder, def: &MetricDef) {
    let name = KeyName::from_const_str(def.name);
    let help = def.help.into();
    match def.kind {
        MetricKind::Counter => recorder.describe_counter(name, def.unit, help),
        MetricKind::Gauge => recorder.describe_gauge(name, def.unit, help),
        MetricKind::Histogram => recorder.describe_histogram(name, def.unit, help),
    }
}

/// Registers every series of `def` whose label values are all known up front.
fn zero_register(recorder: &dyn Recorder, def: &MetricDef) {
    if def.labels.iter().any(|l| l.values.is_empty()) {
        return;
    }
    for labels in label_combinations(def.labels) {
        let key = Key::from_parts(def.name, labels);
        match def.kind {
            MetricKind::Counter => {
                recorder.register_counter(&key, &METADATA).increment(0);
            }
            MetricKind::Gauge => recorder.register_gauge(&key, &METADATA).set(0.0),
            MetricKind::Histogram => {
                // Registration alone creates the (empty) series; no sample is recorded.
                let _empty = recorder.register_histogram(&key, &METADATA);
            }
        }
    }
}

/// The cartesian product of the label value sets (one empty combination for no labels).
fn label_combinations(labels: &[LabelDef]) -> Vec<Vec<Label>> {
    let mut out: Vec<Vec<Label>> = vec![Vec::new()];
    for label in labels {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                label.values.iter().map(move |value| {
                    let mut next = prefix.clone();
                    next.push(Label::from_static_parts(label.name, value));
                    next
                })
            })
            .collect();
    }
    out
}

pub(crate) fn counter(recorder: &dyn Recorder, name: &'static str) -> Counter {
    recorder.register_counter(&Key::from_static_name(name), &METADATA)
}

pub(crate) fn gauge(recorder: &dyn Recorder, name: &'static str) -> Gauge {
    recorder.register_gauge(&Key::from_static_name(name), &METADATA)
}

pub(crate) fn histogram(recorder: &dyn Recorder, name: &'static str) -> Histogram {
    recorder.register_histogram(&Key::from_static_name(name), &METADATA)
}

fn gauge_labelled(
    recorder: &dyn Recorder,
    name: &'static str,
    labels: &[(&'static str, &'static str)],
) -> Gauge {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(k, v)| Label::from_static_parts(k, v))
        .collect();
    recorder.register_gauge(&Key::from_parts(name, labels), &METADATA)
}

pub(crate) fn counter_vec<L: LabelValue>(
    recorder: &dyn Recorder,
    name: &'static str,
) -> CounterVec<L> {
    let counters = L::ALL
        .iter()
        .map(|value| {
            let key = Key::from_parts(
                name,
                vec![Label::from_static_parts(L::LABEL, value.as_str())],
            );
            recorder.register_counter(&key, &METADATA)
        })
        .collect();
    CounterVec::new(counters)
}

pub(crate) fn counter_vec2<A: LabelValue, B: LabelValue>(
    recorder: &dyn Recorder,
    name: &'static str,
) -> CounterVec2<A, B> {
    let mut counters = Vec::with_capacity(A::ALL.len() * B::ALL.len());
    for a in A::ALL {
        for b in B::ALL {
            let labels = vec![
                Label::from_static_parts(A::LABEL, a.as_str()),
                Label::from_static_parts(B::LABEL, b.as_str()),
            ];
            counters.push(recorder.register_counter(&Key::from_parts(name, labels), &METADATA));
        }
    }
    CounterVec2::new(counters)
}

pub(crate) fn histogram_vec<L: LabelValue>(
    recorder: &dyn Recorder,
    name: &'static str,
) -> HistogramVec<L> {
    let histograms = L::ALL
        .iter()
        .map(|value| {
            let key = Key::from_parts(
                name,
                vec![Label::from_static_parts(L::LABEL, value.as_str())],
            );
            recorder.register_histogram(&key, &METADATA)
        })
        .collect();
    HistogramVec::new(histograms)
}

fn counter_with<L: LabelValue>(recorder: &dyn Recorder, name: &'static str, value: L) -> Counter {
    let key = Key::from_parts(
        name,
        vec![Label::from_static_parts(L::LABEL, value.as_str())],
    );
    recorder.register_counter(&key, &METADATA)
}

pub(crate) fn gauge_vec<L: LabelValue>(recorder: &dyn Recorder, name: &'static str) -> GaugeVec<L> {
    let gauges = L::ALL
        .iter()
        .map(|value| {
            let key = Key::from_parts(
                name,
                vec![Label::from_static_parts(L::LABEL, value.as_str())],
            );
            recorder.register_gauge(&key, &METADATA)
        })
        .collect();
    GaugeVec::new(gauges)
}
