//! The shape of a ledger simulation run ([`LedgerSimConfig`], [`Cheat`]) and what a
//! successful run reports ([`LedgerSimReport`]).

use std::collections::BTreeMap;

use icn_gossip::proto::GossipConfig;
use icn_ledger::{LedgerConfig, RejectKind};

use crate::sim::gossip::GossipSimConfig;
use crate::sim::net::{LinkConfig, NetStats};

/// One kind of malicious client behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cheat {
    /// A correctly signed transfer beyond the payer's limit, inserted without
    /// `validate_local`.
    Overspend,
    /// A new transfer reusing the seq of one of the payer's applied transfers, timestamped
    /// after it or backdated before it (an equivocation).
    Replay,
    /// A transfer from an honest account that the cheater signed: with the victim as author
    /// (bad signature) or as itself (author mismatch).
    ForgedSignature,
    /// Two transfers with the same payer and seq, submitted through two nodes (on both sides
    /// of the partition, if any).
    Equivocation,
    /// A correctly signed transfer timestamped about `max_clock_skew_ms` ahead of the node's
    /// clock (just within or just beyond the bound); scheduled by
    /// [`LedgerSimConfig::future_cheats`].
    FutureTimestamp,
}

impl Cheat {
    /// The cheats every run draws from.
    pub const STANDARD: [Cheat; 4] = [
        Cheat::Overspend,
        Cheat::Replay,
        Cheat::ForgedSignature,
        Cheat::Equivocation,
    ];
}

/// Shape of a ledger simulation; the seed picks every detail within it.
#[derive(Debug, Clone)]
pub struct LedgerSimConfig {
    /// Ledger nodes (4).
    pub nodes: usize,
    /// Malicious clients (2); 0 runs honest clients only and no cheats.
    pub malicious_clients: usize,
    /// Payment attempts by honest clients, at random times and nodes (50).
    pub payments: usize,
    /// Credit-limit raises by issuers (4).
    pub limit_raises: usize,
    /// Cheats at random times, drawn from [`Cheat::STANDARD`] (10), plus one equivocation per
    /// partition.
    pub cheats: usize,
    /// [`Cheat::FutureTimestamp`]s at random times (2). A core refuses an op too far ahead
    /// of its clock; gossip has stored the entry and never delivers it again, so the node
    /// defers the op and retries it every second (as the ledger actor does) or it would
    /// diverge. Honest ops built after a held near-future op (`next_timestamp`) are ahead of
    /// the clocks of nodes that are behind, and deferred there too.
    pub future_cheats: usize,
    /// Chance that a second currency is created by another node (0.5).
    pub second_currency_probability: f64,
    /// Default credit limit of every currency (40): small, so that limits bind.
    pub default_credit_limit: u64,
    /// Largest ordinary payment (30); some payments spend the whole headroom.
    pub max_payment: u64,
    /// Length of the traffic phase in virtual ms (40 s).
    pub traffic_ms: u64,
    /// Most partition episodes (2); the seed picks 0 to this many.
    pub max_partitions: usize,
    /// Most node restarts (3); the seed picks 0 to this many.
    pub max_restarts: usize,
    /// Most remote ops a crash loses from the ledger store (3): written to the gossip store,
    /// not yet to the ledger's.
    pub max_lost_on_crash: usize,
    /// Each node's clock is ahead of virtual time by up to this (2 s).
    pub max_clock_offset_ms: u64,
    /// Tick period (100 ms).
    pub tick_ms: u64,
    /// Bound on the time to converge once quiet (600 s).
    pub settle_limit_ms: u64,
    /// Link behaviour.
    pub link: LinkConfig,
    /// Configuration of every gossip core (the gossip simulator's small caps).
    pub gossip: GossipConfig,
    /// Configuration of every ledger core.
    pub ledger: LedgerConfig,
}

impl Default for LedgerSimConfig {
    fn default() -> Self {
        LedgerSimConfig {
            nodes: 4,
            malicious_clients: 2,
            payments: 50,
            limit_raises: 4,
            cheats: 10,
            future_cheats: 2,
            second_currency_probability: 0.5,
            default_credit_limit: 40,
            max_payment: 30,
            traffic_ms: 40_000,
            max_partitions: 2,
            max_restarts: 3,
            max_lost_on_crash: 3,
            max_clock_offset_ms: 2_000,
            tick_ms: 100,
            settle_limit_ms: 600_000,
            link: LinkConfig::default(),
            gossip: GossipSimConfig::default().gossip,
            ledger: LedgerConfig::default(),
        }
    }
}

/// What honest clients did and what became of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HonestTally {
    /// Ops `validate_local` accepted (currencies, limits, payments), all made and published.
    pub made: u64,
    /// Of those, applied at the end.
    pub applied: u64,
    /// Of those, rejected at the end because something they relied on when made changed
    /// status (a cheat displaced a credit, directly or down a chain of payments).
    pub displaced: u64,
    /// Overspends `validate_local` refused (tried on purpose, never made).
    pub refused_locally: u64,
    /// Actions skipped because the node was down.
    pub skipped: u64,
}

/// What a successful run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerSimReport {
    /// The seed.
    pub seed: u64,
    /// Virtual time at which the run became quiet.
    pub quiet_at_ms: u64,
    /// Virtual ms from quiet to convergence.
    pub converged_after_ms: u64,
    /// Partition episodes in the script.
    pub partitions: usize,
    /// Node restarts in the script.
    pub restarts: usize,
    /// Restarts carried out (a node already up is not restarted).
    pub restarts_done: u64,
    /// Held ops at the end (every node holds the same).
    pub ops: usize,
    /// Currencies at the end.
    pub currencies: usize,
    /// Applied transfers at the end.
    pub applied_transfers: u64,
    /// Held ops rejected at the end, by kind.
    pub rejected: BTreeMap<RejectKind, u64>,
    /// Stateless refusals over all nodes, by kind (forged ops each time a core saw one; ops
    /// too far in the future, each time they were offered too early).
    pub refused: BTreeMap<RejectKind, u64>,
    /// Equivocations at the end (held transfers sharing `(from, seq)`, beyond the first).
    pub equivocations: u64,
    /// Replays over all nodes and incarnations.
    pub replays: u64,
    /// Ops refolded by those replays.
    pub refolded_ops: u64,
    /// Ops lost from ledger stores in crashes and recovered from the gossip store.
    pub recovered_on_restart: u64,
    /// Ops a core refused as too far in the future, deferred, and held on a retry.
    pub deferred_held: u64,
    /// Honest clients.
    pub honest: HonestTally,
    /// Cheats carried out, by kind (a replay with nothing to replay pays validly instead).
    pub cheats: BTreeMap<Cheat, u64>,
    /// Valid payments made by malicious clients.
    pub malicious_payments: u64,
    /// What the network did.
    pub net: NetStats,
    /// The common final state digest.
    pub digest: [u8; 32],
}
