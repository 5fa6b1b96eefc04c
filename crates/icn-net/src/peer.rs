//! Peer targets (`did:icn:...@ip:port` or `ip:port`) and peer descriptions.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::SystemTime;

use icn_identity::Did;

/// Something to dial: an address, optionally with the DID expected there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerTarget {
    /// The DID that must answer, when known.
    pub did: Option<Did>,
    /// UDP address.
    pub addr: SocketAddr,
}

/// A peer target that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("bad peer {input:?}: {reason} (expected did:icn:...@IP:PORT or IP:PORT)")]
pub struct PeerTargetError {
    input: String,
    reason: String,
}

impl PeerTarget {
    /// Parses `did:icn:...@ip:port` or `ip:port`.
    ///
    /// # Errors
    /// [`PeerTargetError`] naming the input.
    pub fn parse(input: &str) -> Result<Self, PeerTargetError> {
        let bad = |reason: String| PeerTargetError {
            input: input.to_string(),
            reason,
        };
        let (did, addr) = match input.rsplit_once('@') {
            Some((did, addr)) => (
                Some(Did::from_str(did).map_err(|e| bad(e.to_string()))?),
                addr,
            ),
            None => (None, input),
        };
        let addr = addr
            .parse::<SocketAddr>()
            .map_err(|e| bad(format!("address: {e}")))?;
        Ok(Self { did, addr })
    }
}

impl FromStr for PeerTarget {
    type Err = PeerTargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for PeerTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.did {
            Some(did) => write!(f, "{did}@{}", self.addr),
            None => write!(f, "{}", self.addr),
        }
    }
}

/// Which side opened a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// We dialed.
    Outbound,
    /// The peer dialed us.
    Inbound,
}

impl Direction {
    /// `inbound` or `outbound`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        }
    }
}

/// A connected peer, as reported by `peers`.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    /// The TLS-proven identity.
    pub did: Did,
    /// Remote address of the connection.
    pub remote_addr: SocketAddr,
    /// Where the peer accepts connections (what we share in peer exchange).
    pub listen_addr: Option<SocketAddr>,
    /// Current round-trip estimate.
    pub rtt: std::time::Duration,
    /// When the session was established.
    pub connected_since: SystemTime,
    /// Who dialed.
    pub direction: Direction,
    /// Topics the peer replicates.
    pub topics: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms_and_round_trips() {
        let did = icn_identity::Keypair::generate().did();
        let with = PeerTarget::parse(&format!("{did}@127.0.0.1:7777")).unwrap();
        assert_eq!(with.did, Some(did));
        assert_eq!(with.addr.port(), 7777);
        assert_eq!(PeerTarget::parse(&with.to_string()).unwrap(), with);
        let without = PeerTarget::parse("127.0.0.2:9").unwrap();
        assert_eq!(without.did, None);
        assert!(PeerTarget::parse("nonsense").is_err());
        assert!(PeerTarget::parse("did:icn:zzz@127.0.0.1:1").is_err());
        let err = PeerTarget::parse("127.0.0.1").unwrap_err().to_string();
        assert!(err.contains("127.0.0.1"), "{err}");
    }
}
