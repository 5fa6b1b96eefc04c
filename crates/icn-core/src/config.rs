//! Node configuration and its layered loading: defaults < TOML file < `ICN_*` environment < flags.
//!
//! The file is parsed strictly (`deny_unknown_fields`): a typo is an error naming the key, never a
//! silently ignored setting. Every setting has one environment variable, `ICN_<SECTION>_<KEY>`
//! (top-level keys: `ICN_<KEY>`), listed in [`ENV_VARS`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use icn_ledger::LedgerConfig;
use icn_net::NetConfig;
use icn_obs::logging::LogFormat;
use serde::{Deserialize, Serialize};

use crate::CoreError;

/// The whole node configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Where the node keeps its identity, stores and runtime files.
    pub data_dir: PathBuf,
    /// The metrics/health HTTP listener.
    pub metrics: MetricsConfig,
    /// Logging.
    pub log: LogConfig,
    /// Peer-to-peer transport.
    pub network: NetConfig,
    /// Local control API.
    pub rpc: RpcConfig,
    /// Gossip replication.
    pub gossip: GossipSettings,
    /// Mutual-credit ledger (protocol parameters: keep them equal on every node).
    pub ledger: LedgerConfig,
}

/// `[gossip]`: what to replicate and how often to reconcile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GossipSettings {
    /// Topics to join at start (joined topics are also remembered in the store).
    pub topics: Vec<String>,
    /// Period of anti-entropy reconciliation per topic (default 5 s).
    #[serde(with = "humantime_serde")]
    pub anti_entropy_interval: Duration,
    /// Largest accepted entry payload (default 1 MiB).
    pub max_payload_bytes: usize,
}

impl Default for GossipSettings {
    fn default() -> Self {
        Self {
            topics: Vec::new(),
            anti_entropy_interval: Duration::from_secs(5),
            max_payload_bytes: 1024 * 1024,
        }
    }
}

/// `[rpc]`: the local control API used by `icnctl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpcConfig {
    /// Serve the API at all (default true).
    pub enabled: bool,
    /// Listen address (default `127.0.0.1:7778`; keep it on loopback).
    pub addr: SocketAddr,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            addr: SocketAddr::from(([127, 0, 0, 1], 7778)),
        }
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("icn-data"),
            metrics: MetricsConfig::default(),
            log: LogConfig::default(),
            network: NetConfig::default(),
            rpc: RpcConfig::default(),
            gossip: GossipSettings::default(),
            ledger: LedgerConfig::default(),
        }
    }
}

/// `[metrics]`: the HTTP listener serving `/metrics`, `/health` and `/ready`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve metrics at all (default true).
    pub enabled: bool,
    /// Listen address (default `127.0.0.1:9090`).
    pub addr: SocketAddr,
    /// Path of the Prometheus page (default `/metrics`).
    pub path: String,
    /// How often the refresh task updates gauges (default 10 s); gauges are also refreshed just
    /// before each scrape.
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
    /// File holding the bearer token scrapers must send (read at start; `0600` expected). Unset:
    /// no token, which is fine on loopback but not on a shared network.
    pub token_file: Option<PathBuf>,
    /// Also require the token on `/health` and `/ready` (default false: probes stay simple).
    /// `/healthz` is always open. Needs `token_file`.
    pub auth_all: bool,
    /// PEM certificate chain for HTTPS; set together with `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS; set together with `tls_cert`.
    pub tls_key: Option<PathBuf>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            addr: SocketAddr::from(([127, 0, 0, 1], 9090)),
            path: "/metrics".to_string(),
            refresh_interval: Duration::from_secs(10),
            token_file: None,
            auth_all: false,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl MetricsConfig {
    /// The HTTPS files, when both are set.
    pub fn tls_files(&self) -> Option<icn_obs::TlsFiles> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(icn_obs::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        }
    }
}

/// `[log]`: log format and level.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `pretty` or `json`.
    pub format: LogFormat,
    /// A tracing filter directive (`info`, `icn_net=debug,info`, ...); when unset, `RUST_LOG`
    /// applies, then `info`.
    pub level: Option<String>,
}

