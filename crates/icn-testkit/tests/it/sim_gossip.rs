//! Gossip simulator runs: every property on many seeds, and determinism.
//!
//! `ICN_SIM_SEEDS=<n>` changes the number of seeds, `ICN_SIM_SEED=<n>` replays one; a failing
//! seed prints its replay command.

use std::collections::BTreeMap;
use std::time::Instant;

use icn_gossip::RejectReason;
use icn_gossip::proto::DropReason;
use icn_testkit::sim::{self, GossipSim, GossipSimConfig, GossipSimReport, LinkConfig};

const SEEDS: u64 = 200;

fn run_all(name: &str, config: &GossipSimConfig) -> Vec<(u64, GossipSimReport)> {
    let seeds = sim::seeds_from_env(SEEDS).expect("seed variables");
    let started = Instant::now();
    let reports = sim::run_seeds("sim_gossip", &seeds, |seed| {
        GossipSim::new(config.clone(), seed).run()
    })
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    summarize(name, &reports, started);
    reports
}

fn summarize(name: &str, reports: &[(u64, GossipSimReport)], started: Instant) {
    let n = reports.len().max(1) as u64;
    let worst = reports
        .iter()
        .map(|(_, r)| r.converged_after_ms)
        .max()
        .unwrap_or(0);
    let mean = reports
        .iter()
        .map(|(_, r)| r.converged_after_ms)
        .sum::<u64>()
        / n;
    let sent: u64 = reports.iter().map(|(_, r)| r.net.sent).sum();
    let published: usize = reports.iter().map(|(_, r)| r.published).sum();
    let mut rejected: BTreeMap<RejectReason, u64> = BTreeMap::new();
    let mut dropped: BTreeMap<DropReason, u64> = BTreeMap::new();
    for (_, r) in reports {
        for (reason, count) in &r.rejected {
            *rejected.entry(*reason).or_default() += count;
        }
        for (reason, count) in &r.dropped {
            *dropped.entry(*reason).or_default() += count;
        }
    }
    println!(
        "{name}: {} seeds in {:.2?}; converged {mean} ms after quiet on average, {worst} ms at \
         worst; {published} entries published, {sent} messages sent;\n  rejected {rejected:?};\n  \
         dropped {dropped:?}",
        reports.len(),
        started.elapsed()
    );
}

#[test]
fn sim_gossip_converges_safely_within_caps() {
    let reports = run_all("default", &GossipSimConfig::default());
    // With enough seeds, every kind of hostile entry was met and rejected.
    if reports.len() >= 20 {
        let seen = |reason: RejectReason| {
            reports
                .iter()
                .any(|(_, r)| r.rejected.contains_key(&reason))
        };
        for reason in [
            RejectReason::BadSignature,
            RejectReason::PayloadTooLarge,
            RejectReason::FutureTimestamp,
            RejectReason::Unsolicited,
            RejectReason::NotSubscribed,
        ] {
            assert!(seen(reason), "no seed exercised {reason}");
        }
        assert!(
            reports
                .iter()
                .any(|(_, r)| r.restarts > 0 && r.partitions > 0)
        );
        assert!(reports.iter().any(|(_, r)| r.anti_entropy_recovered > 0));
    }
}

#[test]
fn sim_gossip_survives_a_hostile_network() {
    let config = GossipSimConfig {
        nodes: 5,
        entries: 60,
        max_partitions: 3,
        max_restarts: 4,
        link: LinkConfig {
            min_latency_ms: 1,
            max_latency_ms: 800,
            loss: 0.2,
            duplicate: 0.1,
        },
        ..GossipSimConfig::default()
    };
    run_all("lossy", &config);
}

#[test]
fn sim_gossip_is_deterministic() {
    let seeds = sim::seeds_from_env(3).expect("seed variables");
    for seed in seeds.into_iter().take(3) {
        let first = GossipSim::new(GossipSimConfig::default(), seed).run();
        let second = GossipSim::new(GossipSimConfig::default(), seed).run();
        assert_eq!(
            first,
            second,
            "seed={seed}: {}",
            sim::replay_command("sim_gossip", seed)
        );
        let report = first.unwrap_or_else(|e| panic!("seed={seed}: {e}"));
        assert!(report.net.sent > 0);
    }
}
