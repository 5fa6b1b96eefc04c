//! The random script of one gossip simulation run: subscriptions, publications, partitions,
//! restarts, late subscriptions and attacks, all drawn from the run's seed.

use std::collections::BTreeSet;

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::gossip::GossipSimConfig;
use super::hostile::Attack;
use super::net::NodeIdx;

/// Something that happens at a scheduled virtual time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// The node publishes a random entry on one of its topics (if it is up).
    Publish(NodeIdx),
    /// The nodes split into two sides (`true`/`false`); links across are cut.
    Partition(Vec<bool>),
    /// The partition heals.
    Heal,
    /// The node crashes (its store survives).
    Down(NodeIdx),
    /// The node restarts from its store.
    Up(NodeIdx),
    /// The node subscribes to topic number `.1`.
    Subscribe(NodeIdx, usize),
    /// The malicious peer attacks.
    Hostile(Attack),
}

/// A generated script.
pub(crate) struct Scenario {
    /// Topic numbers each node subscribes to at start.
    pub(crate) subscriptions: Vec<BTreeSet<usize>>,
    /// Events with their times, in no particular order.
    pub(crate) events: Vec<(u64, Event)>,
    /// When traffic has stopped, the last partition has healed and every node is up.
    pub(crate) quiet_at_ms: u64,
    /// Number of partition episodes.
    pub(crate) partitions: usize,
    /// Number of restarts.
    pub(crate) restarts: usize,
}

pub(crate) fn generate(config: &GossipSimConfig, rng: &mut ChaCha8Rng) -> Scenario {
    let n = config.nodes;
    let traffic = config.traffic_ms.max(1);
    let subscriptions: Vec<BTreeSet<usize>> = (0..n)
        .map(|_| {
            let mut subs: BTreeSet<usize> = (0..config.topics)
                .filter(|_| rng.gen_bool(config.subscribe_probability))
                .collect();
            if subs.is_empty() {
                subs.insert(rng.gen_range(0..config.topics));
            }
            subs
        })
        .collect();
    let mut events = Vec::new();
    let mut quiet_at_ms = traffic;

    for _ in 0..config.entries {
        events.push((
            rng.gen_range(0..traffic),
            Event::Publish(rng.gen_range(0..n)),
        ));
    }

    for _ in 0..config.late_subscribes {
        let node = rng.gen_range(0..n);
        let missing: Vec<usize> = (0..config.topics)
            .filter(|t| !subscriptions[node].contains(t))
            .collect();
        if let Some(topic) = missing.choose(rng) {
            events.push((rng.gen_range(0..traffic), Event::Subscribe(node, *topic)));
        }
    }

    // Partition episodes, one per slot of the traffic window so they never overlap.
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

    if config.hostile {
        for attack in Attack::ALL {
            for _ in 0..2 {
                events.push((rng.gen_range(0..traffic), Event::Hostile(attack)));
            }
        }
    }

    Scenario {
        subscriptions,
        events,
        quiet_at_ms,
        partitions,
        restarts,
    }
}
