//! Propagation and throughput on gossipsub, measured as ICN's scenarios 1 and 2 measure ICN.
//!
//! Propagation: node 0 publishes one message at a time; a sample is the publish call → the
//! last other node's `Message` event. Throughput: node 0 of a 4-node mesh publishes with
//! [`WINDOW`] messages in flight. Gossipsub's publish returns once the message is queued, so
//! "in flight" here means published and not yet received by every receiver (or given up on
//! after [`GIVE_UP`]): the window is the application's back-pressure, which gossipsub itself
//! does not give. Whatever arrives is counted; the delivered fraction is reported.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::cluster::Libp2pCluster;
use super::node::Arrival;
use crate::libp2p_report::Libp2pThroughput;
use crate::progress::Progress;
use crate::propagation::{ENTRY_TIMEOUT, PropagationResult, WARM_UP};
use crate::settings::{PropagationCase, Settings};
use crate::stats::{Latency, mb_per_s};
use crate::throughput::WINDOW;
use crate::topology::Graph;

/// Topic of the propagation scenario.
const PROPAGATION_TOPIC: &str = "bench/propagation";
/// Topic of the throughput scenario.
const THROUGHPUT_TOPIC: &str = "bench/throughput";
/// A message not received by every receiver this long after its publish leaves the window
/// (gossipsub abandons a queued publish after 5 s); at the end, the run stops waiting once
/// nothing arrived for this long.
const GIVE_UP: Duration = Duration::from_secs(10);
/// How long one throughput run may take in all.
const TIMEOUT: Duration = Duration::from_secs(300);

/// Runs one propagation case on a fresh gossipsub cluster.
///
/// # Errors
/// When the cluster cannot start or a message does not reach every node in time.
pub async fn propagation(
    settings: &Settings,
    case: PropagationCase,
    progress: &Progress,
) -> anyhow::Result<PropagationResult> {
    let mut cluster = Libp2pCluster::start(case.nodes, case.graph, PROPAGATION_TOPIC).await?;
    let latency = propagate(
        &mut cluster,
        settings.propagation_entries,
        settings.propagation_payload,
        progress,
    )
    .await;
    cluster.shutdown().await;
    Ok(PropagationResult {
        nodes: case.nodes,
        topology: case.graph,
        latency: latency?,
    })
}

/// Publishes `entries` messages of `payload` bytes at node 0 one after the other (after
/// [`WARM_UP`] unmeasured ones) and summarises how long each took to reach every node.
async fn propagate(
    cluster: &mut Libp2pCluster,
    entries: usize,
    payload: usize,
    progress: &Progress,
) -> anyhow::Result<Latency> {
    let receivers = cluster.len().saturating_sub(1);
    let mut samples = Vec::with_capacity(entries);
    for i in 0..WARM_UP + entries {
        let seq = i as u64;
        let mut body = vec![0u8; payload.max(8)];
        body[..8].copy_from_slice(&seq.to_le_bytes());
        let started = Instant::now();
        anyhow::ensure!(
            cluster.node(0).publish(body).await?,
            "gossipsub refused message {seq}: every queue full"
        );
        let deadline = started + ENTRY_TIMEOUT;
        let (mut held, mut last) = (0, started);
        while held < receivers {
            let arrival = cluster.next_arrival(deadline).await?.ok_or_else(|| {
                anyhow::anyhow!("libp2p message {seq} reached {held} of {receivers} nodes in time")
            })?;
            if arrival.seq == seq && arrival.node != 0 {
                held += 1;
                last = arrival.at;
            }
        }
        if i >= WARM_UP {
            samples.push(last.saturating_duration_since(started));
            progress.inc(1);
        }
    }
    Latency::of(&samples).ok_or_else(|| anyhow::anyhow!("no libp2p propagation samples"))
}

