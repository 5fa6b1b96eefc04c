//! Request and response bodies of the control API, shared by the server and the client.
//!
//! Clients ignore fields they do not know, so a newer node can add fields without breaking an
//! older `icnctl`.

use serde::{Deserialize, Serialize};

/// Answer of `GET /v1/status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusInfo {
    /// The node's DID; `None` when it runs without an identity (metrics and health only).
    pub did: Option<String>,
    /// The node's version (`CARGO_PKG_VERSION` of the daemon).
    pub version: String,
    /// Seconds since the node started.
    pub uptime_seconds: f64,
    /// The QUIC listen address; `None` when the network is not running.
    pub listen_addr: Option<String>,
    /// Peers with an open session.
    pub peers: u64,
}

/// One connected peer, as listed by `GET /v1/peers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The peer's DID, proven by the TLS handshake.
    pub did: String,
    /// The peer's remote socket address.
    pub addr: String,
    /// Latest round-trip estimate in milliseconds, if one has been measured.
    pub rtt_ms: Option<f64>,
    /// When the session was established (Unix time, milliseconds).
    pub connected_since_unix_ms: u64,
    /// Who opened the session: `"inbound"` or `"outbound"`.
    pub direction: String,
}

/// Body of `POST /v1/dial`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialRequest {
    /// `did:icn:...@host:port` (the peer must prove that DID) or a bare `host:port`.
    pub target: String,
}

/// Answer of `POST /v1/dial`: the peer a session is now open with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialResult {
    /// DID the peer proved during the handshake.
    pub did: String,
}

/// Body of every non-2xx answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Human-readable reason, meant to be shown to the operator as is.
    pub error: String,
}
