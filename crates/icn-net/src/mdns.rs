//! mDNS discovery on the local link (`--mdns`): advertises this node as an instance of
//! [`SERVICE_TYPE`] and browses for other nodes.
//!
//! Each node registers one instance named after its DID, with the QUIC port in the SRV record
//! and its DID and protocol version in the TXT record. A resolved instance becomes a
//! [`PeerRecord`] handed to the network actor exactly like an address learned through peer
//! exchange, so it lands in the address book and is dialed by the same redial loop.
//!
//! mDNS is unauthenticated: anyone on the link can announce any DID. That is harmless here
//! because the book dials a peer *with* its DID, and TLS refuses a node that cannot prove it
//! (`identity_mismatch`); a forged record costs at most a failed dial.
//!
//! The mDNS daemon (`mdns-sd`) runs its own thread; [`MdnsDiscovery::run`] unregisters the
//! instance (a goodbye packet) and stops that thread when the node shuts down.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use icn_identity::Did;
use mdns_sd::{DaemonEvent, IfKind, Receiver, ResolvedService, ServiceDaemon, ServiceEvent};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::NetError;
use crate::actor::Internal;
use crate::wire::{PROTOCOL_VERSION, PeerRecord};

/// The DNS-SD service type ICN nodes advertise and browse.
pub const SERVICE_TYPE: &str = "_icn._udp.local.";
/// TXT key holding the node's DID.
pub const TXT_DID: &str = "did";
/// TXT key holding the node's protocol version.
pub const TXT_VERSION: &str = "v";
/// How long shutdown waits for the goodbye packet and for the daemon thread.
const STOP_TIMEOUT: Duration = Duration::from_secs(1);

/// A running mDNS responder and browser for one node.
pub(crate) struct MdnsDiscovery {
    daemon: ServiceDaemon,
    me: Did,
    fullname: String,
    browse: Receiver<ServiceEvent>,
    monitor: Receiver<DaemonEvent>,
}

fn mdns_error(what: &str, e: impl std::fmt::Display) -> NetError {
    NetError::Mdns(format!("{what}: {e}"))
}

/// The instance's host name: the DID's key part, lowercased (DNS names ignore case), so two
/// nodes never share a host name and therefore never merge their address records.
pub fn host_name(did: &Did) -> String {
    let key = did.to_string();
    let key = key.rsplit(':').next().unwrap_or(&key).to_ascii_lowercase();
    format!("icn-{key}.local.")
}

impl MdnsDiscovery {
    /// Starts the daemon, restricted to `interfaces` when not empty, and registers this node as
    /// reachable on `advertise` (an unspecified IP means: every address of each interface).
    ///
    /// # Errors
    /// [`NetError::Mdns`] when the daemon cannot start or the record is invalid.
    pub(crate) fn start(
        me: Did,
        advertise: SocketAddr,
        interfaces: &[String],
    ) -> Result<Self, NetError> {
        let daemon = ServiceDaemon::new().map_err(|e| mdns_error("cannot start mDNS", e))?;
        if !interfaces.is_empty() {
            daemon
                .disable_interface(IfKind::All)
                .map_err(|e| mdns_error("mDNS interface selection", e))?;
            daemon
                .enable_interface(interfaces.iter().map(IfKind::from).collect::<Vec<_>>())
                .map_err(|e| mdns_error("mDNS interface selection", e))?;
        }
        let monitor = daemon
            .monitor()
            .map_err(|e| mdns_error("mDNS monitor", e))?;
        let version = PROTOCOL_VERSION.to_string();
        let did = me.to_string();
        let properties = [(TXT_DID, did.as_str()), (TXT_VERSION, version.as_str())];
        let host = host_name(&me);
        let service = if advertise.ip().is_unspecified() {
            mdns_sd::ServiceInfo::new(
                SERVICE_TYPE,
                &did,
                &host,
                (),
                advertise.port(),
                &properties[..],
            )
            .map(mdns_sd::ServiceInfo::enable_addr_auto)
        } else {
            mdns_sd::ServiceInfo::new(
                SERVICE_TYPE,
                &did,
                &host,
                advertise.ip(),
                advertise.port(),
                &properties[..],
            )
        }
        .map_err(|e| mdns_error("mDNS service record", e))?;
        let fullname = service.get_fullname().to_string();
        daemon
            .register(service)
            .map_err(|e| mdns_error("mDNS register", e))?;
        let browse = daemon
            .browse(SERVICE_TYPE)
            .map_err(|e| mdns_error("mDNS browse", e))?;
        tracing::info!(service = %fullname, %advertise, ?interfaces, "mDNS discovery started");
        Ok(Self {
            daemon,
            me,
            fullname,
            browse,
            monitor,
        })
    }

