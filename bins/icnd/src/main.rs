//! `icnd`, the ICN node daemon.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use icn_core::{ConfigOverrides, Node, NodeConfig};
use icn_identity::{KdfParams, Keypair, Keystore, resolve_passphrase};
use icn_obs::logging::LogFormat;

/// The ICN node daemon.
#[derive(Debug, Parser)]
#[command(name = "icnd", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the node's identity (encrypted keystore) and print its DID.
    Init(InitArgs),
    /// Run a node until SIGINT or SIGTERM.
    Run(Box<RunArgs>),
    /// Print the metric catalogue.
    Metrics {
        /// As the Markdown reference table (docs/metrics.md).
        #[arg(long)]
        markdown: bool,
    },
}

/// Options of `icnd init`.
#[derive(Debug, Args)]
struct InitArgs {
    /// Data directory to create the identity in [env: ICN_DATA_DIR].
    #[arg(long, env = "ICN_DATA_DIR", default_value = "icn-data")]
    data_dir: PathBuf,
    /// File holding the passphrase [env: ICN_PASSPHRASE_FILE]; otherwise prompt on a terminal.
    #[arg(long)]
    password_file: Option<PathBuf>,
}

/// Options of `icnd run`. Each overrides the config file and the matching `ICN_*` variable.
#[derive(Debug, Args)]
struct RunArgs {
    /// Data directory (identity, stores, runtime files) [env: ICN_DATA_DIR].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Metrics/health listen address, default 127.0.0.1:9090 [env: ICN_METRICS_ADDR].
    #[arg(long)]
    metrics_addr: Option<SocketAddr>,
    /// Path of the Prometheus page, default /metrics [env: ICN_METRICS_PATH].
    #[arg(long)]
    metrics_path: Option<String>,
    /// Do not serve metrics [env: ICN_METRICS_ENABLED=false].
    #[arg(long)]
    no_metrics: bool,
    /// Gauge refresh interval, e.g. 10s [env: ICN_METRICS_REFRESH_INTERVAL].
    #[arg(long, value_parser = humantime::parse_duration)]
    metrics_refresh_interval: Option<Duration>,
    /// File holding the bearer token scrapers must send (mode 0600) [env: ICN_METRICS_TOKEN_FILE].
    #[arg(long)]
    metrics_token_file: Option<PathBuf>,
    /// Also require the token on /health and /ready (/healthz stays open)
    /// [env: ICN_METRICS_AUTH_ALL].
    #[arg(long)]
    metrics_auth_all: bool,
    /// PEM certificate chain: serve metrics over HTTPS (with --metrics-tls-key)
    /// [env: ICN_METRICS_TLS_CERT].
    #[arg(long)]
    metrics_tls_cert: Option<PathBuf>,
    /// PEM private key for --metrics-tls-cert [env: ICN_METRICS_TLS_KEY].
    #[arg(long)]
    metrics_tls_key: Option<PathBuf>,
    /// Log format: pretty or json [env: ICN_LOG_FORMAT].
    #[arg(long)]
    log_format: Option<LogFormat>,
    /// Log filter, e.g. info or icn_net=debug,info (default: RUST_LOG, then info) [env: ICN_LOG_LEVEL].
    #[arg(long)]
    log_level: Option<String>,
    /// File holding the keystore passphrase [env: ICN_PASSPHRASE_FILE]; otherwise prompt on a
    /// terminal.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Control API address, default 127.0.0.1:7778 [env: ICN_RPC_ADDR].
    #[arg(long)]
    rpc_addr: Option<SocketAddr>,
    /// QUIC listen address, default 0.0.0.0:7777 [env: ICN_NETWORK_LISTEN].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Peer to dial and keep dialing: did:icn:...@IP:PORT or IP:PORT (repeatable)
    /// [env: ICN_NETWORK_BOOTSTRAP, comma-separated].
    #[arg(long)]
    bootstrap: Vec<String>,
    /// Advertise this node and find peers on the local link with mDNS [env: ICN_NETWORK_MDNS].
    #[arg(long)]
    mdns: bool,
    /// Restrict mDNS to this interface, e.g. eth0 (repeatable; default: all)
    /// [env: ICN_NETWORK_MDNS_INTERFACES, comma-separated].
    #[arg(long)]
    mdns_interface: Vec<String>,
}

