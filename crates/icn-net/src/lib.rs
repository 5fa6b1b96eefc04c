//! QUIC transport for ICN: identity-bound mutual TLS, length-prefixed frames, sessions and
//! discovery.
//!
//! A node has one quinn endpoint. Every connection is mutually authenticated with certificates
//! made from the nodes' Ed25519 identity keys, so a session's peer DID is proven by TLS, never
//! claimed. After TLS, both sides exchange a `Hello`; only then is the connection a session.
//! There is one session per peer; peers share addresses so one bootstrap reaches the network.
//!
//! # Layout
//! - [`config`]: `[network]` settings.
//! - [`tls`]: certificates from identity keys and the Ed25519-only verifiers.
//! - [`wire`]: `WireMessage`, `Hello`, and the bounded frame codec.
//! - [`session`]: the Hello exchange and per-connection frame readers and writer.
//! - [`dial`]: outbound dials and inbound handshakes.
//! - [`book`]: known peer addresses and redial backoff.
//! - [`actor`]: [`NetworkActor`], which owns the endpoint, sessions and address book.
//! - [`backlog`]: what is queued to each peer, which holds back the node's publishers.
//! - [`inbound`]: the per-connection budget of received but unprocessed bytes.
//! - [`handle`]: [`NetworkHandle`], dial/send/broadcast from anywhere in the node.
//! - [`peer`]: dial targets and peer descriptions.
//! - [`mdns`]: optional mDNS discovery on the local link (`network.mdns`).
//! - `fuzzing` (hidden): fuzz harness bodies, shared with the bounded tests in CI.

pub mod actor;
pub mod backlog;
pub mod book;
pub mod config;
pub mod dial;
#[doc(hidden)]
pub mod fuzzing;
pub mod handle;
pub mod inbound;
pub mod mdns;
pub mod peer;
pub mod session;
pub mod tls;
pub mod wire;

pub use actor::{NetEvent, NetworkActor};
pub use config::NetConfig;
pub use handle::{NetworkHandle, SendError};
pub use inbound::InboundBytes;
pub use peer::{Direction, PeerInfo, PeerTarget};
pub use wire::{GossipBody, PROTOCOL_VERSION, WireMessage};

use icn_obs::labels::DialFailureReason;

/// Network errors.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The UDP listen address could not be bound.
    #[error("cannot bind the QUIC endpoint on {addr}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// TLS configuration failed.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// Invalid network settings.
    #[error("invalid network configuration: {0}")]
    Config(String),
    /// A dial did not produce a session.
    #[error("dial {target} failed ({}): {detail}", reason_text(*.reason))]
    Dial {
        /// What was dialed.
        target: String,
        /// Why, as counted in `icn_network_dial_failures_total`.
        reason: DialFailureReason,
        /// Details.
        detail: String,
    },
    /// mDNS discovery could not start.
    #[error("mDNS discovery: {0}")]
    Mdns(String),
    /// The network actor has stopped.
    #[error("the network actor is not running")]
    Stopped,
}

fn reason_text(reason: DialFailureReason) -> &'static str {
    use icn_obs::LabelValue;
    reason.as_str()
}

/// A configuration message, from quinn's config errors.
pub struct NetConfigError(pub String);

impl From<quinn::VarIntBoundsExceeded> for NetConfigError {
    fn from(e: quinn::VarIntBoundsExceeded) -> Self {
        Self(format!("network.idle_timeout out of range: {e}"))
    }
}
