//! A peer with a valid identity floods the gossip layer: announces of hundreds of thousands of
//! ids it does not have, and requests for unknown ids in a loop. The victim drops what is over
//! the per-peer budgets (counted by reason), its memory stays bounded, and an honest node's
//! entries still reach it.

use std::time::Duration;

use icn_gossip::{EntryId, GossipMessage, Topic, encode};
use icn_identity::Did;
use icn_net::NetworkHandle;
use icn_testkit::wait_until;

use crate::gossip::news_mesh;

const T: Duration = Duration::from_secs(30);

/// Ids announced (and then requested) by the attacker.
const FLOOD_MESSAGES: usize = 300;
const IDS_PER_MESSAGE: usize = 1024;

/// Resident memory the victim's process may gain during the flood. Generous: three nodes
/// share the process, and the attacker's own send queues count too.
const RSS_GROWTH_CAP: f64 = 256.0 * 1024.0 * 1024.0;

fn topic() -> Topic {
    Topic::new("news").unwrap()
}

fn fake_ids(round: usize) -> Vec<EntryId> {
    (0..IDS_PER_MESSAGE)
        .map(|i| {
            let mut id = [0xA5; 32];
            id[..8].copy_from_slice(&(round as u64).to_le_bytes());
            id[8..16].copy_from_slice(&(i as u64).to_le_bytes());
            EntryId::from_bytes(id)
        })
        .collect()
}

/// Sends `msg` through the attacker's session, waiting while its send queue is full.
async fn send(raw: &NetworkHandle, to: Did, msg: &GossipMessage) {
    let bytes = encode(msg).unwrap();
    while raw.send_gossip(to, bytes.clone()).is_err() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn announce_and_request_floods_are_rate_limited_and_honest_entries_flow() {
    let cluster = news_mesh(3).await;
    let victim = cluster.did(0);
    let raw = cluster.node(1).network().unwrap().clone();
    let rss = |page: &icn_testkit::Metrics| page.get("process_resident_memory_bytes");
    let before = cluster.scrape(0).await.unwrap();

    let flood = tokio::spawn({
        let raw = raw.clone();
        async move {
            for round in 0..FLOOD_MESSAGES {
                let ids = fake_ids(round);
                send(
                    &raw,
                    victim,
                    &GossipMessage::Announce {
                        topic: topic(),
                        ids: ids.clone(),
                    },
                )
                .await;
                send(&raw, victim, &GossipMessage::Request { ids }).await;
            }
        }
    });
    // Honest traffic during the attack.
    let honest = cluster
        .node(2)
        .gossip()
        .unwrap()
        .publish(topic(), b"still here".to_vec())
        .await
        .unwrap();
    wait_until(T, "honest entry reached the victim", || async {
        cluster
            .node(0)
            .gossip()
            .unwrap()
            .entries(&topic(), usize::MAX)
            .unwrap()
            .iter()
            .any(|e| e.id() == honest)
    })
    .await
    .unwrap();
    flood.await.unwrap();

    let sent = (FLOOD_MESSAGES * IDS_PER_MESSAGE) as f64;
    wait_until(T, "the flood is counted", || async {
        let page = cluster.scrape(0).await.unwrap();
        page.get("icn_gossip_announces_received_total") >= FLOOD_MESSAGES as f64
            && page.get("icn_gossip_requests_received_total") >= FLOOD_MESSAGES as f64
    })
    .await
    .unwrap();
    let after = cluster.scrape(0).await.unwrap();
    let dropped = |r| {
        after
            .value_with("icn_gossip_dropped_total", &[("reason", r)])
            .unwrap_or(0.0)
    };
    // Announced ids: only the attacker's outstanding slots (256) are ever requested, the rest
    // are refused by the per-peer caps; requested ids beyond the window budget are dropped.
    assert!(dropped("rate_limited") > 0.0, "no rate limiting counted");
    assert!(
        dropped("rate_limited") + dropped("peer_busy") >= 0.9 * sent,
        "announced ids not accounted for: {} + {} < {sent}",
        dropped("rate_limited"),
        dropped("peer_busy")
    );
    let growth = rss(&after) - rss(&before);
    assert!(growth < RSS_GROWTH_CAP, "RSS grew by {growth} bytes");
    // Nothing the attacker announced was stored.
    assert_eq!(
        cluster
            .node(0)
            .gossip()
            .unwrap()
            .entries(&topic(), usize::MAX)
            .unwrap()
            .len(),
        1
    );
    cluster.shutdown().await.unwrap();
}
