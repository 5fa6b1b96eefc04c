//! [`LedgerSim`]: N ledger nodes, each a [`GossipCore`](icn_gossip::proto::GossipCore)
//! replicating topic `icn/ledger` and a [`LedgerCore`] fed by every entry the gossip core
//! stores, over a [`SimNetwork`] with random latency, loss, duplication, partitions and
//! restarts, driven by a seeded script (`script`) of honest payments and cheats (`clients`).
//!
//! # Model
//! - Each node has a clock ahead of virtual time by a small random offset; every op and entry
//!   it makes carries that clock. Its honest client (the node's own key, as in the ledger
//!   actor) builds ops with `next_seq`/`next_timestamp`, checks them with `validate_local`,
//!   inserts them and publishes them as gossip entries.
//! - Malicious clients (their own keys) pick a node to submit through; the node inserts their
//!   ops directly (bypassing `validate_local`) and publishes them: overspends, replayed seqs
//!   (late or backdated), forged signatures, equivocations aimed at both sides of a partition,
//!   and ops dated near the clock-skew bound. A forged op travels in a validly signed entry,
//!   so gossip stores it and every ledger core must refuse it.
//! - Remote ops reach the ledger as the actor does it: the entries one gossip input stores are
//!   decoded and inserted as one batch; ops refused as too far in the future are deferred and
//!   retried every second. A crash keeps the gossip store and the ledger store
//!   minus an unflushed tail of remote ops; a restart rebuilds the gossip core from its store
//!   and the ledger with `LedgerCore::restore`, then catches up from the gossip store.
//!
//! # Layout
//! - `config`: [`LedgerSimConfig`], [`Cheat`] and [`LedgerSimReport`].
//! - `script`: the seeded script of a run.
//! - `clients`: honest clients and cheats.
//! - `check`: the checks after every insert, the store and convergence checks, the final
//!   agreement checks.
//! - This module: the run loop, node lifecycle (start, crash, restart) and the glue from
//!   gossip outputs to ledger inserts.
//!
//! # Properties
//! - After every insert on every node: `check_invariants`, and the same invariants recomputed
//!   through the public API (Σ balances per currency = 0, no balance below −limit, each
//!   payer's applied seqs 1..n in fold order). Honest ops apply when made; overspends are
//!   rejected where made; forged ops are refused everywhere and never held.
//! - A restart (restore + catch-up) gives back the digest the node had when it crashed.
//! - Once quiet, within `settle_limit_ms`: every node holds every op any node ever held and
//!   every published entry, with one `state_digest`; a fresh core fed the union in a shuffled
//!   order (and one restored from it) has that digest; the equivocation count matches the held
//!   set; every honest op is applied unless something it relied on when made changed status
//!   (it was displaced, which only cheats can cause: see [`LedgerSimReport::honest`]).

mod check;
mod clients;
mod config;
mod script;

use std::collections::{BTreeMap, BTreeSet};