    /// Feeds resolved peers to the network actor until `stop` is cancelled, then says goodbye
    /// and stops the daemon thread.
    pub(crate) async fn run(self, internal: mpsc::Sender<Internal>, stop: CancellationToken) {
        let mut monitor_open = true;
        loop {
            let record = tokio::select! {
                () = stop.cancelled() => break,
                event = self.browse.recv_async() => match event {
                    Ok(ServiceEvent::ServiceResolved(service)) => peer_record(&service, self.me),
                    Ok(_) => None,
                    Err(_) => {
                        tracing::warn!("mDNS browse stopped unexpectedly");
                        break;
                    }
                },
                event = self.monitor.recv_async(), if monitor_open => {
                    match event {
                        Ok(DaemonEvent::Error(e)) => tracing::warn!(error = %e, "mDNS daemon error"),
                        Ok(_) => {}
                        // The daemon thread is gone; browsing reports it too.
                        Err(_) => monitor_open = false,
                    }
                    None
                }
            };
            let Some(record) = record else { continue };
            tracing::info!(
                peer = %record.did.short(),
                addr = %record.addr,
                "mDNS discovered a peer"
            );
            // The actor stops reading its channel before it stops us: never wait on it alone.
            let send = internal.send(Internal::PeerRecords {
                records: vec![record],
            });
            tokio::select! {
                () = stop.cancelled() => break,
                sent = send => if sent.is_err() { break },
            }
        }
        self.stop().await;
    }

    async fn stop(self) {
        if let Ok(goodbye) = self.daemon.unregister(&self.fullname) {
            let _ = tokio::time::timeout(STOP_TIMEOUT, goodbye.recv_async()).await;
        }
        match self.daemon.shutdown() {
            Ok(stopped) => {
                let _ = tokio::time::timeout(STOP_TIMEOUT, stopped.recv_async()).await;
            }
            Err(e) => tracing::debug!(error = %e, "mDNS daemon already stopped"),
        }
        tracing::debug!("mDNS discovery stopped");
    }
}

impl Drop for MdnsDiscovery {
    /// A discovery dropped without running (its actor never ran, or panicked) still stops the
    /// daemon thread; after [`MdnsDiscovery::run`] this is a no-op.
    fn drop(&mut self) {
        let _ = self.daemon.shutdown();
    }
}

/// The peer a resolved instance describes, unless it is this node, speaks another protocol
/// version, carries no valid DID, or has no usable address.
pub fn peer_record(service: &ResolvedService, me: Did) -> Option<PeerRecord> {
    let did: Did = service.get_property_val_str(TXT_DID)?.parse().ok()?;
    if did == me {
        return None;
    }
    if let Some(version) = service.get_property_val_str(TXT_VERSION)
        && version.parse::<u32>().ok() != Some(PROTOCOL_VERSION)
    {
        return None;
    }
    if service.get_port() == 0 {
        return None;
    }
    let ip = preferred_ip(service.get_addresses().iter().map(|a| a.to_ip_addr()))?;
    Some(PeerRecord {
        did,
        addr: SocketAddr::new(ip, service.get_port()),
    })
}

