//! `icn-bench`: runs ICN's cluster benchmarks and prints a table, or one JSON object with
//! `--json`. See the `icn_bench` library for the scenarios.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use icn_bench::{Progress, Scenario, Settings};

/// ICN cluster benchmarks: propagation, throughput against raw quinn, ledger, metrics,
/// footprint, and (feature `libp2p`) rust-libp2p gossipsub beside ICN. Numbers only; compare
/// ratios within one run.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Few samples of every scenario (under 3 minutes on 2 cores).
    #[arg(long)]
    quick: bool,
    /// Print one JSON object on stdout instead of a table.
    #[arg(long)]
    json: bool,
    /// Run one scenario only (for profiling); the report leaves the others out.
    #[arg(long, value_enum)]
    only: Option<Scenario>,
    #[command(subcommand)]
    command: Option<Internal>,
}

#[derive(Subcommand)]
enum Internal {
    /// Runs idle nodes until stdin closes (spawned by the footprint scenario).
    #[command(hide = true)]
    IdleNodes {
        /// How many nodes.
        count: usize,
        /// Data directory of the nodes.
        data_dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(Internal::IdleNodes { count, data_dir }) = args.command {
        return icn_bench::footprint::idle_nodes_main(count, data_dir);
    }
    let (mode, settings) = if args.quick {
        ("quick", Settings::quick())
    } else {
        ("full", Settings::full())
    };
    let exe = std::env::current_exe().context("cannot locate this binary")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let progress = Progress::stderr();
    let report = runtime.block_on(icn_bench::run_only(
        mode, &settings, &exe, &progress, args.only,
    ))?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}
