//! What `top` shows, computed from scrapes: no IO, no clock, no terminal.
//!
//! Contract: [`Snapshot::parse`] turns one `/metrics` page into the numbers `top` needs, stamped
//! with the time it was taken (time since the view started, passed in). [`Model::update`] takes
//! one scrape result per node, in the order of the instances the model was made with, once per
//! tick; times must not go backwards. Rates and the RPC p99 come from the difference between a
//! node's last two successful scrapes; [`Model::rows`] and [`Model::agreement`] read the result.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use prometheus_parse::{Scrape, Value};
use serde::Serialize;

/// Samples kept per sparkline (one per tick).
pub const HISTORY: usize = 60;

const PEERS: &str = "icn_network_connections_active";
const MESSAGES_RECEIVED: &str = "icn_network_messages_received_total";
const MESSAGES_SENT: &str = "icn_network_messages_sent_total";
const GOSSIP_ENTRIES: &str = "icn_gossip_entries_total";
const ENTRIES_RECEIVED: &str = "icn_gossip_entries_received_total";
const LEDGER_TRANSFERS: &str = "icn_ledger_transactions_total";
const DIGEST_PREFIX: &str = "icn_ledger_state_digest_prefix";
const RPC_DURATION: &str = "icn_rpc_request_duration_seconds";
const UPTIME: &str = "icn_system_uptime_seconds";
const RESIDENT_MEMORY: &str = "process_resident_memory_bytes";

/// The quantile shown as "RPC p99".
const RPC_QUANTILE: f64 = 0.99;

/// One scrape of one node, reduced to the numbers `top` shows. A series missing from the page
/// is `None` (an older node, or another program on that port).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// When the page was read, since the view started: the denominator of every rate.
    pub at: Duration,
    /// `icn_system_uptime_seconds`.
    pub uptime_seconds: Option<f64>,
    /// `icn_network_connections_active`.
    pub peers: Option<f64>,
    /// `icn_network_messages_received_total`.
    pub messages_received: Option<f64>,
    /// `icn_network_messages_sent_total`.
    pub messages_sent: Option<f64>,
    /// `icn_gossip_entries_total` (a gauge: entries held).
    pub gossip_entries: Option<f64>,
    /// `icn_gossip_entries_received_total`.
    pub entries_received: Option<f64>,
    /// `icn_ledger_transactions_total`.
    pub ledger_transfers: Option<f64>,
    /// `icn_ledger_state_digest_prefix` (48 bits, exact in an f64).
    pub digest_prefix: Option<u64>,
    /// `icn_rpc_request_duration_seconds` buckets summed over methods: `(upper bound,
    /// cumulative count)`, ascending, `+Inf` last; empty when the page has none.
    pub rpc_buckets: Vec<(f64, f64)>,
    /// `process_resident_memory_bytes`.
    pub resident_memory_bytes: Option<f64>,
}

impl Snapshot {
    /// Parses a text exposition taken at `at`.
    ///
    /// # Errors
    /// When `prometheus-parse` cannot read the text.
    pub fn parse(text: &str, at: Duration) -> std::io::Result<Self> {
        let scrape = Scrape::parse(text.lines().map(|line| Ok(line.to_owned())))?;
        Ok(Self::from_scrape(&scrape, at))
    }

