//! The deterministic simulator: protocol cores over a simulated network in virtual time, one
//! seed per run, properties checked on every run, and a one-line replay for any failing seed.
//!
//! # Layout
//! - [`net`]: [`SimNetwork`], a generic event queue of messages between numbered nodes, with
//!   latency, loss, duplication, reordering and links that go down and up (partitions,
//!   restarts), generic over the message type (both simulators carry gossip messages).
//! - `cluster`: honest gossip cores with stores that survive restarts over a [`SimNetwork`],
//!   links following liveness and partitions; shared by both simulators.
//! - [`gossip`]: [`GossipSim`], gossip cores with simulated stores, restarts and a malicious
//!   peer, and its properties (convergence, safety, bounded memory).
//! - [`ledger`]: [`LedgerSim`], ledger nodes (a gossip core replicating `icn/ledger` feeding a
//!   ledger core) with honest and malicious clients, restarts, and the ledger invariants
//!   checked after every insert; agreement and an independent recomputation at the end.
//! - `scenario`: the seeded script of a gossip run.
//! - `hostile`: the scripted malicious gossip peer ([`Attack`]).
//! - This module: running many seeds in parallel and printing replay commands.

mod cluster;
pub mod gossip;
mod hostile;
pub mod ledger;
pub mod net;
mod scenario;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use gossip::{GossipSim, GossipSimConfig, GossipSimReport};
pub use hostile::Attack;
pub use ledger::{Cheat, HonestTally, LedgerSim, LedgerSimConfig, LedgerSimReport};
pub use net::{Delivery, LinkConfig, NetStats, NodeIdx, SimNetwork};

/// Environment variable naming one seed to run alone (a replay).
pub const SEED_VAR: &str = "ICN_SIM_SEED";

/// Environment variable overriding how many seeds a property runs.
pub const SEEDS_VAR: &str = "ICN_SIM_SEEDS";

/// The seeds to run: the one in [`SEED_VAR`] if set, else `0..n` where `n` comes from
/// [`SEEDS_VAR`] or defaults to `default_count`.
///
/// # Errors
/// When a variable is set but is not a number.
pub fn seeds_from_env(default_count: u64) -> Result<Vec<u64>, String> {
    let parse = |var: &str| -> Result<Option<u64>, String> {
        match std::env::var(var) {
            Ok(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|e| format!("{var}={v}: {e}")),
            Err(_) => Ok(None),
        }
    };
    if let Some(seed) = parse(SEED_VAR)? {
        return Ok(vec![seed]);
    }
    let n = parse(SEEDS_VAR)?.unwrap_or(default_count);
    Ok((0..n).collect())
}

/// The command that replays `seed` for the integration test named `test`.
pub fn replay_command(test: &str, seed: u64) -> String {
    format!("{SEED_VAR}={seed} cargo test -p icn-testkit --test it {test} -- --nocapture")
}

/// Runs `run` for every seed on all cores and returns the results in seed order. A seed that
/// fails (an error or a panic) is printed as `seed=<n>: <why>` with its replay command.
///
/// # Errors
/// A summary naming every failing seed.
pub fn run_seeds<R: Send>(
    test: &str,
    seeds: &[u64],
    run: impl Fn(u64) -> Result<R, String> + Sync,
) -> Result<Vec<(u64, R)>, String> {
    let threads = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .min(seeds.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(u64, Result<R, String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(k) else {
                        break;
                    };
                    let result = catch_unwind(AssertUnwindSafe(|| run(seed)))
                        .unwrap_or_else(|panic| Err(format!("panicked: {}", panic_text(&*panic))));
                    results
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .push((seed, result));
                }
            });
        }
    });
    let mut results = results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    results.sort_by_key(|(seed, _)| *seed);
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for (seed, result) in results {
        match result {
            Ok(r) => ok.push((seed, r)),
            Err(why) => {
                println!(
                    "seed={seed}: {why}\n  replay: {}",
                    replay_command(test, seed)
                );
                failed.push(seed);
            }
        }
    }
    if failed.is_empty() {
        Ok(ok)
    } else {
        Err(format!(
            "{} of {} seeds failed: {failed:?}; replay one with `{}`",
            failed.len(),
            seeds.len(),
            replay_command(test, failed[0])
        ))
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic".to_string()
    }
}
