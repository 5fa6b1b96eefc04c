//! The ICN node: configuration loading and the supervisor that wires everything together.
//!
//! [`Node::start`] starts the metrics listener first (so a node that cannot do anything else
//! still reports why), then the actors its configuration and identity allow, then the
//! gauge-refresh task; [`Node::shutdown`] stops them all within a bounded time.
//!
//! # Layout
//! - [`config`]: [`NodeConfig`] and layered loading (defaults < file < env < flags).
//! - [`supervisor`]: spawning, counting and restarting actor tasks.
//! - [`node`]: [`Node`], the running node and its health.
//! - `rpc_backend`: the node's answers to control API calls.
//! - `fuzzing` (hidden): the fuzz harness of configuration loading, shared with a CI test.

pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod node;
mod rpc_backend;
pub mod supervisor;

pub use config::{ConfigOverrides, NodeConfig};
pub use node::Node;

/// Errors starting or stopping a node.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The configuration is invalid; the message names the file, key or variable.
    #[error("configuration error: {0}")]
    Config(String),
    /// A filesystem operation on a node path failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: std::path::PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Metrics registry or listener error (e.g. the port is in use).
    #[error(transparent)]
    Obs(#[from] icn_obs::ObsError),
    /// The control API could not start.
    #[error(transparent)]
    Rpc(#[from] icn_rpc::RpcServerError),
    /// The gossip store could not be opened or read.
    #[error(transparent)]
    GossipStore(#[from] icn_gossip::StoreError),
    /// The ledger store could not be opened or read.
    #[error(transparent)]
    LedgerStore(#[from] icn_ledger::LedgerStoreError),
    /// The ledger could not start.
    #[error(transparent)]
    Ledger(#[from] icn_ledger::LedgerError),
    /// The peer-to-peer transport could not start.
    #[error(transparent)]
    Net(#[from] icn_net::NetError),
    /// Some task did not stop within the shutdown timeout.
    #[error("shutdown did not complete within {0:?}")]
    ShutdownTimeout(std::time::Duration),
}