    /// Reads the numbers out of a parsed page.
    pub fn from_scrape(scrape: &Scrape, at: Duration) -> Self {
        let value = |name: &str| {
            scrape
                .samples
                .iter()
                .filter(|s| s.metric == name)
                .find_map(|s| match s.value {
                    Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
                    Value::Histogram(_) | Value::Summary(_) => None,
                })
        };
        // Summed per upper bound; the key is the bound's bits (bounds are never NaN and the
        // same bound is written the same way by every method's series).
        let mut buckets: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
        for sample in scrape.samples.iter().filter(|s| s.metric == RPC_DURATION) {
            if let Value::Histogram(counts) = &sample.value {
                for bucket in counts {
                    let slot = buckets
                        .entry(bucket.less_than.to_bits())
                        .or_insert((bucket.less_than, 0.0));
                    slot.1 += bucket.count;
                }
            }
        }
        let mut rpc_buckets: Vec<(f64, f64)> = buckets.into_values().collect();
        rpc_buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Self {
            at,
            uptime_seconds: value(UPTIME),
            peers: value(PEERS),
            messages_received: value(MESSAGES_RECEIVED),
            messages_sent: value(MESSAGES_SENT),
            gossip_entries: value(GOSSIP_ENTRIES),
            entries_received: value(ENTRIES_RECEIVED),
            ledger_transfers: value(LEDGER_TRANSFERS),
            digest_prefix: value(DIGEST_PREFIX)
                .filter(|v| v.is_finite() && *v >= 0.0 && *v < 2f64.powi(53))
                .map(|v| v as u64),
            rpc_buckets,
            resident_memory_bytes: value(RESIDENT_MEMORY),
        }
    }
}

/// Per-second increase of a counter between two readings `seconds` apart. A counter that went
/// down was reset (the node restarted): its new value is the increase, as Prometheus does.
pub fn rate(before: Option<f64>, after: Option<f64>, seconds: f64) -> Option<f64> {
    let (before, after) = (before?, after?);
    if seconds <= 0.0 {
        return None;
    }
    let increase = if after >= before {
        after - before
    } else {
        after
    };
    Some(increase / seconds)
}

/// The `q` quantile of the observations made between two readings of a cumulative histogram
/// (`(upper bound, cumulative count)`, ascending, `+Inf` last), interpolated linearly inside
/// the bucket as Prometheus' `histogram_quantile` does. `None` without observations in between.
/// A histogram whose counts went down was reset: `after` alone is the increase.
pub fn quantile_between(q: f64, before: &[(f64, f64)], after: &[(f64, f64)]) -> Option<f64> {
    let delta = |bound: f64, count: f64| {
        let old = before
            .iter()
            .find(|(b, _)| b.to_bits() == bound.to_bits())
            .map_or(0.0, |(_, c)| *c);
        count - old
    };
    let mut increase: Vec<(f64, f64)> = after.iter().map(|&(b, c)| (b, delta(b, c))).collect();
    if increase.iter().any(|(_, c)| *c < 0.0) {
        increase = after.to_vec();
    }
    let &(last_bound, total) = increase.last()?;
    if total <= 0.0 || last_bound != f64::INFINITY {
        return None;
    }
    let rank = q * total;
    let i = increase.iter().position(|(_, c)| *c >= rank)?;
    let (upper, count) = increase[i];
    let (lower, below) = if i == 0 { (0.0, 0.0) } else { increase[i - 1] };
    if upper == f64::INFINITY {
        // Above the largest finite bound: that bound is the best answer there is.
        return (i > 0).then_some(lower);
    }
    if count <= below {
        return Some(upper);
    }
    Some(lower + (upper - lower) * (rank - below) / (count - below))
}

/// One node as `top` follows it.
#[derive(Debug, Clone)]
struct Node {
    instance: String,
    /// The scrape before `last` (both successful ones): rates are taken between the two.
    previous: Option<Snapshot>,
    last: Option<Snapshot>,
    /// Why the latest scrape failed; `None` when it succeeded (or none was tried yet).
    error: Option<String>,
    messages_per_second: VecDeque<Option<f64>>,
    entries_per_second: VecDeque<Option<f64>>,
}

