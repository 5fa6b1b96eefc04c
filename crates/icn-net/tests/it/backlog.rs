//! A peer that reads slower than we send holds the node's publishers back (before its queue
//! overflows) until it catches up; a peer that stops reading holds them back no longer than
//! `STUCK_AFTER`.

use std::time::Duration;

use icn_net::backlog::BACKLOG_HIGH_BYTES;
use icn_testkit::wait_until;

use crate::{TestNode, config, start};

const T: Duration = Duration::from_secs(20);
const FRAME: usize = 60_000;

/// Sends frames from `a` to `b` (which is not reading) until `a` is held back; every send is
/// queued, none refused. Returns how many were sent.
fn send_until_held_back(a: &TestNode, b: &TestNode) -> usize {
    let mut sent = 0;
    while !a.handle.backlogged() {
        a.handle
            .send_gossip(b.keypair.did(), vec![7; FRAME])
            .expect("held back before the queue is full");
        sent += 1;
        assert!(sent < 10_000, "never held back");
    }
    sent
}

#[tokio::test]
async fn a_slow_peer_holds_publishers_back_until_it_catches_up_and_a_stuck_one_not_for_long() {
    let a = start(config(vec![]));
    let mut b = start(config(vec![a.target()]));
    wait_until(T, "connected", || async { a.handle.peer_count() == 1 })
        .await
        .unwrap();

    // b takes nothing from its event queue: its readers stop, then QUIC stops a's writer.
    let sent = send_until_held_back(&a, &b);
    assert_eq!(
        a.page()
            .value_with("icn_system_mailbox_full_total", &[("actor", "network")]),
        Some(0.0)
    );

    // b catches up: a's waiters are woken and it holds nobody back any more.
    let room = a.handle.room();
    let caught_up = room.notified();
    let reader = tokio::spawn(async move {
        let mut got = 0usize;
        while let Some(event) = b.events.recv().await {
            if let icn_net::NetEvent::Gossip { bytes, .. } = event {
                got += bytes.len();
            }
            if got >= sent * FRAME {
                break;
            }
        }
        b
    });
    tokio::time::timeout(T, caught_up)
        .await
        .expect("woken when b caught up");
    wait_until(T, "no longer held back", || async {
        !a.handle.backlogged()
    })
    .await
    .unwrap();
    let b = reader.await.unwrap();

    // b stops reading again. Once its buffers are full too, a's writer stops moving: a is let
    // go STUCK_AFTER later, behind as it still is.
    for _ in 0..400 {
        a.handle
            .send_gossip(b.keypair.did(), vec![7; FRAME])
            .unwrap();
    }
    assert!(a.handle.backlogged());
    wait_until(T, "a stuck peer lets go", || async {
        !a.handle.backlogged()
    })
    .await
    .unwrap();
    let behind = a.handle.backlog_bytes(&b.keypair.did());
    assert!(behind >= BACKLOG_HIGH_BYTES, "{behind} bytes behind");
    a.stop().await;
    b.stop().await;
}