/// Runs the throughput scenario for every configured size, each on a fresh full mesh of
/// `settings.throughput_nodes` nodes.
///
/// # Errors
/// When a cluster cannot start or gossipsub refuses a message for a reason other than full
/// queues.
pub async fn throughput(
    settings: &Settings,
    progress: &Progress,
) -> anyhow::Result<Vec<Libp2pThroughput>> {
    let mut results = Vec::new();
    for &size in &settings.throughput_sizes {
        let entries = settings.throughput_entries(size);
        progress.stage(&format!("libp2p throughput {size} B"), entries as u64);
        let mut cluster =
            Libp2pCluster::start(settings.throughput_nodes, Graph::Mesh, THROUGHPUT_TOPIC).await?;
        let tally = deliver(&mut cluster, entries, size, progress).await;
        let dropped_copies = cluster.dropped_copies();
        cluster.shutdown().await;
        let tally = tally?;
        let elapsed = tally.last.saturating_duration_since(tally.started);
        let per_s = |n: usize| {
            if elapsed.is_zero() {
                0.0
            } else {
                n as f64 / elapsed.as_secs_f64()
            }
        };
        results.push(Libp2pThroughput {
            entry_bytes: size,
            entries,
            receivers: tally.receivers,
            entries_per_s: per_s(tally.complete),
            mb_per_s: if elapsed.is_zero() {
                0.0
            } else {
                mb_per_s((tally.arrived * size) as u64, elapsed)
            },
            delivered_fraction: tally.arrived as f64 / (entries * tally.receivers).max(1) as f64,
            dropped_copies,
        });
    }
    Ok(results)
}

/// Who received what during one throughput run.
struct Tally {
    receivers: usize,
    /// Receivers that got each message.
    counts: Vec<usize>,
    /// Messages no longer waited for in the window (refused, or older than [`GIVE_UP`]).
    given_up: Vec<bool>,
    /// Published, not yet at every receiver, not given up.
    in_flight: usize,
    /// Messages at every receiver.
    complete: usize,
    /// Arrivals at receivers.
    arrived: usize,
    started: Instant,
    /// The latest arrival.
    last: Instant,
}

impl Tally {
    fn new(entries: usize, receivers: usize) -> Self {
        let now = Instant::now();
        Self {
            receivers,
            counts: vec![0; entries],
            given_up: vec![false; entries],
            in_flight: 0,
            complete: 0,
            arrived: 0,
            started: now,
            last: now,
        }
    }

    fn waiting_for(&self, seq: usize) -> bool {
        !self.given_up[seq] && self.counts[seq] < self.receivers
    }

    fn record(&mut self, arrival: Arrival) {
        let Ok(seq) = usize::try_from(arrival.seq) else {
            return;
        };
        if arrival.node == 0 || seq >= self.counts.len() || self.counts[seq] >= self.receivers {
            return;
        }
        let waiting = self.waiting_for(seq);
        self.counts[seq] += 1;
        self.arrived += 1;
        self.last = self.last.max(arrival.at);
        if self.counts[seq] == self.receivers {
            self.complete += 1;
            if waiting {
                self.in_flight -= 1;
            }
        }
    }

    fn give_up(&mut self, seq: usize) {
        if self.waiting_for(seq) {
            self.given_up[seq] = true;
            self.in_flight -= 1;
        }
    }
}

/// Publishes `entries` messages of `size` bytes at node 0 with at most [`WINDOW`] in flight,
/// then waits for the stragglers; returns who received what and when.
async fn deliver(
    cluster: &mut Libp2pCluster,
    entries: usize,
    size: usize,
    progress: &Progress,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::new(entries, cluster.len().saturating_sub(1));
    // Published messages in publish order, with their publish time.
    let mut published: VecDeque<(usize, Instant)> = VecDeque::with_capacity(WINDOW);
    for seq in 0..entries {
        while tally.in_flight >= WINDOW {
            while published
                .front()
                .is_some_and(|&(s, _)| !tally.waiting_for(s))
            {
                published.pop_front();
            }
            let Some(&(oldest, at)) = published.front() else {
                break;
            };
            match cluster.next_arrival(at + GIVE_UP).await? {
                Some(arrival) => tally.record(arrival),
                None => tally.give_up(oldest),
            }
        }
        let mut payload = vec![0x5Au8; size.max(8)];
        payload[..8].copy_from_slice(&(seq as u64).to_le_bytes());
        tally.in_flight += 1;
        if cluster.node(0).publish(payload).await? {
            published.push_back((seq, Instant::now()));
        } else {
            tally.give_up(seq);
        }
        progress.inc(1);
    }
    let cap = tally.started + TIMEOUT;
    while tally.complete < entries {
        let deadline = (Instant::now() + GIVE_UP).min(cap);
        match cluster.next_arrival(deadline).await? {
            Some(arrival) => tally.record(arrival),
            None => break,
        }
    }
    Ok(tally)
}
