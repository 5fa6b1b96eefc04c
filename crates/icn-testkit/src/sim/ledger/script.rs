//! The random script of one ledger simulation run: currency creations, honest payments, credit
//! limit changes, cheats, partitions and restarts, all drawn from the run's seed.

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::{Cheat, LedgerSimConfig};
use crate::sim::net::NodeIdx;

/// Codes of the currencies a run may create, in creation order.
pub(crate) const CURRENCY_CODES: [&str; 2] = ["HOURS", "FOOD"];

/// Something that happens at a scheduled virtual time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// The node's client creates currency number `.1` (it becomes its issuer).
    CreateCurrency(NodeIdx, usize),
    /// The node's honest client pays someone (if the node is up).
    Pay(NodeIdx),
    /// The issuer of currency number `.0` raises someone's credit limit in it.
    RaiseLimit(usize),
    /// A malicious client cheats.
    Cheat(Cheat),
    /// The nodes split into two sides (`true`/`false`); links across are cut.
    Partition(Vec<bool>),
    /// The partition heals.
    Heal,
    /// The node crashes (its stores survive, minus the ledger store's unflushed tail).
    Down(NodeIdx),
    /// The node restarts from its stores.
    Up(NodeIdx),
}

/// A generated script.
pub(crate) struct Script {
    /// Events with their times, in no particular order.
    pub(crate) events: Vec<(u64, Event)>,
    /// Issuer (node) of each currency created, by currency number.
    pub(crate) issuers: Vec<NodeIdx>,
    /// When traffic has stopped, the last partition has healed and every node is up.
    pub(crate) quiet_at_ms: u64,
    /// Number of partition episodes.
    pub(crate) partitions: usize,
    /// Number of restarts.
    pub(crate) restarts: usize,
}

pub(crate) fn generate(config: &LedgerSimConfig, rng: &mut ChaCha8Rng) -> Script {
    let n = config.nodes.max(1);
    let traffic = config.traffic_ms.max(4_000);
    let mut events = Vec::new();
    let mut quiet_at_ms = traffic;

    // The first currency exists from the start; a second one may appear later, made by
    // another node, while payments in the first are under way.
    let mut issuers = vec![0];
    events.push((rng.gen_range(0..500), Event::CreateCurrency(0, 0)));
    if n > 1 && rng.gen_bool(config.second_currency_probability) {
        let issuer = rng.gen_range(1..n);
        issuers.push(issuer);
        events.push((
            rng.gen_range(500..traffic / 3),
            Event::CreateCurrency(issuer, 1),
        ));
    }

    for _ in 0..config.payments {
        events.push((
            rng.gen_range(1_000..traffic),
            Event::Pay(rng.gen_range(0..n)),
        ));
    }
    for _ in 0..config.limit_raises {
        let currency = rng.gen_range(0..issuers.len());
        events.push((rng.gen_range(1_000..traffic), Event::RaiseLimit(currency)));
    }
    if config.malicious_clients > 0 {
        for _ in 0..config.cheats {
            let cheat = *Cheat::STANDARD.choose(rng).unwrap_or(&Cheat::Overspend);
            events.push((rng.gen_range(1_000..traffic), Event::Cheat(cheat)));
        }
        for _ in 0..config.future_cheats {
            let at = rng.gen_range(1_000..traffic);
            events.push((at, Event::Cheat(Cheat::FutureTimestamp)));
        }
    }

    // Partition episodes, one per slot of the traffic window so they never overlap; each
    // one sees an equivocation aimed at both sides.
    let partitions = rng.gen_range(0..=config.max_partitions);
    if partitions > 0 {
        let slot = traffic / partitions as u64;
        for k in 0..partitions as u64 {
            let start = k * slot + rng.gen_range(0..=slot / 2);
            let heal = start + rng.gen_range(2_000..=(slot / 2).max(2_000));
            let mut sides: Vec<bool> = (0..n).map(|_| rng.r#gen()).collect();
            if sides.iter().all(|s| *s == sides[0]) && n > 1 {
                sides[0] = !sides[0];
            }
            events.push((start, Event::Partition(sides)));
            if config.malicious_clients > 0 {
                let during = start + rng.gen_range(200..=(heal - start) / 2);
                events.push((during, Event::Cheat(Cheat::Equivocation)));
            }
            events.push((heal, Event::Heal));
            quiet_at_ms = quiet_at_ms.max(heal);
        }
    }

    let restarts = rng.gen_range(0..=config.max_restarts);
    for _ in 0..restarts {
        let node = rng.gen_range(0..n);
        let down = rng.gen_range(0..traffic);
        let up = down + rng.gen_range(1_000..=10_000);
        events.push((down, Event::Down(node)));
        events.push((up, Event::Up(node)));
        quiet_at_ms = quiet_at_ms.max(up);
    }

    Script {
        events,
        issuers,
        quiet_at_ms,
        partitions,
        restarts,
    }
}