impl RunArgs {
    fn overrides(&self) -> ConfigOverrides {
        ConfigOverrides {
            data_dir: self.data_dir.clone(),
            metrics_addr: self.metrics_addr,
            metrics_path: self.metrics_path.clone(),
            no_metrics: self.no_metrics,
            metrics_refresh_interval: self.metrics_refresh_interval,
            metrics_token_file: self.metrics_token_file.clone(),
            metrics_auth_all: self.metrics_auth_all,
            metrics_tls_cert: self.metrics_tls_cert.clone(),
            metrics_tls_key: self.metrics_tls_key.clone(),
            log_format: self.log_format,
            log_level: self.log_level.clone(),
            listen: self.listen,
            bootstrap: self.bootstrap.clone(),
            rpc_addr: self.rpc_addr,
            mdns: self.mdns,
            mdns_interfaces: self.mdns_interface.clone(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init(args) => init(&args),
        Command::Run(args) => run(&args),
        Command::Metrics { markdown } => {
            print_catalogue(markdown);
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("icnd: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_catalogue(markdown: bool) {
    if markdown {
        print!("{}", icn_obs::reference::markdown());
    } else {
        for def in icn_obs::CATALOGUE {
            println!("{} {}", def.name, def.kind.as_str());
        }
    }
}

fn passphrase_env() -> Option<PathBuf> {
    std::env::var_os("ICN_PASSPHRASE_FILE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn init(args: &InitArgs) -> anyhow::Result<()> {
    let path = Keystore::path_in(&args.data_dir);
    if path.exists() {
        anyhow::bail!(
            "an identity already exists at {}; refusing to overwrite it",
            path.display()
        );
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let env = passphrase_env();
    let passphrase = resolve_passphrase(args.password_file.as_deref(), env.as_deref(), true)?;
    let keypair = Keypair::generate();
    Keystore::create(&path, &keypair, &passphrase, KdfParams::default())?;
    println!("{}", keypair.did());
    eprintln!("identity written to {}", path.display());
    Ok(())
}

/// Unlocks the identity if the data directory has one.
fn load_identity(config: &NodeConfig, args: &RunArgs) -> anyhow::Result<Option<Keypair>> {
    let path = Keystore::path_in(&config.data_dir);
    if !path.exists() {
        return Ok(None);
    }
    let env = passphrase_env();
    let passphrase = resolve_passphrase(args.password_file.as_deref(), env.as_deref(), false)?;
    Ok(Some(Keystore::load(&path, &passphrase)?))
}

fn run(args: &RunArgs) -> anyhow::Result<()> {
    let config = NodeConfig::load(args.config.as_deref(), &args.overrides())?;
    // Logging first, so the configured level applies from the very first line.
    icn_obs::logging::init(config.log.format, config.log.level.as_deref())?;
    let identity = load_identity(&config, args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("icnd-worker")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        // Watch signals before starting anything, so one that arrives during start-up still
        // leads to a graceful stop.
        let signal = wait_for_signal()?;
        let node = Node::start(config, identity).await?;
        let signal = signal.await;
        tracing::info!(signal, "received signal");
        node.shutdown().await?;
        Ok(())
    })
}

/// Installs the signal handlers now; the returned future resolves at the first SIGTERM/SIGINT.
#[cfg(unix)]
fn wait_for_signal() -> anyhow::Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}

/// Installs the Ctrl-C handler; the returned future resolves on Ctrl-C.
#[cfg(not(unix))]
fn wait_for_signal() -> anyhow::Result<impl std::future::Future<Output = &'static str>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    })
}
