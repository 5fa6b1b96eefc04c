//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

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
    /// Publish an entry on a topic; prints its id.
    Publish {
        /// The topic.
        topic: String,
        /// The payload, as text.
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        data: Option<String>,
        /// Read the payload from FILE instead (`-` for standard input).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// List the latest entries of a topic, oldest first.
    Entries {
        /// The topic.
        topic: String,
        /// At most N entries (the node's default is 100, its maximum 10000).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Join a topic, then print its new entries as they arrive, until Ctrl-C.
    Subscribe {
        /// The topic.
        topic: String,
    },
    /// Leave a topic.
    Unsubscribe {
        /// The topic.
        topic: String,
    },
    /// List the joined topics.
    Topics,
    /// Manage currencies.
    #[command(subcommand)]
    Currency(CurrencyCommand),
    /// Manage credit limits.
    #[command(subcommand)]
    CreditLimit(CreditLimitCommand),
    /// Pay from the node's account.
    Pay {
        /// The currency code.
        currency: String,
        /// The payee's DID.
        to: String,
        /// How much (a whole number greater than zero).
        amount: u64,
        /// A note stored with the payment.
        #[arg(long, value_name = "TEXT", default_value = "")]
        memo: String,
    },
    /// Show balances.
    Balance {
        /// Only this currency (default: all).
        currency: Option<String>,
        /// This account's DID (default: the node's own).
        #[arg(long, value_name = "DID")]
        account: Option<String>,
    },
    /// Show the ledger ops concerning an account.
    History {
        /// This account's DID (default: the node's own).
        #[arg(long, value_name = "DID")]
        account: Option<String>,
    },
    /// Inspect the ledger.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Watch nodes live: peers, message and entry rates, ledger transfers and digest agreement,
    /// RPC p99, memory (read from their /metrics pages). q, Esc or Ctrl-C quits.
    Top(TopArgs),
}

/// `icnctl top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Metrics addresses to watch, comma-separated: host:port, http://host:port/metrics or
    /// https://host:port/metrics (default: the address in DIR/metrics.addr).
    #[arg(long, value_name = "ADDR,...", value_delimiter = ',')]
    pub nodes: Vec<String>,

    /// File holding the bearer token of the nodes' metrics endpoints (their
    /// --metrics-token-file).
    #[arg(long, value_name = "FILE")]
    pub metrics_token_file: Option<PathBuf>,

    /// PEM file of a CA to trust for https:// nodes, besides the system's roots.
    #[arg(long, value_name = "FILE")]
    pub metrics_ca: Option<PathBuf>,

    /// Time between scrapes.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,

    /// Print one frame as text and exit (two scrapes INTERVAL apart, so rates exist); with
    /// --json, the numbers as JSON.
    #[arg(long)]
    pub once: bool,

    /// Width of the --once frame, in columns.
    #[arg(long, value_name = "N", default_value_t = 120, value_parser = clap::value_parser!(u16).range(1..))]
    pub width: u16,

    /// Height of the --once frame, in lines.
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u16).range(1..))]
    pub height: u16,
}

/// A humantime duration (`1s`, `500ms`) greater than zero.
fn parse_interval(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(interval) if interval.is_zero() => Err("must be more than zero".into()),
        Ok(interval) => Ok(interval),
        Err(error) => Err(error.to_string()),
    }
}

/// `icnctl currency ...`.
#[derive(Debug, Subcommand)]
pub enum CurrencyCommand {
    /// Create a currency issued by the node.
    Create {
        /// The currency code, e.g. HOUR.
        code: String,
        /// Default credit limit of every account: balances may go down to -N.
        #[arg(long, value_name = "N")]
        limit: u64,
    },
}

/// `icnctl credit-limit ...`.
#[derive(Debug, Subcommand)]
pub enum CreditLimitCommand {
    /// Set an account's credit limit in a currency the node issues.
    Set {
        /// The currency code.
        currency: String,
        /// The account's DID.
        account: String,
        /// The new limit: the balance may go down to -LIMIT.
        limit: u64,
    },
}

/// `icnctl ledger ...`.
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Show the state digest (equal on nodes holding the same ops) and op counts.
    Digest,
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

    #[test]
    fn publish_takes_data_or_a_file_but_not_both() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["icnctl", "publish"], args].concat());
        assert!(matches!(
            parse(&["news", "hi"]).map(|c| c.command),
            Ok(Command::Publish { data: Some(d), file: None, .. }) if d == "hi"
        ));
        assert!(matches!(
            parse(&["news", "--file", "x.bin"]).map(|c| c.command),
            Ok(Command::Publish {
                data: None,
                file: Some(_),
                ..
            })
        ));
        assert!(parse(&["news"]).is_err());
        assert!(parse(&["news", "hi", "--file", "x.bin"]).is_err());
    }

    #[test]
    fn nested_ledger_commands_parse() {
        let cli = Cli::try_parse_from(["icnctl", "currency", "create", "HOUR", "--limit", "100"]);
        assert!(matches!(
            cli.map(|c| c.command),
            Ok(Command::Currency(CurrencyCommand::Create { code, limit: 100 })) if code == "HOUR"
        ));
        let cli = Cli::try_parse_from(["icnctl", "credit-limit", "set", "HOUR", "did:icn:x", "5"]);
        assert!(matches!(
            cli.map(|c| c.command),
            Ok(Command::CreditLimit(CreditLimitCommand::Set {
                limit: 5,
                ..
            }))
        ));
        let cli = Cli::try_parse_from(["icnctl", "ledger", "digest", "--json"]);
        assert!(matches!(
            cli.map(|c| c.command),
            Ok(Command::Ledger(LedgerCommand::Digest))
        ));
        // A negative amount is refused by the command line already.
        assert!(Cli::try_parse_from(["icnctl", "pay", "HOUR", "did:icn:x", "-5"]).is_err());
    }

    #[test]
    fn top_takes_nodes_an_interval_and_a_frame_size() {
        let cli = Cli::try_parse_from([
            "icnctl",
            "top",
            "--nodes",
            "127.0.0.1:9090,127.0.0.1:9091",
            "--nodes",
            "http://h:1/metrics",
            "--interval",
            "250ms",
            "--once",
            "--json",
        ]);
        let Ok(Cli {
            json: true,
            command: Command::Top(args),
            ..
        }) = cli
        else {
            panic!("parse failed: {cli:?}");
        };
        assert_eq!(
            args.nodes,
            ["127.0.0.1:9090", "127.0.0.1:9091", "http://h:1/metrics"]
        );
        assert_eq!(args.interval, Duration::from_millis(250));
        assert!(args.once);
        assert_eq!((args.width, args.height), (120, 30));

        let defaults = Cli::try_parse_from(["icnctl", "top"]).map(|c| c.command);
        assert!(matches!(
            defaults,
            Ok(Command::Top(TopArgs { ref nodes, interval, once: false, .. }))
                if nodes.is_empty() && interval == Duration::from_secs(1)
        ));
        assert!(Cli::try_parse_from(["icnctl", "top", "--interval", "0s"]).is_err());
        assert!(Cli::try_parse_from(["icnctl", "top", "--width", "0"]).is_err());
    }
}