use icn_gossip::proto::{Input, Output};
use icn_gossip::{Did, Entry, EntryId, GossipMessage, Keypair, Topic};
use icn_ledger::{CurrencyCode, LEDGER_TOPIC, LedgerCore, OpId, SignedOp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::cluster::{GossipCluster, GossipNode};
use super::net::{Delivery, NetStats, NodeIdx, SimNetwork};
use script::Event;

pub use config::{Cheat, HonestTally, LedgerSimConfig, LedgerSimReport};

/// Every node clock starts near this epoch (2026-01-01), so ops can be backdated.
const EPOCH_MS: u64 = 1_767_225_600_000;

/// The ledger side of a node.
struct LedgerNode {
    /// `None` while the node is down.
    core: Option<LedgerCore>,
    /// Ops the ledger stored, in write order, each with whether it came from gossip (only
    /// those can be lost in a crash: the actor stores local ops before publishing them).
    store: Vec<(SignedOp, bool)>,
    /// Digest and held ops when the node last crashed, to compare after its restart.
    at_crash: Option<([u8; 32], BTreeSet<OpId>)>,
    /// Ops refused only because they are ahead of the node's clock, by (timestamp, id):
    /// offered again once they are not, as the ledger actor does. Lost in a crash (the
    /// restart's catch-up from the gossip store offers them again).
    deferred: BTreeMap<(u64, OpId), SignedOp>,
}

/// An op an honest client made, with the statuses (applied or not) of the held ops that
/// concerned its author when it was made.
struct HonestOp {
    relied_on: BTreeMap<OpId, bool>,
}

/// One run of the ledger simulation.
pub struct LedgerSim {
    config: LedgerSimConfig,
    rng: ChaCha8Rng,
    cluster: GossipCluster,
    topic: Topic,
    /// Scheduled events by (time, sequence).
    events: BTreeMap<(u64, u64), Event>,
    next_event: u64,
    /// Issuer node of each currency, by currency number.
    issuers: Vec<NodeIdx>,
    codes: Vec<CurrencyCode>,
    nodes: Vec<LedgerNode>,
    cheaters: Vec<Keypair>,
    /// Honest nodes' DIDs, then the cheaters'.
    accounts: Vec<Did>,
    /// Every op a ledger core has held, by id.
    held_anywhere: BTreeMap<OpId, SignedOp>,
    honest: BTreeMap<OpId, HonestOp>,
    /// Ops with a forged signature or signer.
    forged: BTreeSet<OpId>,
    /// Which node refused which forged op (each must refuse each).
    refused_by: BTreeSet<(NodeIdx, OpId)>,
    /// Which node refused which op as too far in the future.
    refused_future: BTreeSet<(NodeIdx, OpId)>,
    /// Every entry published, exactly as signed, with the op its payload decodes to (decoded
    /// once, when published: decoding is a pure function of the bytes, and a costly one).
    published: BTreeMap<EntryId, (Entry, SignedOp)>,
    report: LedgerSimReport,
}

impl LedgerSim {
    /// Builds the run for `seed`: nodes, keys, clocks and the whole script.
    pub fn new(config: LedgerSimConfig, seed: u64) -> LedgerSim {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let script = script::generate(&config, &mut rng);
        let topic = Topic::new(LEDGER_TOPIC).unwrap_or_else(|_| unreachable!("valid topic"));
        let nodes: Vec<GossipNode> = (0..config.nodes)
            .map(|_| {
                let key = Keypair::from_secret_bytes(&rng.r#gen());
                let offset = EPOCH_MS + rng.gen_range(0..=config.max_clock_offset_ms);
                GossipNode::new(key, offset, BTreeSet::from([topic.clone()]))
            })
            .collect();
        let cheaters: Vec<Keypair> = (0..config.malicious_clients)
            .map(|_| Keypair::from_secret_bytes(&rng.r#gen()))
            .collect();
        let mut accounts: Vec<Did> = nodes.iter().map(|n| n.key.did()).collect();
        accounts.extend(cheaters.iter().map(Keypair::did));
        let net = SimNetwork::new(config.link, rng.r#gen());
        let cluster = GossipCluster::new(
            config.gossip.clone(),
            seed,
            nodes,
            [],
            vec![topic.clone()],
            net,
        );
        let codes = script::CURRENCY_CODES
            .iter()
            .filter_map(|c| CurrencyCode::new(c).ok())
            .collect();
        let ledger_nodes = (0..config.nodes)
            .map(|_| LedgerNode {
                core: None,
                store: Vec::new(),
                at_crash: None,
                deferred: BTreeMap::new(),
            })
            .collect();
        let events: BTreeMap<(u64, u64), Event> = script
            .events
            .into_iter()
            .enumerate()
            .map(|(seq, (at, ev))| ((at, seq as u64), ev))
            .collect();
        let report = LedgerSimReport {
            seed,
            quiet_at_ms: script.quiet_at_ms,
            converged_after_ms: 0,
            partitions: script.partitions,
            restarts: script.restarts,
            restarts_done: 0,
            ops: 0,
            currencies: 0,
            applied_transfers: 0,
            rejected: BTreeMap::new(),
            refused: BTreeMap::new(),
            equivocations: 0,
            replays: 0,
            refolded_ops: 0,
            recovered_on_restart: 0,
            deferred_held: 0,
            honest: HonestTally::default(),
            cheats: BTreeMap::new(),
            malicious_payments: 0,
            net: NetStats::default(),
            digest: [0; 32],
        };
        LedgerSim {
            config,
            rng,
            cluster,
            topic,
            next_event: events.len() as u64,
            events,
            issuers: script.issuers,
            codes,
            nodes: ledger_nodes,
            cheaters,
            accounts,
            held_anywhere: BTreeMap::new(),
            honest: BTreeMap::new(),
            forged: BTreeSet::new(),
            refused_by: BTreeSet::new(),
            refused_future: BTreeSet::new(),
            published: BTreeMap::new(),
            report,
        }
    }

    /// Runs the script, then waits for convergence; checks every property on the way.
    ///
    /// # Errors
    /// A description of the first violated property.
    pub fn run(mut self) -> Result<LedgerSimReport, String> {
        for i in 0..self.nodes.len() {
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
        self.report.converged_after_ms = converged_at - quiet_at;
        self.finish()
    }

    fn violation(&mut self, v: String) {
        self.cluster.violations.push(v);
    }

    /// Schedules `event` at virtual time `at_ms`.
    fn schedule(&mut self, at_ms: u64, event: Event) {
        self.events.insert((at_ms, self.next_event), event);
        self.next_event += 1;
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::CreateCurrency(i, c) => self.create_currency(i, c),
            Event::Pay(i) => self.pay(i),
            Event::RaiseLimit(c) => self.raise_limit(c),
            Event::Cheat(cheat) => self.cheat(cheat),
            Event::Partition(sides) => {
                self.cluster.partition = Some(sides);
                self.refresh_links();
            }
            Event::Heal => {
                self.cluster.partition = None;
                self.refresh_links();
            }
            Event::Down(i) => self.crash(i),
            Event::Up(i) => self.start(i),
        }
    }

    fn refresh_links(&mut self) {
        let rest = self.cluster.refresh_links();
        for (i, output) in rest {
            self.apply(i, vec![output]);
        }
    }

    /// Starts node `i` (if down): gossip core from its entry store, ledger core restored from
    /// its ledger store, then caught up from the entry store, then connected.
    fn start(&mut self, i: NodeIdx) {
        if !self.cluster.start(i) {
            return;
        }
        let node = &mut self.nodes[i];
        let ops = node.store.iter().map(|(op, _)| op.clone());
        let (core, skipped) = LedgerCore::restore(self.config.ledger.clone(), ops);
        node.core = Some(core);
        if !skipped.is_empty() {
            self.violation(format!("node {i}: restore skipped {skipped:?}"));
        }
        self.check_node(i);
        // Catch up from the gossip store, as the actor does: first the ops held before the
        // crash (the ledger store lost some), to compare with the state then; then the rest
        // (deferred future-dated ops, which may be due now; forged ops, refused again).
        let at_crash = self.nodes[i].at_crash.take();
        let (missing, later): (Vec<SignedOp>, Vec<SignedOp>) = self.cluster.nodes[i]
            .store
            .keys()
            .filter_map(|id| self.published.get(id).map(|(_, op)| op.clone()))
            .filter(|op| {
                self.nodes[i]
                    .core
                    .as_ref()
                    .is_some_and(|c| !c.contains(&op.id()))
            })
            .partition(|op| {
                at_crash
                    .as_ref()
                    .is_some_and(|(_, ids)| ids.contains(&op.id()))
            });
        if !missing.is_empty() {
            self.report.recovered_on_restart += self.insert_remote(i, missing);
        }
        if let Some((before, _)) = at_crash {
            self.report.restarts_done += 1;
            let after = self.nodes[i].core.as_ref().map(LedgerCore::state_digest);
            if after != Some(before) {
                self.violation(format!("node {i}: restart changed the ledger state digest"));
            }
        }
        if !later.is_empty() {
            self.insert_remote(i, later);
        }
        self.refresh_links();
    }

    /// Crashes node `i` (if up): both cores go, the ledger store loses an unflushed tail of
    /// remote ops (the gossip store has them).
    fn crash(&mut self, i: NodeIdx) {
        let Some(core) = self.nodes[i].core.take() else {
            return;
        };
        self.retire_ledger(&core);
        let held = core.ops_in_order().map(|h| h.key.id).collect();
        self.nodes[i].at_crash = Some((core.state_digest(), held));
        self.nodes[i].deferred.clear();
        let _ = self.cluster.stop(i);
        let lose = self.rng.gen_range(0..=self.config.max_lost_on_crash);
        let store = &mut self.nodes[i].store;
        for _ in 0..lose {
            if !store.last().is_some_and(|(_, remote)| *remote) {
                break;
            }
            store.pop();
        }
        self.refresh_links();
    }

    /// Keeps a ledger core's counters before it goes.
    fn retire_ledger(&mut self, core: &LedgerCore) {
        let stats = core.stats();
        self.report.replays += stats.replays;
        self.report.refolded_ops += stats.refolded_ops;
    }

    /// Ticks every node; once per virtual second, checks gossip invariants and retries
    /// deferred ops.
    fn tick(&mut self) {
        let full_check = self.cluster.now_ms.is_multiple_of(1_000);
        for i in 0..self.nodes.len() {
            self.feed(i, Input::Tick);
            if full_check {
                self.cluster.check(i);
                self.retry_deferred(i);
            }
        }
    }

    /// Offers node `i`'s deferred ops whose time has come (the actor does it every second).
    fn retry_deferred(&mut self, i: NodeIdx) {
        if self.nodes[i].core.is_none() {
            return;
        }
        let horizon = self.cluster.node_now(i) + self.config.ledger.max_clock_skew_ms;
        let node = &mut self.nodes[i];
        let later = node
            .deferred
            .split_off(&(horizon + 1, OpId::from_bytes([0; 32])));
        let due: Vec<SignedOp> = std::mem::replace(&mut node.deferred, later)
            .into_values()
            .collect();
        if !due.is_empty() {
            self.report.deferred_held += self.insert_remote(i, due);
        }
    }

    fn deliver(&mut self, d: Delivery<GossipMessage>) {
        let outputs = self.cluster.deliver(d.from, d.to, d.msg);
        self.apply(d.to, outputs);
    }

    fn feed(&mut self, i: NodeIdx, input: Input) {
        let outputs = self.cluster.feed(i, input);
        self.apply(i, outputs);
    }

    /// Carries out a gossip core's outputs; the ledger ops of the entries it stored are
    /// inserted as one batch, as the ledger actor drains its subscription.
    fn apply(&mut self, i: NodeIdx, outputs: Vec<Output>) {
        let mut batch = Vec::new();
        for output in outputs {
            match self.cluster.perform(i, output) {
                Some(Output::Store { id, entry, source }) => {
                    if let Some(op) = self.store_entry(i, id, entry, source) {
                        batch.push(op);
                    }
                }
                Some(Output::Rejected { reason, .. }) => {
                    self.violation(format!("node {i}: gossip rejected an entry: {reason}"));
                }
                _ => {}
            }
        }
        if !batch.is_empty() {
            self.insert_remote(i, batch);
        }
    }

    /// Publishes `op` as an entry of node `i` on the ledger topic.
    fn publish(&mut self, i: NodeIdx, op: &SignedOp) {
        let now = self.cluster.node_now(i);
        let payload = op.encode();
        let max = self.config.ledger.max_op_bytes;
        match SignedOp::decode(&payload, max) {
            Ok(decoded) if decoded == *op => {}
            other => self.violation(format!("an op does not survive its wire form: {other:?}")),
        }
        let entry = Entry::sign(&self.cluster.nodes[i].key, self.topic.clone(), now, payload);
        self.published
            .insert(entry.id(), (entry.clone(), op.clone()));
        self.feed(i, Input::Publish(entry));
    }
}
