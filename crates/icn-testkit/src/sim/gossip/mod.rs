//! [`GossipSim`]: N gossip cores (plus, optionally, a malicious peer) over a [`SimNetwork`],
//! driven by a seeded scenario (`super::scenario`), with the properties checked on every run.
//!
//! # Properties
//! - Convergence: once traffic has stopped, the last partition has healed and every node is
//!   up, every node holds exactly the valid entries published on each topic it subscribes to
//!   (and none of other topics) within `settle_limit_ms` virtual ms.
//! - Safety: every entry a node stores belongs to a topic it subscribes to and is, byte for
//!   byte, an entry an honest node published (and verified); nothing the malicious peer sends
//!   is ever stored, and no entry is stored twice.
//! - Bounded memory: after every input no core exceeds a cap of its configuration, and its
//!   internal structures stay consistent (checked every virtual second).

use std::collections::{BTreeMap, BTreeSet};

use icn_gossip::proto::{DropReason, GossipConfig, Input, Output};
use icn_gossip::{Entry, EntryId, EntryLimits, GossipMessage, Keypair, RejectReason, Topic};
use rand::seq::IteratorRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::cluster::{GossipCluster, GossipNode};
use super::hostile::Hostile;
use super::net::{Delivery, LinkConfig, NetStats, NodeIdx, SimNetwork};
use super::scenario::{self, Event};

mod check;

/// Shape of a gossip simulation; the seed picks every detail within it.
#[derive(Debug, Clone)]
pub struct GossipSimConfig {
    /// Honest nodes (6).
    pub nodes: usize,
    /// Topics (3), named `t0`, `t1`, ...
    pub topics: usize,
    /// Chance that a node subscribes to a given topic at start (0.6; at least one each).
    pub subscribe_probability: f64,
    /// Publication attempts, at random times and nodes (120).
    pub entries: usize,
    /// Length of the traffic phase in virtual ms (60 s): publications, partitions, restarts
    /// and attacks all start within it.
    pub traffic_ms: u64,
    /// Most partition episodes (2); the seed picks 0 to this many.
    pub max_partitions: usize,
    /// Most node restarts (3); the seed picks 0 to this many.
    pub max_restarts: usize,
    /// Nodes that subscribe to one more topic during the run (1).
    pub late_subscribes: usize,
    /// Whether a malicious peer takes part (true).
    pub hostile: bool,
    /// Each node's clock is ahead of virtual time by up to this (5 s).
    pub max_clock_offset_ms: u64,
    /// Tick period (100 ms).
    pub tick_ms: u64,
    /// Bound on the time to converge once quiet (600 s).
    pub settle_limit_ms: u64,
    /// Link behaviour.
    pub link: LinkConfig,
    /// Configuration of every core (small caps, so that they are exercised).
    pub gossip: GossipConfig,
}

impl Default for GossipSimConfig {
    fn default() -> Self {
        GossipSimConfig {
            nodes: 6,
            topics: 3,
            subscribe_probability: 0.6,
            entries: 120,
            traffic_ms: 60_000,
            max_partitions: 2,
            max_restarts: 3,
            late_subscribes: 1,
            hostile: true,
            max_clock_offset_ms: 5_000,
            tick_ms: 100,
            settle_limit_ms: 600_000,
            link: LinkConfig::default(),
            gossip: GossipConfig {
                entry_limits: EntryLimits {
                    max_payload_bytes: 1024,
                    ..EntryLimits::default()
                },
                max_pending_requests: 32,
                max_outstanding_per_peer: 12,
                max_pending_per_peer: 20,
                max_ids_per_message: 32,
                max_announcers_per_id: 3,
                max_reconcile_sessions: 4,
                ..GossipConfig::default()
            },
        }
    }
}

/// What a successful run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipSimReport {
    /// The seed.
    pub seed: u64,
    /// Virtual time at which the run became quiet.
    pub quiet_at_ms: u64,
    /// Virtual ms from quiet to convergence.
    pub converged_after_ms: u64,
    /// Valid entries published.
    pub published: usize,
    /// Partition episodes in the script.
    pub partitions: usize,
    /// Node restarts in the script.
    pub restarts: usize,
    /// What the network did.
    pub net: NetStats,
    /// Rejections over all nodes, by reason.
    pub rejected: BTreeMap<RejectReason, u64>,
    /// Dropped work over all nodes and incarnations, by reason.
    pub dropped: BTreeMap<DropReason, u64>,
    /// Anti-entropy rounds started.
    pub anti_entropy_rounds: u64,
    /// Entries obtained through anti-entropy.
    pub anti_entropy_recovered: u64,
    /// Every node's final set of ids.
    pub final_ids: Vec<Vec<EntryId>>,
}