/// Values given on the command line; each one, when set, wins over file and environment.
#[derive(Clone, Debug, Default)]
pub struct ConfigOverrides {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--metrics-addr`.
    pub metrics_addr: Option<SocketAddr>,
    /// `--metrics-path`.
    pub metrics_path: Option<String>,
    /// `--no-metrics` (sets `metrics.enabled = false`).
    pub no_metrics: bool,
    /// `--metrics-refresh-interval`.
    pub metrics_refresh_interval: Option<Duration>,
    /// `--metrics-token-file`.
    pub metrics_token_file: Option<PathBuf>,
    /// `--metrics-auth-all` (sets `metrics.auth_all = true`).
    pub metrics_auth_all: bool,
    /// `--metrics-tls-cert`.
    pub metrics_tls_cert: Option<PathBuf>,
    /// `--metrics-tls-key`.
    pub metrics_tls_key: Option<PathBuf>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
    /// `--log-level`.
    pub log_level: Option<String>,
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--bootstrap` (repeatable); replaces the configured list when given.
    pub bootstrap: Vec<String>,
    /// `--rpc-addr`.
    pub rpc_addr: Option<SocketAddr>,
    /// `--mdns` (sets `network.mdns = true`).
    pub mdns: bool,
    /// `--mdns-interface` (repeatable); replaces the configured list when given.
    pub mdns_interfaces: Vec<String>,
}

/// How an environment value is turned into a TOML value.
#[derive(Clone, Copy, Debug)]
enum EnvKind {
    Str,
    Bool,
    Addr,
    Int,
    List,
}

/// Every environment variable the configuration reads: (variable, section, key, kind).
/// An empty section means a top-level key.
const ENV_TABLE: &[(&str, &str, &str, EnvKind)] = &[
    ("ICN_DATA_DIR", "", "data_dir", EnvKind::Str),
    ("ICN_METRICS_ENABLED", "metrics", "enabled", EnvKind::Bool),
    ("ICN_METRICS_ADDR", "metrics", "addr", EnvKind::Addr),
    ("ICN_METRICS_PATH", "metrics", "path", EnvKind::Str),
    (
        "ICN_METRICS_REFRESH_INTERVAL",
        "metrics",
        "refresh_interval",
        EnvKind::Str,
    ),
    (
        "ICN_METRICS_TOKEN_FILE",
        "metrics",
        "token_file",
        EnvKind::Str,
    ),
    ("ICN_METRICS_AUTH_ALL", "metrics", "auth_all", EnvKind::Bool),
    ("ICN_METRICS_TLS_CERT", "metrics", "tls_cert", EnvKind::Str),
    ("ICN_METRICS_TLS_KEY", "metrics", "tls_key", EnvKind::Str),
    ("ICN_LOG_FORMAT", "log", "format", EnvKind::Str),
    ("ICN_LOG_LEVEL", "log", "level", EnvKind::Str),
    ("ICN_NETWORK_LISTEN", "network", "listen", EnvKind::Addr),
    (
        "ICN_NETWORK_ADVERTISE",
        "network",
        "advertise",
        EnvKind::Addr,
    ),
    (
        "ICN_NETWORK_BOOTSTRAP",
        "network",
        "bootstrap",
        EnvKind::List,
    ),
    (
        "ICN_NETWORK_MAX_PEERS",
        "network",
        "max_peers",
        EnvKind::Int,
    ),
    (
        "ICN_NETWORK_MAX_FRAME_BYTES",
        "network",
        "max_frame_bytes",
        EnvKind::Int,
    ),
    ("ICN_NETWORK_MDNS", "network", "mdns", EnvKind::Bool),
    (
        "ICN_NETWORK_MDNS_INTERFACES",
        "network",
        "mdns_interfaces",
        EnvKind::List,
    ),
    ("ICN_RPC_ENABLED", "rpc", "enabled", EnvKind::Bool),
    ("ICN_RPC_ADDR", "rpc", "addr", EnvKind::Addr),
    ("ICN_GOSSIP_TOPICS", "gossip", "topics", EnvKind::List),
    (
        "ICN_GOSSIP_ANTI_ENTROPY_INTERVAL",
        "gossip",
        "anti_entropy_interval",
        EnvKind::Str,
    ),
];

