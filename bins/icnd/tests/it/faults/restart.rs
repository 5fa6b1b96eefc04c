//! kill -9 and SIGTERM of one node of three while a client streams publishes and payments.

use std::time::{Duration, Instant};

use icn_testkit::{Metrics, ProcessCluster};
use nix::sys::signal::Signal;

use super::load::{self, Load};
use super::{runtime, wait_converged};
use crate::icnd;

/// The node that is stopped and restarted.
const VICTIM: usize = 1;

/// What a fault-under-load run saw, for the report.
struct Run {
    cluster: ProcessCluster,
    /// The victim's first page after the restart.
    page_after: Metrics,
    /// The victim's page just before the fault.
    page_before: Metrics,
    /// How the victim exited.
    status: std::process::ExitStatus,
    /// How long the victim took to exit.
    exit_time: Duration,
    /// The stderr of the victim's run that received the signal.
    stderr_of_stopped_run: String,
}

/// Starts 3 nodes, streams load, stops [`VICTIM`] with `signal` mid-stream, restarts it on the
/// same data dir, and checks that every acknowledged entry and payment is on every node.
fn fault_under_load(signal: Signal) -> anyhow::Result<Run> {
    let rt = runtime();
    let mut cluster = ProcessCluster::start(icnd(), 3)?;
    rt.block_on(cluster.wait_connected(Duration::from_secs(30)))?;
    rt.block_on(load::setup_currency(&cluster))?;
    let load = rt.block_on(async { Load::start(&cluster) });
    rt.block_on(load.wait_for_acks(VICTIM, 30))?;

    let page_before = rt.block_on(cluster.scrape(VICTIM))?;
    let signalled = Instant::now();
    let status = cluster.stop(VICTIM, signal, Duration::from_secs(5))?;
    let exit_time = signalled.elapsed();
    let stderr_of_stopped_run = cluster.stderr(VICTIM);
    // The others keep acknowledging while the victim is down; calls to it fail.
    let failed_before = load.failed(VICTIM);
    for i in (0..cluster.len()).filter(|&i| i != VICTIM) {
        rt.block_on(load.wait_for_acks(i, 20))?;
    }
    anyhow::ensure!(
        load.failed(VICTIM) > failed_before,
        "no call to the stopped node failed"
    );

    // First page of the new process, before any client call reaches its RPC.
    rt.block_on(load.pause(VICTIM))?;
    cluster.start_node(VICTIM)?;
    let page_after = rt.block_on(cluster.scrape(VICTIM))?;
    load.resume(VICTIM);
    rt.block_on(load.wait_for_acks(VICTIM, 20))?;
    let acked = rt.block_on(load.finish())?;
    let took = rt.block_on(wait_converged(&cluster, &acked, Duration::from_secs(40)))?;

    let entries: usize = acked.iter().map(|a| a.entries.len()).sum();
    let payments: usize = acked.iter().map(|a| a.payments.len()).sum();
    let failed: usize = acked.iter().map(|a| a.failed).sum();
    println!(
        "FAULTS {signal:?} under load: exit {status} after {exit_time:?}; acknowledged \
         {entries} entries and {payments} payments ({failed} calls failed); all on every node, \
         digests equal, {took:?} after the load stopped"
    );
    Ok(Run {
        cluster,
        page_after,
        page_before,
        status,
        exit_time,
        stderr_of_stopped_run,
    })
}

/// Every catalogue metric is on the page with HELP and TYPE.
fn assert_complete_page(page: &Metrics) {
    for def in icn_obs::CATALOGUE {
        assert!(page.help(def.name).is_some(), "no HELP for {}", def.name);
        assert_eq!(
            page.type_of(def.name),
            Some(def.kind.as_str()),
            "TYPE of {}",
            def.name
        );
    }
}

/// The restarted node's first page comes from a new process with counters from zero.
fn assert_metrics_restarted(run: &Run) {
    let (before, after) = (&run.page_before, &run.page_after);
    assert_complete_page(after);
    assert!(
        after.get("process_start_time_seconds") >= before.get("process_start_time_seconds"),
        "start time went back"
    );
    assert!(after.get("icn_system_uptime_seconds") < before.get("icn_system_uptime_seconds"));
    // Thousands of calls before; none has reached the new process yet.
    assert!(before.sum("icn_rpc_requests_total") > 10.0);
    assert_eq!(after.sum("icn_rpc_requests_total"), 0.0);
    assert!(before.get("icn_gossip_entries_published_total") > 10.0);
    // At most the one own ledger op a crash left out of the gossip store is republished at start.
    assert!(
        after.get("icn_gossip_entries_published_total") <= 1.0,
        "{}",
        after.get("icn_gossip_entries_published_total")
    );
    // Gauges come back from the stores: nothing the victim held is forgotten.
    assert!(
        after.get("icn_gossip_entries_total") >= before.get("icn_gossip_entries_total"),
        "entries {} after, {} before",
        after.get("icn_gossip_entries_total"),
        before.get("icn_gossip_entries_total")
    );
    assert_eq!(after.get("icn_ledger_currencies_total"), 1.0);
}

#[test]
fn kill_9_under_load_loses_nothing_acknowledged() {
    let run = fault_under_load(Signal::SIGKILL).unwrap();
    assert_eq!(run.status.code(), None, "killed by a signal");
    assert_metrics_restarted(&run);
    drop(run.cluster);
}

#[test]
fn sigterm_under_load_exits_zero_quietly_and_loses_nothing() {
    let run = fault_under_load(Signal::SIGTERM).unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", run.cluster.all_stderr());
    assert!(
        run.exit_time < Duration::from_secs(5),
        "{:?}",
        run.exit_time
    );
    let stderr = &run.stderr_of_stopped_run;
    assert!(stderr.contains("SIGTERM"), "{stderr}");
    // A graceful stop is quiet everywhere: the stopped node logs only INFO, and its peers see
    // a peer leave ("peer disconnected", INFO), which is not a problem worth a warning.
    let all = run.cluster.all_stderr();
    let loud: Vec<&str> = stderr
        .lines()
        .chain(all.lines())
        .filter(|l| l.contains(" ERROR ") || l.contains(" WARN "))
        .collect();
    assert!(loud.is_empty(), "ERROR/WARN lines on SIGTERM: {loud:#?}");
    assert_metrics_restarted(&run);
}
