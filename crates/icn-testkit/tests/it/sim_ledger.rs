//! Ledger simulator runs: the invariants after every insert and agreement at the end, on 200
//! seeds by default; fewer seeds each for honest clients alone, a lossy network and more
//! future-dated ops; and determinism.
//!
//! `ICN_SIM_SEEDS=<n>` changes the number of seeds, `ICN_SIM_SEED=<n>` replays one; a failing
//! seed prints `seed=<n>` and its replay command.

use std::collections::BTreeMap;
use std::time::Instant;

use icn_ledger::RejectKind;
use icn_testkit::sim::{self, Cheat, LedgerSim, LedgerSimConfig, LedgerSimReport, LinkConfig};

const SEEDS: u64 = 200;

/// Runs `config` on the seeds; `test` is the filter that replays one.
fn run_all(
    name: &str,
    test: &str,
    seeds: u64,
    config: &LedgerSimConfig,
) -> Vec<(u64, LedgerSimReport)> {
    let seeds = sim::seeds_from_env(seeds).expect("seed variables");
    let started = Instant::now();
    let reports = sim::run_seeds(test, &seeds, |seed| {
        LedgerSim::new(config.clone(), seed).run()
    })
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    summarize(name, &reports, started);
    reports
}

fn summarize(name: &str, reports: &[(u64, LedgerSimReport)], started: Instant) {
    let n = reports.len().max(1);
    let sum = |f: &dyn Fn(&LedgerSimReport) -> u64| reports.iter().map(|(_, r)| f(r)).sum::<u64>();
    let worst = reports
        .iter()
        .map(|(_, r)| r.converged_after_ms)
        .max()
        .unwrap_or(0);
    let mut rejected: BTreeMap<RejectKind, u64> = BTreeMap::new();
    let mut refused: BTreeMap<RejectKind, u64> = BTreeMap::new();
    let mut cheats: BTreeMap<Cheat, u64> = BTreeMap::new();
    for (_, r) in reports {
        for (k, v) in &r.rejected {
            *rejected.entry(*k).or_default() += v;
        }
        for (k, v) in &r.refused {
            *refused.entry(*k).or_default() += v;
        }
        for (k, v) in &r.cheats {
            *cheats.entry(*k).or_default() += v;
        }
    }
    println!(
        "{name}: {} seeds in {:.2?}; converged {} ms after quiet on average, {worst} ms at \
         worst;\n  {} ops held ({} applied transfers), {} equivocations, {} replays ({} ops \
         refolded), {} restarts ({} ops recovered from gossip), {} partitions, {} messages, {} \
         deferred future-dated ops held later;\n  \
         honest: {} made, {} applied, {} displaced, {} overspends refused locally, {} skipped \
         (node down);\n  cheats {cheats:?}, {} valid malicious payments;\n  rejected \
         {rejected:?};\n  refused {refused:?}",
        reports.len(),
        started.elapsed(),
        sum(&|r| r.converged_after_ms) / n as u64,
        sum(&|r| r.ops as u64),
        sum(&|r| r.applied_transfers),
        sum(&|r| r.equivocations),
        sum(&|r| r.replays),
        sum(&|r| r.refolded_ops),
        sum(&|r| r.restarts_done),
        sum(&|r| r.recovered_on_restart),
        sum(&|r| r.partitions as u64),
        sum(&|r| r.net.sent),
        sum(&|r| r.deferred_held),
        sum(&|r| r.honest.made),
        sum(&|r| r.honest.applied),
        sum(&|r| r.honest.displaced),
        sum(&|r| r.honest.refused_locally),
        sum(&|r| r.honest.skipped),
        sum(&|r| r.malicious_payments),
    );
}

#[test]
fn sim_ledger_keeps_invariants_and_agrees() {
    let reports = run_all(
        "default",
        "sim_ledger_keeps",
        SEEDS,
        &LedgerSimConfig::default(),
    );
    // With enough seeds, every behaviour was met.
    if reports.len() >= 20 {
        let any = |f: &dyn Fn(&LedgerSimReport) -> bool| reports.iter().any(|(_, r)| f(r));
        for cheat in Cheat::STANDARD {
            assert!(
                any(&|r| r.cheats.contains_key(&cheat)),
                "no seed cheated with {cheat:?}"
            );
        }
        for kind in [
            RejectKind::BadSignature,
            RejectKind::AuthorMismatch,
            RejectKind::FutureTimestamp,
        ] {
            assert!(
                any(&|r| r.refused.contains_key(&kind)),
                "no seed refused {kind}"
            );
        }
        for kind in [
            RejectKind::Equivocation,
            RejectKind::OverLimit,
            RejectKind::BadSeq,
        ] {
            assert!(
                any(&|r| r.rejected.contains_key(&kind)),
                "no seed rejected {kind}"
            );
        }
        assert!(
            any(&|r| r.honest.displaced > 0),
            "no cheat ever displaced an honest op"
        );
        assert!(any(&|r| r.replays > 0));
        assert!(any(&|r| r.deferred_held > 0));
        assert!(any(&|r| r.recovered_on_restart > 0));
        assert!(any(&|r| r.restarts_done > 0 && r.partitions > 0));
        assert!(any(&|r| r.currencies == 2));
    }
}

#[test]
fn sim_ledger_honest_clients_alone_are_never_displaced() {
    let config = LedgerSimConfig {
        malicious_clients: 0,
        ..LedgerSimConfig::default()
    };
    let test = "sim_ledger_honest";
    for (seed, r) in run_all("honest only", test, SEEDS / 8, &config) {
        let why = sim::replay_command(test, seed);
        assert_eq!(r.honest.applied, r.honest.made, "seed={seed}: {why}");
        assert_eq!(r.equivocations, 0, "seed={seed}: {why}");
    }
}

#[test]
fn sim_ledger_survives_a_lossy_network() {
    let config = LedgerSimConfig {
        nodes: 5,
        cheats: 16,
        max_partitions: 3,
        max_restarts: 5,
        link: LinkConfig {
            min_latency_ms: 1,
            max_latency_ms: 800,
            loss: 0.2,
            duplicate: 0.1,
        },
        ..LedgerSimConfig::default()
    };
    run_all("lossy", "sim_ledger_survives", SEEDS / 8, &config);
}

/// More ops dated near the clock-skew bound, over a traffic phase longer than the bound, so
/// that restarts happen after such ops became acceptable (`LedgerSimConfig::future_cheats`).
#[test]
fn sim_ledger_future_dated_ops_still_converge() {
    let config = LedgerSimConfig {
        future_cheats: 4,
        traffic_ms: 100_000,
        ..LedgerSimConfig::default()
    };
    let reports = run_all("future-dated ops", "sim_ledger_future", SEEDS / 8, &config);
    if reports.len() >= 10 {
        assert!(reports.iter().any(|(_, r)| r.deferred_held > 0));
    }
}

#[test]
fn sim_ledger_is_deterministic() {
    let seeds = sim::seeds_from_env(3).expect("seed variables");
    for seed in seeds.into_iter().take(3) {
        let first = LedgerSim::new(LedgerSimConfig::default(), seed).run();
        let second = LedgerSim::new(LedgerSimConfig::default(), seed).run();
        assert_eq!(
            first,
            second,
            "seed={seed}: {}",
            sim::replay_command("sim_ledger", seed)
        );
        let report = first.unwrap_or_else(|e| panic!("seed={seed}: {e}"));
        assert!(report.ops > 0 && report.net.sent > 0);
    }
}