/// The computed line of one node, as shown in a row (and printed by `--once --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// `host:port` of the metrics endpoint.
    pub instance: String,
    /// Whether the latest scrape succeeded.
    pub up: bool,
    /// Why the latest scrape failed.
    pub error: Option<String>,
    /// Seconds since the node started.
    pub uptime_seconds: Option<f64>,
    /// Open peer connections.
    pub peers: Option<u64>,
    /// Frames read from peers per second.
    pub messages_in_per_second: Option<f64>,
    /// Frames written to peers per second.
    pub messages_out_per_second: Option<f64>,
    /// Gossip entries held.
    pub gossip_entries: Option<u64>,
    /// New gossip entries received from peers per second.
    pub entries_in_per_second: Option<f64>,
    /// Ledger transfers applied per second.
    pub transfers_per_second: Option<f64>,
    /// The ledger digest prefix, 12 hex digits.
    pub digest_prefix: Option<String>,
    /// 99th percentile of RPC latency since the previous scrape, all methods together.
    pub rpc_p99_seconds: Option<f64>,
    /// Resident memory in MiB.
    pub resident_memory_mib: Option<f64>,
}

/// Whether the nodes that answered hold the same ledger (equal digest prefixes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agreement {
    /// No node that is up reports a digest.
    Unknown,
    /// Every node that is up reports the same digest.
    Agree,
    /// This many distinct digests among the nodes that are up.
    Disagree(usize),
}

/// What `--once --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// One entry per node, in the order given.
    pub nodes: Vec<Row>,
    /// Distinct ledger digests among the nodes that are up.
    pub digests_distinct: usize,
    /// True when every node that is up reports the same digest.
    pub digests_agree: bool,
}

/// Every node followed, with enough history for rates and sparklines.
#[derive(Debug, Clone)]
pub struct Model {
    nodes: Vec<Node>,
    /// Scrape interval, shown in the header.
    pub interval: Duration,
    /// Cluster-wide message rate per tick (sum over the nodes that have one).
    cluster_messages: VecDeque<Option<f64>>,
    /// Cluster-wide entry rate per tick.
    cluster_entries: VecDeque<Option<f64>>,
}

impl Model {
    /// A model of these instances (`host:port`), none scraped yet.
    pub fn new(instances: impl IntoIterator<Item = String>, interval: Duration) -> Self {
        let nodes = instances
            .into_iter()
            .map(|instance| Node {
                instance,
                previous: None,
                last: None,
                error: None,
                messages_per_second: VecDeque::with_capacity(HISTORY),
                entries_per_second: VecDeque::with_capacity(HISTORY),
            })
            .collect();
        Self {
            nodes,
            interval,
            cluster_messages: VecDeque::with_capacity(HISTORY),
            cluster_entries: VecDeque::with_capacity(HISTORY),
        }
    }

    /// Number of nodes followed.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Records one tick: `results[i]` is node `i`'s scrape or why it failed. Extra results are
    /// ignored; missing ones leave their node as it was.
    pub fn update(&mut self, results: Vec<Result<Snapshot, String>>) {
        let (mut messages, mut entries) = (None::<f64>, None::<f64>);
        for (node, result) in self.nodes.iter_mut().zip(results) {
            match result {
                Ok(snapshot) => {
                    node.previous = node.last.replace(snapshot);
                    node.error = None;
                }
                Err(error) => node.error = Some(error),
            }
            let row = node.row();
            let message_rate = sum(row.messages_in_per_second, row.messages_out_per_second);
            push(&mut node.messages_per_second, message_rate);
            push(&mut node.entries_per_second, row.entries_in_per_second);
            messages = sum(messages, message_rate);
            entries = sum(entries, row.entries_in_per_second);
        }
        push(&mut self.cluster_messages, messages);
        push(&mut self.cluster_entries, entries);
    }

    /// One row per node, in the order given.
    pub fn rows(&self) -> Vec<Row> {
        self.nodes.iter().map(Node::row).collect()
    }

    /// Whether any node ever answered.
    pub fn any_answered(&self) -> bool {
        self.nodes.iter().any(|n| n.last.is_some())
    }

    /// Why each node that is down is down: `(instance, error)`.
    pub fn errors(&self) -> Vec<(&str, &str)> {
        self.nodes
            .iter()
            .filter_map(|n| Some((n.instance.as_str(), n.error.as_deref()?)))
            .collect()
    }

