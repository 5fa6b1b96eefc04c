//! Hostile peers with valid identities that flood or stall: memory stays under the documented
//! caps (counted, not guessed), an honest peer's traffic still arrives, and the attacker is
//! throttled or cut off with a counted reason.

use std::time::Duration;

use icn_net::NetEvent;
use icn_net::wire::{WireMessage, encode_frame};
use icn_testkit::wait_until;

use crate::hostile::{handshaken_raw_peer, tls_only_raw_peer};
use crate::{TestNode, config, start};

const T: Duration = Duration::from_secs(20);

/// Waits until `node` has a session with `peer` and an honest gossip frame from it arrives,
/// skipping everything else.
async fn honest_frame_arrives(node: &mut TestNode, from: icn_identity::Did, payload: &[u8]) {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let event = tokio::time::timeout_at(deadline, node.events.recv())
            .await
            .expect("honest frame within the deadline")
            .expect("events open");
        if let NetEvent::Gossip { from: f, bytes } = event
            && f == from
            && *bytes == *payload
        {
            return;
        }
    }
}

/// Node `a` with `a_config`, and an honest node `b` connected to it.
async fn connected_pair(a_config: icn_net::NetConfig) -> (TestNode, TestNode) {
    let a = start(a_config);
    let b = start(config(vec![a.target()]));
    wait_until(T, "a and b connected", || async {
        a.handle.peer_count() == 1
    })
    .await
    .unwrap();
    (a, b)
}

#[tokio::test]
async fn max_size_frame_flood_is_held_to_the_inbound_budget() {
    const FRAME: usize = 64 * 1024;
    const BUDGET: usize = 4 * FRAME;
    let (mut a, b) = connected_pair(icn_net::NetConfig {
        max_frame_bytes: FRAME,
        inbound_buffer_bytes: BUDGET,
        ..config(vec![])
    })
    .await;
    let (_endpoint, raw) = handshaken_raw_peer(a.handle.local_addr(), a.keypair.did()).await;
    let frame = encode_frame(&WireMessage::Gossip(vec![7; FRAME - 16].into()), FRAME).unwrap();
    // Maximum-size frames as fast as QUIC lets them go, on several streams at once.
    let mut writers = Vec::new();
    for _ in 0..4 {
        let raw = raw.clone();
        let frame = frame.clone();
        writers.push(tokio::spawn(async move {
            let Ok(mut stream) = raw.open_uni().await else {
                return;
            };
            while stream.write_all(&frame).await.is_ok() {}
        }));
    }
    // The node does not process anything meanwhile: whatever the attacker makes it hold
    // waits in its event queue, and must stay within the budget.
    wait_until(T, "the flooding peer is throttled", || async {
        a.page().get("icn_network_inbound_throttled_total") >= 1.0
    })
    .await
    .unwrap();
    let mut held = Vec::new();
    while let Ok(event) = a.events.try_recv() {
        held.push(event);
    }
    let flood_bytes: usize = held
        .iter()
        .filter_map(|e| match e {
            NetEvent::Gossip { from, bytes } if *from != b.keypair.did() => Some(bytes.len()),
            _ => None,
        })
        .sum();
    assert!(flood_bytes > 0, "the flood reached the node");
    assert!(
        flood_bytes <= BUDGET,
        "{flood_bytes} flood bytes held, budget {BUDGET}"
    );
    // Processing resumes (the held bytes are released) while the flood goes on, and the
    // honest peer's frame still gets through.
    drop(held);
    b.handle.send_gossip(a.keypair.did(), vec![42]).unwrap();
    honest_frame_arrives(&mut a, b.keypair.did(), &[42]).await;
    let received = a.page().get("icn_network_bytes_received_total");
    assert!(received > BUDGET as f64, "{received}");
    for w in writers {
        w.abort();
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn hundreds_of_stalled_streams_are_capped_and_timed_out() {
    let (mut a, b) = connected_pair(icn_net::NetConfig {
        frame_read_timeout: Duration::from_millis(500),
        ..config(vec![])
    })
    .await;
    let (_endpoint, raw) = handshaken_raw_peer(a.handle.local_addr(), a.keypair.did()).await;
    // Each stream starts a 1 MiB frame and never finishes it.
    let mut open_at_once = 0;
    let mut streams = Vec::new();
    for _ in 0..300 {
        match tokio::time::timeout(Duration::from_millis(100), raw.open_uni()).await {
            Ok(Ok(mut s)) => {
                s.write_all(&(1u32 << 20).to_be_bytes()).await.unwrap();
                s.write_all(&[0]).await.unwrap();
                streams.push(s);
                open_at_once += 1;
            }
            // The peer's stream credit is used up: it must wait for the node to close some.
            Ok(Err(e)) => panic!("connection failed: {e}"),
            Err(_) => break,
        }
    }
    assert!(
        open_at_once <= 8,
        "{open_at_once} streams opened before the first refusal"
    );
    // The stalled frames time out, are counted, and their streams are closed.
    wait_until(T, "stalled frames timed out", || async {
        a.page()
            .value_with(
                "icn_network_frames_rejected_total",
                &[("reason", "timeout")],
            )
            .unwrap_or(0.0)
            >= open_at_once as f64
    })
    .await
    .unwrap();
    b.handle.send_gossip(a.keypair.did(), vec![43]).unwrap();
    honest_frame_arrives(&mut a, b.keypair.did(), &[43]).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn peer_that_stalls_after_tls_is_dropped_and_counted() {
    let (mut a, b) = connected_pair(icn_net::NetConfig {
        handshake_timeout: Duration::from_millis(500),
        ..config(vec![])
    })
    .await;
    // Several peers finish TLS and never send their Hello.
    let mut stalled = Vec::new();
    for _ in 0..5 {
        stalled.push(tls_only_raw_peer(a.handle.local_addr(), a.keypair.did()).await);
    }
    for (_, _, connection) in &stalled {
        let reason = tokio::time::timeout(T, connection.closed()).await.unwrap();
        assert!(reason.to_string().contains("hello timeout"), "{reason}");
    }
    let page = a.page();
    assert_eq!(
        page.value_with(
            "icn_network_dial_failures_total",
            &[("reason", "handshake")]
        ),
        Some(5.0)
    );
    assert_eq!(a.handle.peer_count(), 1, "no stalled peer became a session");
    b.handle.send_gossip(a.keypair.did(), vec![44]).unwrap();
    honest_frame_arrives(&mut a, b.keypair.did(), &[44]).await;
    a.stop().await;
    b.stop().await;
}
