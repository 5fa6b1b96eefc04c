//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Control a running ICN node through its local RPC API.
#[derive(Debug, Parser)]
#[command(name = "icnctl", version, about)]
pub struct Cli {
    /// The node's data directory (holds rpc.addr and rpc.token).
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "ICN_DATA_DIR",
        default_value = "icn-data"
    )]
    pub data_dir: PathBuf,

    /// RPC address of the node, instead of the one in DIR/rpc.addr.
    #[arg(long, global = true, value_name = "ADDR")]
    pub rpc_addr: Option<SocketAddr>,

    /// Token file, instead of DIR/rpc.token.
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Print the API's JSON answer instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the node's identity, version, uptime and peer count.
    Status,
    /// List connected peers.
    Peers,
    /// Connect to a peer.
    Dial {
        /// `did:icn:...@host:port` (the peer must prove that DID) or `host:port`.
        target: String,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_after_the_subcommand_too() {
        let cli = Cli::try_parse_from([
            "icnctl",
            "dial",
            "127.0.0.1:4000",
            "--json",
            "--data-dir",
            "/tmp/n1",
            "--rpc-addr",
            "127.0.0.1:9999",
        ]);
        let Ok(cli) = cli else {
            panic!("parse failed: {cli:?}");
        };
        assert!(cli.json);
        assert_eq!(cli.data_dir, PathBuf::from("/tmp/n1"));
        assert_eq!(cli.rpc_addr.map(|a| a.port()), Some(9999));
        assert!(matches!(cli.command, Command::Dial { target } if target == "127.0.0.1:4000"));
    }
}