    /// Digest agreement among the nodes that are up.
    pub fn agreement(&self) -> Agreement {
        let digests: BTreeSet<u64> = self
            .nodes
            .iter()
            .filter(|n| n.error.is_none())
            .filter_map(|n| n.last.as_ref()?.digest_prefix)
            .collect();
        match digests.len() {
            0 => Agreement::Unknown,
            1 => Agreement::Agree,
            n => Agreement::Disagree(n),
        }
    }

    /// Message rate (in + out) per tick of node `i`, oldest first.
    pub fn message_history(&self, i: usize) -> Vec<Option<f64>> {
        self.nodes
            .get(i)
            .map(|n| n.messages_per_second.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Received-entry rate per tick of node `i`, oldest first.
    pub fn entry_history(&self, i: usize) -> Vec<Option<f64>> {
        self.nodes
            .get(i)
            .map(|n| n.entries_per_second.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Cluster-wide message rate per tick, oldest first.
    pub fn cluster_message_history(&self) -> Vec<Option<f64>> {
        self.cluster_messages.iter().copied().collect()
    }

    /// Cluster-wide received-entry rate per tick, oldest first.
    pub fn cluster_entry_history(&self) -> Vec<Option<f64>> {
        self.cluster_entries.iter().copied().collect()
    }

    /// The numbers `--once --json` prints.
    pub fn summary(&self) -> Summary {
        let agreement = self.agreement();
        Summary {
            nodes: self.rows(),
            digests_distinct: match agreement {
                Agreement::Unknown => 0,
                Agreement::Agree => 1,
                Agreement::Disagree(n) => n,
            },
            digests_agree: agreement == Agreement::Agree,
        }
    }
}

impl Node {
    fn row(&self) -> Row {
        let down = Row {
            instance: self.instance.clone(),
            up: false,
            error: self.error.clone(),
            uptime_seconds: None,
            peers: None,
            messages_in_per_second: None,
            messages_out_per_second: None,
            gossip_entries: None,
            entries_in_per_second: None,
            transfers_per_second: None,
            digest_prefix: None,
            rpc_p99_seconds: None,
            resident_memory_mib: None,
        };
        let Some(last) = self.last.as_ref().filter(|_| self.error.is_none()) else {
            return down;
        };
        let previous = self.previous.as_ref();
        let seconds = previous.map_or(0.0, |p| last.at.saturating_sub(p.at).as_secs_f64());
        let per_second = |field: fn(&Snapshot) -> Option<f64>| {
            rate(previous.and_then(field), field(last), seconds)
        };
        Row {
            up: true,
            uptime_seconds: last.uptime_seconds,
            peers: last.peers.map(whole),
            messages_in_per_second: per_second(|s| s.messages_received),
            messages_out_per_second: per_second(|s| s.messages_sent),
            gossip_entries: last.gossip_entries.map(whole),
            entries_in_per_second: per_second(|s| s.entries_received),
            transfers_per_second: per_second(|s| s.ledger_transfers),
            digest_prefix: last.digest_prefix.map(|d| format!("{d:012x}")),
            rpc_p99_seconds: previous
                .and_then(|p| quantile_between(RPC_QUANTILE, &p.rpc_buckets, &last.rpc_buckets)),
            resident_memory_mib: last.resident_memory_bytes.map(|b| b / (1024.0 * 1024.0)),
            ..down
        }
    }
}

/// A gauge that counts things, as a whole number (negative or NaN read as 0).
fn whole(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        value.round() as u64
    } else {
        0
    }
}

/// `a + b` where either may be missing; missing only when both are.
fn sum(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

fn push(history: &mut VecDeque<Option<f64>>, value: Option<f64>) {
    if history.len() == HISTORY {
        history.pop_front();
    }
    history.push_back(value);
}

#[cfg(test)]
mod tests;
