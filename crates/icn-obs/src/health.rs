//! The `/health` JSON report, `/ready` readiness, and the trait a node implements to supply them.

use serde::Serialize;

/// Overall health, as reported in `/health`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Everything the node is configured to run is running.
    Healthy,
    /// The node serves metrics but something it needs is missing (e.g. no identity).
    Degraded,
    /// A component keeps failing.
    Unhealthy,
}

/// The JSON body of `/health`. Fields a node does not have yet are omitted, never invented.
#[derive(Clone, Debug, Serialize)]
pub struct HealthReport {
    /// Overall status.
    pub status: HealthStatus,
    /// Why the status is not `healthy` (empty when healthy).
    pub reasons: Vec<String>,
    /// Node software version.
    pub version: &'static str,
    /// Seconds since start.
    pub uptime_seconds: f64,
    /// The node's DID, if it has an identity.
    pub did: Option<String>,
    /// Actor tasks running and expected.
    pub actors: ActorCounts,
    /// Peer-to-peer listen address, once the network is up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen_addr: Option<String>,
    /// Connected peers, once the network is up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peers: Option<u64>,
    /// Topics replicated, once gossip is up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topics: Option<u64>,
    /// Entries stored, once gossip is up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
    /// Ledger summary, once the ledger is up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<serde_json::Value>,
}

/// Running versus expected actor tasks.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct ActorCounts {
    /// Actor tasks currently running.
    pub active: u64,
    /// Actor tasks the node's configuration asks for.
    pub expected: u64,
}

/// Whether the node is ready to serve (`/ready` answers 200 or 503).
#[derive(Clone, Debug, Serialize)]
pub struct Readiness {
    /// Ready or not.
    pub ready: bool,
    /// What is missing when not ready.
    pub reasons: Vec<String>,
}

/// What the HTTP server asks of the node.
pub trait NodeStatus: Send + Sync + 'static {
    /// Brings the cheap gauges up to date; called just before every scrape.
    fn refresh_gauges(&self);
    /// The `/health` report.
    fn health(&self) -> HealthReport;
    /// The `/ready` answer.
    fn readiness(&self) -> Readiness;
}
