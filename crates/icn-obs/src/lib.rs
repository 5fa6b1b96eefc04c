//! Observability for an ICN node: the metric catalogue, the node's own Prometheus registry, the
//! HTTP exporter and logging setup.
//!
//! Every metric the node exposes is declared once in [`catalogue`] (name, kind, HELP text, unit,
//! label values, histogram buckets). [`NodeMetrics`] builds a private [`NodeRecorder`] from the
//! catalogue (one per node, never the global recorder, so an in-process cluster renders one page
//! per node), describes and zero-registers every series, and hands out typed handle structs
//! ([`NetworkMetrics`], [`GossipMetrics`], ...) to the components. Call sites never spell a metric
//! name; they hold cached handles, which is also the fast path.
//!
//! # Layout
//! - [`catalogue`]: the list of metric definitions and their label value sets.
//! - [`labels`]: bounded label enums used by labelled handles.
//! - [`registry`]: [`NodeMetrics`] and the typed handle structs handed to components.
//! - [`recorder`]: [`NodeRecorder`], the per-node `metrics` recorder (atomic storage).
//! - [`exposition`]: the Prometheus text page of a recorder, from a layout built once.
//! - [`reference`]: the Markdown metric reference (docs/metrics.md).
//! - [`server`]: the HTTP listener serving `/metrics`, `/health` and `/ready`.
//! - [`auth`]: the optional bearer token of the listener.
//! - [`tls`]: the optional HTTPS of the listener (rustls, ring provider).
//! - [`health`]: the JSON health report and readiness types.
//! - [`logging`]: tracing-subscriber setup (pretty or JSON, on stderr).

pub mod auth;
pub mod catalogue;
pub mod exposition;
pub mod health;
pub mod labels;
pub mod logging;
pub mod recorder;
pub mod reference;
pub mod registry;
pub mod server;
pub mod tls;

pub use auth::BearerToken;
pub use catalogue::{CATALOGUE, MetricDef, MetricKind};
pub use health::{HealthReport, HealthStatus, NodeStatus, Readiness};
pub use labels::{CounterVec, CounterVec2, HistogramVec, LabelValue};
/// The handle types of the typed handle structs, so components need no `metrics` dependency.
pub use metrics::{Counter, Gauge, Histogram};
pub use recorder::NodeRecorder;
pub use registry::{
    GossipMetrics, LedgerMetrics, NetworkMetrics, NodeMetrics, ObsMetrics, SystemMetrics,
};
pub use server::{MetricsServer, MetricsServerConfig};
pub use tls::TlsFiles;

/// Errors raised while building the registry or serving metrics.
#[derive(Debug, thiserror::Error)]
pub enum ObsError {
    /// The metrics listener could not bind its address (for example, the port is in use).
    #[error("cannot bind the metrics listener on {addr}")]
    Bind {
        /// The address we tried to bind.
        addr: std::net::SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The recorder rejected the catalogue (for example, an empty bucket list).
    #[error("invalid metric configuration: {0}")]
    Build(String),
    /// The metrics path is not an absolute URL path.
    #[error("metrics path {0:?} must start with '/' and not be '/health', '/ready' or '/healthz'")]
    BadPath(String),
    /// The metrics bearer-token file is missing, unreadable, empty or malformed.
    #[error("metrics token file {}: {reason}", path.display())]
    TokenFile {
        /// The token file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A TLS certificate or key file of the metrics listener could not be used.
    #[error("metrics TLS file {}: {reason}", path.display())]
    Tls {
        /// The certificate or key file at fault.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The logging filter could not be parsed or a subscriber was already installed.
    #[error("logging setup failed: {0}")]
    Logging(String),
}
