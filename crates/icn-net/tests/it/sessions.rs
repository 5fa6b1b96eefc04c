//! Sessions between honest nodes.

use std::time::Duration;

use icn_net::{NetEvent, PeerTarget, WireMessage};
use icn_obs::labels::DialFailureReason;
use icn_testkit::wait_until;

use crate::{config, start};

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn dial_exchanges_hello_and_delivers_frames() {
    let a = start(config(vec![]));
    let mut b = start(config(vec![]));
    let did = a
        .handle
        .dial(PeerTarget::parse(&b.target()).unwrap())
        .await
        .unwrap();
    assert_eq!(did, b.keypair.did());
    assert_eq!(
        b.events.recv().await.unwrap(),
        NetEvent::PeerUp {
            peer: a.keypair.did(),
            topics: vec!["t".into()]
        }
    );
    a.handle
        .send_gossip(b.keypair.did(), b"hello gossip".to_vec())
        .unwrap();
    assert_eq!(
        b.events.recv().await.unwrap(),
        NetEvent::Gossip {
            from: a.keypair.did(),
            bytes: b"hello gossip".to_vec().into()
        }
    );
    let (pa, pb) = (a.page(), b.page());
    assert_eq!(pa.get("icn_network_connections_total"), 1.0);
    assert_eq!(pb.get("icn_network_connections_total"), 1.0);
    assert_eq!(pa.get("icn_network_connections_active"), 1.0);
    // Both sides agree on what crossed the wire (hello + peer exchange + gossip).
    wait_until(T, "counters to match", || async {
        let (pa, pb) = (a.page(), b.page());
        pa.get("icn_network_messages_sent_total") == pb.get("icn_network_messages_received_total")
            && pb.get("icn_network_messages_sent_total")
                == pa.get("icn_network_messages_received_total")
            && pa.get("icn_network_bytes_sent_total") == pb.get("icn_network_bytes_received_total")
    })
    .await
    .unwrap();
    assert!(a.page().get("icn_network_messages_sent_total") >= 2.0);
    let peers = a.handle.peers();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].did, b.keypair.did());
    a.stop().await;
    wait_until(T, "b to see a leave", || async {
        b.handle.peer_count() == 0
    })
    .await
    .unwrap();
    assert_eq!(b.page().get("icn_network_connections_active"), 0.0);
    let h = b
        .page()
        .histogram("icn_network_connection_duration_seconds")
        .unwrap();
    assert_eq!(h.count, 1.0);
    b.stop().await;
}

#[tokio::test]
async fn wrong_did_is_refused_and_counted() {
    let a = start(config(vec![]));
    let b = start(config(vec![]));
    let impostor = icn_identity::Keypair::generate().did();
    let target = PeerTarget {
        did: Some(impostor),
        addr: b.handle.local_addr(),
    };
    let err = a.handle.dial(target).await.unwrap_err();
    assert!(
        matches!(
            err,
            icn_net::NetError::Dial {
                reason: DialFailureReason::IdentityMismatch,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        a.page().value_with(
            "icn_network_dial_failures_total",
            &[("reason", "identity_mismatch")]
        ),
        Some(1.0)
    );
    assert_eq!(a.handle.peer_count(), 0);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn simultaneous_dials_leave_one_session() {
    let a = start(config(vec![]));
    let b = start(config(vec![]));
    let (ta, tb) = (
        PeerTarget::parse(&a.target()).unwrap(),
        PeerTarget::parse(&b.target()).unwrap(),
    );
    let (ra, rb) = tokio::join!(a.handle.dial(tb), b.handle.dial(ta));
    ra.unwrap();
    rb.unwrap();
    wait_until(T, "one session each", || async {
        a.handle.peer_count() == 1 && b.handle.peer_count() == 1
    })
    .await
    .unwrap();
    // Both ends hold the same connection.
    wait_until(T, "same connection on both sides", || async {
        let (pa, pb) = (a.handle.peers(), b.handle.peers());
        pa.len() == 1
            && pb.len() == 1
            && (pa[0].direction == icn_net::Direction::Outbound)
                == (pb[0].direction == icn_net::Direction::Inbound)
    })
    .await
    .unwrap();
    a.handle
        .send(b.keypair.did(), &WireMessage::Gossip(vec![1].into()))
        .unwrap();
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn bootstrap_and_peer_exchange_make_a_mesh_and_restarts_reconnect() {
    let a = start(config(vec![]));
    let b = start(config(vec![a.target()]));
    let c = start(config(vec![b.handle.local_addr().to_string()]));
    wait_until(T, "full mesh", || async {
        a.handle.peer_count() == 2 && b.handle.peer_count() == 2 && c.handle.peer_count() == 2
    })
    .await
    .unwrap();
    for node in [&a, &b, &c] {
        assert_eq!(node.page().get("icn_network_peers_discovered"), 2.0);
        assert_eq!(node.page().get("icn_network_connections_active"), 2.0);
    }
    // Restart c with the same key on the same port: a and b see it again.
    let c_key = c.keypair.clone();
    let c_addr = c.handle.local_addr();
    c.stop().await;
    wait_until(T, "c gone", || async {
        a.handle.peer_count() == 1 && b.handle.peer_count() == 1
    })
    .await
    .unwrap();
    let mut cfg = config(vec![]);
    cfg.listen = c_addr;
    let c2 = crate::start_with(c_key, cfg);
    wait_until(T, "c back in both directions", || async {
        a.handle.peer_count() == 2 && b.handle.peer_count() == 2 && c2.handle.peer_count() == 2
    })
    .await
    .unwrap();
    a.stop().await;
    b.stop().await;
    c2.stop().await;
}

#[tokio::test]
async fn transport_stats_and_full_queues_are_counted() {
    let mut slow = config(vec![]);
    slow.send_queue = 4;
    let a = crate::start(slow);
    let b = start(config(vec![a.target()]));
    wait_until(T, "connected", || async { a.handle.peer_count() == 1 })
        .await
        .unwrap();
    wait_until(T, "an RTT sample", || async {
        a.page().histogram("icn_network_rtt_seconds").unwrap().count >= 1.0
    })
    .await
    .unwrap();
    let page = a.page();
    let rtt = page.histogram("icn_network_rtt_seconds").unwrap();
    assert!(rtt.sum > 0.0 && rtt.sum / rtt.count < 0.5, "{rtt:?}");
    // Loopback loses nothing.
    assert_eq!(page.get("icn_network_lost_packets_total"), 0.0);
    assert_eq!(page.get("icn_network_congestion_events_total"), 0.0);

    // A burst bigger than the 4-frame queue: every refused send is counted.
    let mut refused = 0.0;
    for _ in 0..200 {
        if let Err(icn_net::SendError::QueueFull(_)) =
            a.handle.send_gossip(b.keypair.did(), vec![0; 60_000])
        {
            refused += 1.0;
        }
    }
    assert!(refused > 0.0);
    assert_eq!(
        a.page()
            .value_with("icn_system_mailbox_full_total", &[("actor", "network")]),
        Some(refused)
    );
    a.stop().await;
    b.stop().await;
}