/// Names of the environment variables the configuration reads.
pub const ENV_VARS: &[&str] = &[
    "ICN_DATA_DIR",
    "ICN_METRICS_ENABLED",
    "ICN_METRICS_ADDR",
    "ICN_METRICS_PATH",
    "ICN_METRICS_REFRESH_INTERVAL",
    "ICN_METRICS_TOKEN_FILE",
    "ICN_METRICS_AUTH_ALL",
    "ICN_METRICS_TLS_CERT",
    "ICN_METRICS_TLS_KEY",
    "ICN_LOG_FORMAT",
    "ICN_LOG_LEVEL",
    "ICN_NETWORK_LISTEN",
    "ICN_NETWORK_ADVERTISE",
    "ICN_NETWORK_BOOTSTRAP",
    "ICN_NETWORK_MAX_PEERS",
    "ICN_NETWORK_MAX_FRAME_BYTES",
    "ICN_NETWORK_MDNS",
    "ICN_NETWORK_MDNS_INTERFACES",
    "ICN_RPC_ENABLED",
    "ICN_RPC_ADDR",
    "ICN_GOSSIP_TOPICS",
    "ICN_GOSSIP_ANTI_ENTROPY_INTERVAL",
];

impl NodeConfig {
    /// Loads the configuration from the process environment.
    ///
    /// # Errors
    /// See [`NodeConfig::load_with_env`].
    pub fn load(file: Option<&Path>, overrides: &ConfigOverrides) -> Result<Self, CoreError> {
        Self::load_with_env(file, |name| std::env::var(name).ok(), overrides)
    }