/// One run of the gossip simulation.
pub struct GossipSim {
    config: GossipSimConfig,
    rng: ChaCha8Rng,
    /// Honest nodes (then the malicious peer, if any) over the network.
    cluster: GossipCluster,
    /// Scheduled events by (time, sequence).
    events: BTreeMap<(u64, u64), Event>,
    hostile: Option<Hostile>,
    /// Valid entries published by honest nodes, per topic.
    valid: BTreeMap<Topic, BTreeSet<EntryId>>,
    /// The same entries, exactly as signed (a copy with another signature has the same id).
    originals: BTreeMap<EntryId, Entry>,
    report: GossipSimReport,
}

impl GossipSim {
    /// Builds the run for `seed`: nodes, keys, subscriptions and the whole script.
    pub fn new(config: GossipSimConfig, seed: u64) -> GossipSim {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let script = scenario::generate(&config, &mut rng);
        let topics: Vec<Topic> = (0..config.topics)
            .filter_map(|i| Topic::new(&format!("t{i}")).ok())
            .collect();
        let nodes: Vec<GossipNode> = script
            .subscriptions
            .iter()
            .map(|subs| {
                let key = Keypair::from_secret_bytes(&rng.r#gen());
                let clock_offset_ms = rng.gen_range(0..=config.max_clock_offset_ms);
                let subscribed = subs
                    .iter()
                    .filter_map(|t| topics.get(*t).cloned())
                    .collect();
                GossipNode::new(key, clock_offset_ms, subscribed)
            })
            .collect();
        let hostile = config.hostile.then(|| {
            let limits = &config.gossip;
            Hostile::new(
                &mut rng,
                limits.entry_limits.max_payload_bytes,
                limits.max_ids_per_message,
            )
        });
        let peers: Vec<_> = hostile.iter().map(|h| h.key().did()).collect();
        let net = SimNetwork::new(config.link, rng.r#gen());
        let cluster = GossipCluster::new(config.gossip.clone(), seed, nodes, peers, topics, net);
        let events = script
            .events
            .into_iter()
            .enumerate()
            .map(|(seq, (at, ev))| ((at, seq as u64), ev))
            .collect();
        let report = GossipSimReport {
            seed,
            quiet_at_ms: script.quiet_at_ms,
            converged_after_ms: 0,
            published: 0,
            partitions: script.partitions,
            restarts: script.restarts,
            net: NetStats::default(),
            rejected: BTreeMap::new(),
            dropped: BTreeMap::new(),
            anti_entropy_rounds: 0,
            anti_entropy_recovered: 0,
            final_ids: Vec::new(),
        };
        GossipSim {
            config,
            rng,
            cluster,
            events,
            hostile,
            valid: BTreeMap::new(),
            originals: BTreeMap::new(),
            report,
        }
    }

    /// Runs the script, then waits for convergence; checks every property on the way.
    ///
    /// # Errors
    /// A description of the first violated property (with the seed).
    pub fn run(mut self) -> Result<GossipSimReport, String> {
        for i in 0..self.cluster.nodes.len() {
            self.start(i);
        }
        let quiet_at = self.report.quiet_at_ms;
        let deadline = quiet_at + self.config.settle_limit_ms;
        let mut next_tick = 0;
        let mut converged_at = None;
        loop {
            let t_net = self.cluster.net.next_at().unwrap_or(u64::MAX);
            let t_event = self.events.keys().next().map_or(u64::MAX, |k| k.0);
            let t = t_net.min(t_event).min(next_tick);
            if t > deadline {
                break;
            }
            self.cluster.now_ms = t;
            if t_net == t {
                if let Some(delivery) = self.cluster.net.pop_due(t) {
                    self.deliver(delivery);
                }
            } else if t_event == t {
                if let Some((_, event)) = self.events.pop_first() {
                    self.on_event(event);
                }
            } else {
                self.tick();
                next_tick += self.config.tick_ms.max(1);
                if t >= quiet_at && t.is_multiple_of(1_000) && self.converged() {
                    converged_at = Some(t);
                    break;
                }
            }
            if let Some(v) = self.cluster.violations.first() {
                return Err(format!("at {t} ms: {v}"));
            }
        }
        let Some(converged_at) = converged_at else {
            return Err(format!(
                "no convergence within {} ms of quiet ({quiet_at} ms): {}",
                self.config.settle_limit_ms,
                self.divergence()
            ));
        };
        self.finish(converged_at - quiet_at)
    }

    fn finish(mut self, converged_after_ms: u64) -> Result<GossipSimReport, String> {
        for i in 0..self.cluster.nodes.len() {
            self.retire(i);
        }
        if let Some(v) = self.cluster.violations.first() {
            return Err(format!("at the end: {v}"));
        }
        let mut report = self.report;
        report.converged_after_ms = converged_after_ms;
        report.published = self.valid.values().map(BTreeSet::len).sum();
        report.net = self.cluster.net.stats();
        report.final_ids = self
            .cluster
            .nodes
            .iter()
            .map(|n| n.store.keys().copied().collect())
            .collect();
        Ok(report)
    }

    fn hostile_idx(&self) -> Option<NodeIdx> {
        self.hostile.as_ref().map(|_| self.cluster.nodes.len())
    }

    /// Brings links in line with liveness and the partition.
    fn refresh_links(&mut self) {
        for (i, output) in self.cluster.refresh_links() {
            self.apply(i, output);
        }
    }

    /// Builds node `i`'s core from its store and connects it.
    fn start(&mut self, i: NodeIdx) {
        if self.cluster.start(i) {
            self.refresh_links();
        }
    }

    /// Checks node `i`'s core one last time, keeps its counters, and drops it.
    fn retire(&mut self, i: NodeIdx) {
        let Some(core) = self.cluster.stop(i) else {
            return;
        };
        let stats = core.stats();
        for (reason, n) in &stats.dropped {
            *self.report.dropped.entry(*reason).or_default() += n;
        }
        self.report.anti_entropy_rounds += stats.anti_entropy_rounds;
        self.report.anti_entropy_recovered += stats.anti_entropy_recovered;
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Publish(i) => self.publish(i),
            Event::Partition(sides) => {
                self.cluster.partition = Some(sides);
                self.refresh_links();
            }
            Event::Heal => {
                self.cluster.partition = None;
                self.refresh_links();
            }
            Event::Down(i) => {
                self.retire(i);
                self.refresh_links();
            }
            Event::Up(i) => self.start(i),
            Event::Subscribe(i, t) => {
                let Some(topic) = self.cluster.topics.get(t).cloned() else {
                    return;
                };
                if self.cluster.nodes[i].subscribed.insert(topic.clone()) {
                    self.feed(i, Input::Subscribe(topic));
                }
            }
            Event::Hostile(attack) => {
                let Some(idx) = self.hostile_idx() else {
                    return;
                };
                let Some(topic) = self.cluster.topics.iter().choose(&mut self.rng).cloned() else {
                    return;
                };
                let targets: Vec<NodeIdx> = (0..self.cluster.nodes.len())
                    .filter(|j| self.cluster.net.is_up(idx, *j))
                    .collect();
                let Some(h) = self.hostile.as_mut() else {
                    return;
                };
                let now = self.cluster.now_ms;
                let sends = h.attack(attack, &mut self.rng, &topic, now, &targets);
                for (to, msg) in sends {
                    self.cluster.net.send(now, idx, to, msg);
                }
            }
        }
    }

    fn publish(&mut self, i: NodeIdx) {
        let now = self.cluster.node_now(i);
        let node = &self.cluster.nodes[i];
        if node.core.is_none() {
            return;
        }
        let Some(topic) = node.subscribed.iter().choose(&mut self.rng).cloned() else {
            return;
        };
        let mut payload = vec![0u8; self.rng.gen_range(0..64)];
        self.rng.fill_bytes(&mut payload);
        let entry = Entry::sign(&node.key, topic, now, payload);
        self.feed(i, Input::Publish(entry));
    }

    /// Ticks every node; checks their full invariants once per virtual second (caps are
    /// checked after every input).
    fn tick(&mut self) {
        let full_check = self.cluster.now_ms.is_multiple_of(1_000);
        for i in 0..self.cluster.nodes.len() {
            self.feed(i, Input::Tick);
            if full_check {
                self.cluster.check(i);
            }
        }
    }

    fn deliver(&mut self, d: Delivery<GossipMessage>) {
        if Some(d.to) == self.hostile_idx() {
            let replies = match &self.hostile {
                Some(h) => h.receive(d.from, d.msg),
                None => Vec::new(),
            };
            for (to, msg) in replies {
                self.cluster.net.send(self.cluster.now_ms, d.to, to, msg);
            }
            return;
        }
        for output in self.cluster.deliver(d.from, d.to, d.msg) {
            self.apply(d.to, output);
        }
    }

    /// Hands `input` to node `i`'s core (if up) and carries out its outputs.
    fn feed(&mut self, i: NodeIdx, input: Input) {
        for output in self.cluster.feed(i, input) {
            self.apply(i, output);
        }
    }

    fn apply(&mut self, i: NodeIdx, output: Output) {
        match self.cluster.perform(i, output) {
            Some(Output::Store { id, entry, source }) => self.store(i, id, entry, source),
            Some(Output::Rejected { reason, .. }) => {
                *self.report.rejected.entry(reason).or_default() += 1;
            }
            _ => {}
        }
    }
}
