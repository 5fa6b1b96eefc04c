//! `[network]` configuration.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Hard ceiling for `max_frame_bytes`: the decoder's allocation limit.
pub const FRAME_LIMIT_CEILING: usize = 16 * 1024 * 1024;

/// Network settings (TOML section `[network]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetConfig {
    /// UDP listen address for QUIC (default `0.0.0.0:7777`; port 0 picks one).
    pub listen: SocketAddr,
    /// Address advertised to peers; default: the bound address (with the unspecified IP replaced
    /// by the address a peer saw us from).
    pub advertise: Option<SocketAddr>,
    /// Peers to dial at start and keep dialing: `did:icn:...@host:port` or `host:port`.
    pub bootstrap: Vec<String>,
    /// Maximum simultaneous peer sessions (default 50).
    pub max_peers: usize,
    /// Largest frame accepted or sent, in bytes (default 4 MiB, at most 16 MiB).
    pub max_frame_bytes: usize,
    /// QUIC keep-alive interval; below the idle timeout (default 5 s).
    #[serde(with = "humantime_serde")]
    pub keep_alive: Duration,
    /// A connection silent this long is closed (default 30 s).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Time allowed for the TLS handshake plus the Hello exchange (default 5 s).
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// Time allowed for the rest of a frame once its first byte arrived (default 10 s).
    #[serde(with = "humantime_serde")]
    pub frame_read_timeout: Duration,
    /// First reconnect delay after a failed dial (default 500 ms), doubled per failure.
    #[serde(with = "humantime_serde")]
    pub reconnect_min: Duration,
    /// Cap of the reconnect delay (default 30 s).
    #[serde(with = "humantime_serde")]
    pub reconnect_max: Duration,
    /// How often known peer addresses are shared with every peer (default 30 s; also on connect).
    #[serde(with = "humantime_serde")]
    pub peer_exchange_interval: Duration,
    /// Frames queued per peer before sends to it are dropped and counted (default 1024).
    pub send_queue: usize,
    /// Advertise this node and discover peers with mDNS on the local link (default false).
    pub mdns: bool,
    /// Interfaces mDNS uses, by name (e.g. `["eth0"]`); empty: every interface.
    pub mdns_interfaces: Vec<String>,
    /// Bytes received from one peer and not yet processed, at most (default 8 MiB, at least
    /// `max_frame_bytes`). A peer sending faster waits: the cap on what a flood can cost.
    pub inbound_buffer_bytes: usize,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 7777)),
            advertise: None,
            bootstrap: Vec::new(),
            max_peers: 50,
            max_frame_bytes: 4 * 1024 * 1024,
            keep_alive: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(5),
            frame_read_timeout: Duration::from_secs(10),
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            peer_exchange_interval: Duration::from_secs(30),
            send_queue: 1024,
            mdns: false,
            mdns_interfaces: Vec::new(),
            inbound_buffer_bytes: 8 * 1024 * 1024,
        }
    }
}

impl NetConfig {
    /// Checks the relations between settings.
    ///
    /// # Errors
    /// A message naming the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if self.keep_alive >= self.idle_timeout {
            return Err("network.keep_alive must be below network.idle_timeout".into());
        }
        if self.max_frame_bytes < 1024 || self.max_frame_bytes > FRAME_LIMIT_CEILING {
            return Err(format!(
                "network.max_frame_bytes must be between 1024 and {FRAME_LIMIT_CEILING}"
            ));
        }
        if self.max_peers == 0 {
            return Err("network.max_peers must be at least 1".into());
        }
        if self.inbound_buffer_bytes < self.max_frame_bytes {
            return Err(
                "network.inbound_buffer_bytes must be at least network.max_frame_bytes".into(),
            );
        }
        if self.send_queue == 0 {
            return Err("network.send_queue must be at least 1".into());
        }
        if self.reconnect_min > self.reconnect_max {
            return Err("network.reconnect_min must not exceed network.reconnect_max".into());
        }
        if !self.mdns_interfaces.is_empty() && !self.mdns {
            return Err("network.mdns_interfaces needs network.mdns = true (--mdns)".into());
        }
        // Linux interface names are 1 to 15 bytes (IFNAMSIZ - 1).
        if let Some(bad) = self
            .mdns_interfaces
            .iter()
            .find(|name| name.is_empty() || name.len() > 15 || name.contains(char::is_whitespace))
        {
            return Err(format!(
                "network.mdns_interfaces: {bad:?} is not an interface name"
            ));
        }
        for entry in &self.bootstrap {
            crate::PeerTarget::parse(entry).map_err(|e| format!("network.bootstrap: {e}"))?;
        }
        Ok(())
    }
}
