//! `icnctl`, the operator CLI of an ICN node: drives a running node over its local control API.
//!
//! The node's data directory is all it needs: the API address is read from `rpc.addr` and the
//! token from `rpc.token` there (both overridable). Commands: node (`status`, `peers`, `dial`),
//! gossip (`publish`, `entries`, `subscribe`, `unsubscribe`, `topics`) and ledger (`currency
//! create`, `credit-limit set`, `pay`, `balance`, `history`, `ledger digest`), plus `top`, a
//! live terminal view of one or many nodes read from their `/metrics` pages. Human-readable
//! output by default, the API's JSON with `--json` (NDJSON for the entries `subscribe` streams).
//! Any failure prints `icnctl: error: <message>` on stderr and exits 1.
//!
//! # Layout
//! - [`cli`]: the command line (clap).
//! - [`commands`]: one function per subcommand: call the node, print the answer (`subscribe`
//!   keeps printing streamed entries until Ctrl-C).
//! - [`output`]: human-readable rendering (key/value lines, aligned tables, entry lines, times,
//!   durations).
//! - [`top`]: `icnctl top` (scraping, a pure model of rates and agreement, ratatui rendering).

mod cli;
mod commands;
mod output;
mod top;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(&cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("icnctl: error: {}", output::error_chain(&error));
            ExitCode::FAILURE
        }
    }
}