    /// Loads defaults, then `file`, then the variables `env` returns, then `overrides`.
    ///
    /// # Errors
    /// [`CoreError::Config`] naming the file, key or variable at fault.
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        overrides: &ConfigOverrides,
    ) -> Result<Self, CoreError> {
        let file = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    CoreError::Config(format!("cannot read config file {}: {e}", path.display()))
                })?;
                Some((text, path))
            }
            None => None,
        };
        Self::load_from_text(file.as_ref().map(|(t, p)| (t.as_str(), *p)), env, overrides)
    }

    /// [`NodeConfig::load_with_env`] with the file's text already read (`path` only names it
    /// in errors).
    ///
    /// # Errors
    /// [`CoreError::Config`] naming the file, key or variable at fault.
    pub fn load_from_text(
        file: Option<(&str, &Path)>,
        env: impl Fn(&str) -> Option<String>,
        overrides: &ConfigOverrides,
    ) -> Result<Self, CoreError> {
        let mut table = match file {
            Some((text, path)) => {
                let table: toml::Table = toml::from_str(text).map_err(|e| {
                    CoreError::Config(format!("config file {}: {e}", path.display()))
                })?;
                // Validate the file on its own first so errors name the file, not the env.
                table.clone().try_into::<NodeConfig>().map_err(|e| {
                    CoreError::Config(format!("config file {}: {e}", path.display()))
                })?;
                table
            }
            None => toml::Table::new(),
        };

        for (var, section, key, kind) in ENV_TABLE {
            let Some(raw) = env(var) else { continue };
            let value = env_value(var, &raw, *kind)?;
            let target = if section.is_empty() {
                &mut table
            } else {
                table
                    .entry(section.to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                    .as_table_mut()
                    .ok_or_else(|| CoreError::Config(format!("[{section}] must be a table")))?
            };
            target.insert(key.to_string(), value);
        }

        let mut config: NodeConfig = table
            .try_into()
            .map_err(|e| CoreError::Config(format!("environment: {e}")))?;
        config.apply(overrides);
        config.validate()?;
        Ok(config)
    }

    fn apply(&mut self, o: &ConfigOverrides) {
        if let Some(v) = &o.data_dir {
            self.data_dir = v.clone();
        }
        if let Some(v) = o.metrics_addr {
            self.metrics.addr = v;
        }
        if let Some(v) = &o.metrics_path {
            self.metrics.path = v.clone();
        }
        if o.no_metrics {
            self.metrics.enabled = false;
        }
        if let Some(v) = o.metrics_refresh_interval {
            self.metrics.refresh_interval = v;
        }
        if let Some(v) = &o.metrics_token_file {
            self.metrics.token_file = Some(v.clone());
        }
        if o.metrics_auth_all {
            self.metrics.auth_all = true;
        }
        if let Some(v) = &o.metrics_tls_cert {
            self.metrics.tls_cert = Some(v.clone());
        }
        if let Some(v) = &o.metrics_tls_key {
            self.metrics.tls_key = Some(v.clone());
        }
        if let Some(v) = o.log_format {
            self.log.format = v;
        }
        if let Some(v) = &o.log_level {
            self.log.level = Some(v.clone());
        }
        if let Some(v) = o.listen {
            self.network.listen = v;
        }
        if let Some(v) = o.rpc_addr {
            self.rpc.addr = v;
        }
        if !o.bootstrap.is_empty() {
            self.network.bootstrap.clone_from(&o.bootstrap);
        }
        if o.mdns {
            self.network.mdns = true;
        }
        if !o.mdns_interfaces.is_empty() {
            self.network.mdns_interfaces.clone_from(&o.mdns_interfaces);
        }
    }

    fn validate(&self) -> Result<(), CoreError> {
        if self.metrics.refresh_interval.is_zero() {
            return Err(CoreError::Config(
                "metrics.refresh_interval must be greater than zero".into(),
            ));
        }
        if !self.metrics.path.starts_with('/') {
            return Err(CoreError::Config(format!(
                "metrics.path {:?} must start with '/'",
                self.metrics.path
            )));
        }
        match (&self.metrics.tls_cert, &self.metrics.tls_key) {
            (Some(_), None) | (None, Some(_)) => {
                return Err(CoreError::Config(
                    "metrics.tls_cert and metrics.tls_key must be set together \
                     (--metrics-tls-cert/--metrics-tls-key, ICN_METRICS_TLS_CERT/ICN_METRICS_TLS_KEY)"
                        .into(),
                ));
            }
            _ => {}
        }
        if self.metrics.auth_all && self.metrics.token_file.is_none() {
            return Err(CoreError::Config(
                "metrics.auth_all needs metrics.token_file (--metrics-token-file)".into(),
            ));
        }
        self.network.validate().map_err(CoreError::Config)?;
        for topic in &self.gossip.topics {
            icn_gossip::Topic::new(topic)
                .map_err(|e| CoreError::Config(format!("gossip.topics: {topic:?}: {e}")))?;
        }
        if self.gossip.anti_entropy_interval.is_zero() {
            return Err(CoreError::Config(
                "gossip.anti_entropy_interval must be greater than zero".into(),
            ));
        }
        if self.gossip.max_payload_bytes + 64 * 1024 > self.network.max_frame_bytes {
            return Err(CoreError::Config(
                "gossip.max_payload_bytes must leave 64 KiB of room below network.max_frame_bytes"
                    .into(),
            ));
        }
        Ok(())
    }
}

fn env_value(var: &str, raw: &str, kind: EnvKind) -> Result<toml::Value, CoreError> {
    let bad = |what: &str| CoreError::Config(format!("{var}={raw:?}: {what}"));
    Ok(match kind {
        EnvKind::Str => toml::Value::String(raw.to_string()),
        EnvKind::Bool => match raw.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => toml::Value::Boolean(true),
            "0" | "false" | "no" | "off" => toml::Value::Boolean(false),
            _ => return Err(bad("expected true or false")),
        },
        EnvKind::Addr => {
            raw.parse::<SocketAddr>()
                .map_err(|_| bad("expected an address like 127.0.0.1:9090"))?;
            toml::Value::String(raw.to_string())
        }
        EnvKind::Int => toml::Value::Integer(
            raw.trim()
                .parse::<i64>()
                .map_err(|_| bad("expected an integer"))?,
        ),
        EnvKind::List => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        ),
    })
}

#[cfg(test)]
mod tests;