/// One address to dial among those announced, the same on every node: by rank, then the
/// smallest. A node listening on the unspecified address announces every interface's address,
/// `lo`'s included, so ranks put addresses another host can reach first: IPv4, then IPv6 that
/// needs no scope id (link-local would need the interface index), then other loopback
/// addresses (reachable only on links like the test namespaces', see `route_localnet`), and
/// last `127.0.0.1`/`::1`, which from any other host is that host itself. Unspecified and
/// multicast addresses are never dialable.
pub fn preferred_ip(addrs: impl IntoIterator<Item = IpAddr>) -> Option<IpAddr> {
    let rank = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) if *v4 == Ipv4Addr::LOCALHOST => 3,
        IpAddr::V6(v6) if v6.is_loopback() => 3,
        IpAddr::V4(v4) if v4.is_loopback() => 2,
        IpAddr::V4(_) => 0,
        IpAddr::V6(_) => 1,
    };
    addrs
        .into_iter()
        .filter(|ip| !ip.is_unspecified() && !ip.is_multicast())
        .filter(|ip| !matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local()))
        .min_by_key(|ip| (rank(ip), *ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(did: &str, version: &str, ips: &str, port: u16) -> ResolvedService {
        let host = "icn-test.local.";
        let props = [(TXT_DID, did), (TXT_VERSION, version)];
        let info =
            mdns_sd::ServiceInfo::new(SERVICE_TYPE, "x", host, ips, port, &props[..]).unwrap();
        info.as_resolved_service()
    }

    #[test]
    fn resolved_instance_becomes_a_peer_record() {
        let me = icn_identity::Keypair::generate().did();
        let peer = icn_identity::Keypair::generate().did();
        let service = resolved(
            &peer.to_string(),
            "1",
            "127.0.0.1, 127.0.0.12, fe80::1",
            7777,
        );
        let record = peer_record(&service, me).unwrap();
        assert_eq!(record.did, peer);
        assert_eq!(record.addr, "127.0.0.12:7777".parse().unwrap());
        // Our own announcement, another version, no DID, no address, port 0: ignored.
        assert!(peer_record(&service, peer).is_none());
        assert!(peer_record(&resolved(&peer.to_string(), "2", "127.0.0.12", 7), me).is_none());
        assert!(peer_record(&resolved("not-a-did", "1", "127.0.0.12", 7), me).is_none());
        assert!(peer_record(&resolved(&peer.to_string(), "1", "", 7), me).is_none());
        assert!(peer_record(&resolved(&peer.to_string(), "1", "127.0.0.12", 0), me).is_none());
    }

    #[test]
    fn preferred_ip_is_deterministic_and_dialable() {
        let ips = |s: &[&str]| {
            s.iter()
                .map(|a| a.parse::<IpAddr>().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            preferred_ip(ips(&["2001:db8::1", "10.0.0.9", "10.0.0.2"])),
            Some("10.0.0.2".parse().unwrap())
        );
        assert_eq!(
            preferred_ip(ips(&["fe80::1", "2001:db8::1"])),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            preferred_ip(ips(&["fe80::1", "0.0.0.0", "224.0.0.251"])),
            None
        );
        // `lo`'s address comes with every announcement of a node listening on 0.0.0.0.
        assert_eq!(
            preferred_ip(ips(&["127.0.0.1", "192.168.1.20", "::1"])),
            Some("192.168.1.20".parse().unwrap())
        );
        assert_eq!(
            preferred_ip(ips(&["127.0.0.1", "127.0.0.13"])),
            Some("127.0.0.13".parse().unwrap())
        );
        assert_eq!(
            preferred_ip(ips(&["::1", "127.0.0.1"])),
            Some("127.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn host_names_are_distinct_lowercase_dns_labels() {
        let a = host_name(&icn_identity::Keypair::generate().did());
        let b = host_name(&icn_identity::Keypair::generate().did());
        assert_ne!(a, b);
        let label = a.strip_suffix(".local.").unwrap();
        assert!(label.len() <= 63, "{label}");
        assert!(
            label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }
}
