//! Gossip over real QUIC: propagation, partitions, restarts, forged entries.

use std::time::Duration;

use icn_gossip::Topic;
use icn_testkit::{Cluster, MetricsMode, Topology, wait_until};

const T: Duration = Duration::from_secs(30);

fn topic() -> Topic {
    Topic::new("news").unwrap()
}

/// `n` nodes on `topology`, each joining "news" from its config.
pub(crate) async fn news_cluster(n: usize, topology: Topology) -> Cluster {
    Cluster::start_with(n, topology, |_, c| {
        c.gossip.topics = vec!["news".into()];
    })
    .await
    .unwrap()
}

/// `n` nodes in a full mesh on "news", once every node sees all the others.
pub(crate) async fn news_mesh(n: usize) -> Cluster {
    let cluster = news_cluster(n, Topology::FullMesh).await;
    wait_until(T, "mesh connected", || async {
        (0..n).all(|i| cluster.peers_of(i).len() == n - 1)
    })
    .await
    .unwrap();
    cluster
}

async fn entries(cluster: &Cluster, i: usize) -> usize {
    cluster
        .node(i)
        .gossip()
        .unwrap()
        .entries(&topic(), usize::MAX)
        .unwrap()
        .len()
}

/// A small entry crosses a line of five by relay pushes, one message per hop; a larger one
/// by announce, request and response at every hop.
#[tokio::test]
async fn entries_cross_a_line_of_five() {
    let cluster = Cluster::start_with(5, Topology::Line, |_, c| {
        c.gossip.topics = vec!["news".into()];
        // Keep a real line: no peer exchange shortcuts.
        c.network.max_peers = 2;
    })
    .await
    .unwrap();
    wait_until(T, "line connected", || async {
        (1..5).all(|i| cluster.peers_of(i).contains(&cluster.did(i - 1)))
    })
    .await
    .unwrap();
    let gossip = cluster.node(0).gossip().unwrap();
    let small = gossip
        .publish(topic(), b"hello line".to_vec())
        .await
        .unwrap();
    wait_until(T, "small entry at the far end", || async {
        entries(&cluster, 4).await == 1
    })
    .await
    .unwrap();
    let far = cluster.node(4).gossip().unwrap();
    let got = far.entries(&topic(), 10).unwrap();
    assert_eq!(got[0].id(), small);
    assert_eq!(got[0].payload, &b"hello line"[..]);
    let p4 = cluster.scrape(4).await.unwrap();
    assert_eq!(p4.get("icn_gossip_pushes_received_total"), 1.0);
    assert_eq!(p4.get("icn_gossip_announces_received_total"), 0.0);
    assert_eq!(p4.get("icn_gossip_requests_sent_total"), 0.0);

    let large_payload = vec![7u8; 4096];
    let large = gossip
        .publish(topic(), large_payload.clone())
        .await
        .unwrap();
    wait_until(T, "large entry at the far end", || async {
        entries(&cluster, 4).await == 2
    })
    .await
    .unwrap();
    let got = far.entries(&topic(), 10).unwrap();
    assert!(
        got.iter()
            .any(|e| e.id() == large && e.payload == large_payload)
    );
    let p0 = cluster.scrape(0).await.unwrap();
    assert_eq!(p0.get("icn_gossip_entries_published_total"), 2.0);
    assert_eq!(p0.get("icn_gossip_entries_received_total"), 0.0);
    let p4 = cluster.scrape(4).await.unwrap();
    assert_eq!(p4.get("icn_gossip_entries_received_total"), 2.0);
    assert_eq!(p4.get("icn_gossip_pushes_received_total"), 1.0);
    assert!(p4.get("icn_gossip_announces_received_total") >= 1.0);
    assert!(p4.get("icn_gossip_requests_sent_total") >= 1.0);
    assert!(p4.get("icn_gossip_responses_received_total") >= 1.0);
    assert_eq!(p4.get("icn_gossip_entries_total"), 2.0);
    assert_eq!(p4.get("icn_gossip_topics_total"), 2.0); // news + icn/ledger
    assert_eq!(
        p4.histogram("icn_gossip_propagation_delay_seconds")
            .unwrap()
            .count,
        2.0
    );
    cluster.shutdown().await.unwrap();
}

/// Nodes with no-op metrics (the overhead benchmark's baseline) still gossip, serve an empty
/// page, and keep their registry kind across a restart.
#[tokio::test]
async fn noop_metrics_nodes_gossip_and_serve_an_empty_page() {
    let mut cluster =
        Cluster::start_with_metrics(3, Topology::FullMesh, MetricsMode::Noop, |_, c| {
            c.gossip.topics = vec!["news".into()];
        })
        .await
        .unwrap();
    wait_until(T, "mesh", || async {
        (0..3).all(|i| cluster.peers_of(i).len() == 2)
    })
    .await
    .unwrap();
    for n in 0..5u8 {
        cluster
            .node(0)
            .gossip()
            .unwrap()
            .publish(topic(), vec![n; 64])
            .await
            .unwrap();
    }
    wait_until(T, "entries everywhere", || async {
        entries(&cluster, 1).await == 5 && entries(&cluster, 2).await == 5
    })
    .await
    .unwrap();
    for i in 0..3 {
        assert!(cluster.node(i).metrics().is_noop());
        let page = cluster.scrape(i).await.unwrap();
        assert!(page.raw().is_empty(), "node {i} served {:?}", page.raw());
        assert!(cluster.node(i).health().peers.is_some_and(|p| p == 2));
    }
    cluster.restart(2).await.unwrap();
    assert!(cluster.node(2).metrics().is_noop());
    cluster.shutdown().await.unwrap();
}

#[tokio::test]
async fn partition_heals_through_anti_entropy() {
    let cluster = Cluster::start_with(4, Topology::FullMesh, |_, c| {
        c.gossip.topics = vec!["news".into()];
        c.gossip.anti_entropy_interval = Duration::from_millis(500);
    })
    .await
    .unwrap();
    wait_until(T, "mesh", || async {
        (0..4).all(|i| cluster.peers_of(i).len() == 3)
    })
    .await
    .unwrap();
    cluster.partition(&[0, 1], &[2, 3]).await;
    wait_until(T, "split", || async {
        (0..4).all(|i| cluster.peers_of(i).len() == 1)
    })
    .await
    .unwrap();
    for (node, n) in [(0, 3), (3, 2)] {
        for k in 0..n {
            cluster
                .node(node)
                .gossip()
                .unwrap()
                .publish(topic(), format!("side {node} #{k}").into_bytes())
                .await
                .unwrap();
        }
    }
    wait_until(T, "each side has its own", || async {
        entries(&cluster, 1).await == 3 && entries(&cluster, 2).await == 2
    })
    .await
    .unwrap();
    cluster.heal(&[0, 1], &[2, 3]).await;
    wait_until(T, "union everywhere", || async {
        let mut all = true;
        for i in 0..4 {
            all &= entries(&cluster, i).await == 5;
        }
        all
    })
    .await
    .unwrap();
    let mut recovered = 0.0;
    for i in 0..4 {
        recovered += cluster
            .scrape(i)
            .await
            .unwrap()
            .get("icn_gossip_anti_entropy_recovered_total");
    }
    assert!(recovered >= 1.0, "anti-entropy recovered nothing");
    cluster.shutdown().await.unwrap();
}

#[tokio::test]
async fn restarted_node_keeps_its_entries_and_catches_up() {
    let mut cluster = Cluster::start_with(3, Topology::FullMesh, |_, c| {
        c.gossip.topics = vec!["news".into()];
        c.gossip.anti_entropy_interval = Duration::from_millis(500);
    })
    .await
    .unwrap();
    wait_until(T, "mesh", || async {
        (0..3).all(|i| cluster.peers_of(i).len() == 2)
    })
    .await
    .unwrap();
    let g0 = cluster.node(0).gossip().unwrap().clone();
    g0.publish(topic(), b"before".to_vec()).await.unwrap();
    wait_until(T, "everyone has it", || async {
        entries(&cluster, 2).await == 1
    })
    .await
    .unwrap();
    cluster.stop(2).await.unwrap();
    g0.publish(topic(), b"missed".to_vec()).await.unwrap();
    cluster.restart(2).await.unwrap();
    assert!(
        entries(&cluster, 2).await >= 1,
        "stored entry lost over restart"
    );
    wait_until(T, "restarted node caught up", || async {
        entries(&cluster, 2).await == 2
    })
    .await
    .unwrap();
    cluster.shutdown().await.unwrap();
}

#[tokio::test]
async fn forged_entries_from_a_peer_are_rejected_and_honest_ones_flow() {
    use icn_gossip::{Entry, GossipMessage, Signature, encode};
    let cluster = news_cluster(2, Topology::Line).await;
    wait_until(T, "connected", || async { cluster.peers_of(0).len() == 1 })
        .await
        .unwrap();
    // Node 1 speaks raw gossip to node 0 through its authenticated session.
    let raw = cluster.node(1).network().unwrap().clone();
    let victim = cluster.did(0);
    let key = cluster.member(1).keypair.clone();

    // 1. An unsolicited Response (never announced, never requested).
    let pushed = Entry::sign(&key, topic(), 1, b"pushed".to_vec());
    raw.send_gossip(
        victim,
        encode(&GossipMessage::Response {
            entries: vec![pushed],
        })
        .unwrap(),
    )
    .unwrap();
    // 2. Announce an id, then answer the request with a bad signature over the same content.
    let mut forged = Entry::sign(&key, topic(), 2, b"forged".to_vec());
    forged.signature = Signature::from_bytes(&[7u8; 64]);
    raw.send_gossip(
        victim,
        encode(&GossipMessage::Announce {
            topic: topic(),
            ids: vec![forged.id()],
        })
        .unwrap(),
    )
    .unwrap();
    wait_until(T, "node 0 to request the announced id", || async {
        cluster
            .scrape(1)
            .await
            .unwrap()
            .get("icn_gossip_requests_received_total")
            >= 1.0
    })
    .await
    .unwrap();
    raw.send_gossip(
        victim,
        encode(&GossipMessage::Response {
            entries: vec![forged],
        })
        .unwrap(),
    )
    .unwrap();
    // 3. Bytes that are no gossip message at all.
    raw.send_gossip(victim, vec![0xFF; 40]).unwrap();

    wait_until(T, "all three rejections counted", || async {
        let page = cluster.scrape(0).await.unwrap();
        let reason = |r| {
            page.value_with("icn_gossip_entries_rejected_total", &[("reason", r)])
                .unwrap_or(0.0)
        };
        reason("unsolicited") >= 1.0 && reason("bad_signature") >= 1.0 && reason("malformed") >= 1.0
    })
    .await
    .unwrap();
    assert_eq!(entries(&cluster, 0).await, 0, "a forged entry was stored");

    // Honest traffic still flows both ways.
    cluster
        .node(1)
        .gossip()
        .unwrap()
        .publish(topic(), b"honest".to_vec())
        .await
        .unwrap();
    wait_until(T, "honest entry delivered", || async {
        entries(&cluster, 0).await == 1
    })
    .await
    .unwrap();
    cluster.shutdown().await.unwrap();
}

#[tokio::test]
async fn anti_entropy_rounds_and_bytes_are_counted_and_slow_subscribers_lag() {
    let cluster = Cluster::start_with(2, Topology::Line, |_, c| {
        c.gossip.topics = vec!["news".into()];
        c.gossip.anti_entropy_interval = Duration::from_millis(200);
    })
    .await
    .unwrap();
    wait_until(T, "connected", || async { cluster.peers_of(0).len() == 1 })
        .await
        .unwrap();
    wait_until(T, "reconciliation rounds both ways", || async {
        let (a, b) = (
            cluster.scrape(0).await.unwrap(),
            cluster.scrape(1).await.unwrap(),
        );
        a.get("icn_gossip_anti_entropy_rounds_total")
            + b.get("icn_gossip_anti_entropy_rounds_total")
            >= 2.0
            && a.get("icn_gossip_anti_entropy_bytes_total") > 0.0
            && b.get("icn_gossip_anti_entropy_bytes_total") > 0.0
    })
    .await
    .unwrap();

    // A subscriber that never reads: its buffer (1024) overflows and the loss is counted.
    let gossip = cluster.node(0).gossip().unwrap().clone();
    let mut slow = gossip.subscribe(topic()).await.unwrap();
    for i in 0..1100u32 {
        gossip
            .publish(topic(), i.to_be_bytes().to_vec())
            .await
            .unwrap();
    }
    match slow.next().await {
        Some(icn_gossip::SubscriptionEvent::Lagged(missed)) => assert_eq!(missed, 1100 - 1024),
        other => panic!("expected a lag notice, got {other:?}"),
    }
    let page = cluster.scrape(0).await.unwrap();
    assert_eq!(page.get("icn_gossip_subscriber_lagged_total"), 76.0);
    assert_eq!(page.get("icn_gossip_entries_published_total"), 1100.0);
    cluster.shutdown().await.unwrap();
}

/// A burst of publishes is pushed in merged messages: one push per peer for what one write took
/// in, packed up to 512 KiB (64 KiB entries stream as several pushes). In a full mesh every
/// peer was pushed every entry, so nobody announces or requests anything.
#[tokio::test]
async fn a_burst_of_publishes_travels_in_merged_pushes() {
    const BURST: usize = 200;
    const LARGE: usize = 8;
    let cluster = news_mesh(3).await;
    let gossip = cluster.node(0).gossip().unwrap().clone();
    // Each burst is in the actor's queue at once: the first publish's write takes the rest in.
    for payloads in [
        (0..BURST)
            .map(|i| i.to_le_bytes().to_vec())
            .collect::<Vec<_>>(),
        (0..LARGE).map(|i| vec![i as u8; 64 * 1024]).collect(),
    ] {
        let mut burst = tokio::task::JoinSet::new();
        for payload in payloads {
            let gossip = gossip.clone();
            burst.spawn(async move { gossip.publish(topic(), payload).await });
        }
        while let Some(published) = burst.join_next().await {
            published.unwrap().unwrap();
        }
    }
    let total = BURST + LARGE;
    wait_until(T, "the burst everywhere", || async {
        entries(&cluster, 1).await == total && entries(&cluster, 2).await == total
    })
    .await
    .unwrap();
    let p0 = cluster.scrape(0).await.unwrap();
    let pushes = p0.get("icn_gossip_pushes_sent_total");
    // One push per entry per peer would be 416; the 8 large entries (a little over 512 KiB
    // with their headers) need at least two pushes of up to 512 KiB per peer.
    assert!(
        (4.0..=(total / 4) as f64).contains(&pushes),
        "{pushes} pushes"
    );
    assert_eq!(p0.get("icn_gossip_announces_sent_total"), 0.0);
    for i in 1..3 {
        let page = cluster.scrape(i).await.unwrap();
        assert_eq!(page.get("icn_gossip_pushes_received_total"), pushes / 2.0);
        assert_eq!(page.get("icn_gossip_entries_received_total"), total as f64);
        for none in [
            "icn_gossip_requests_sent_total",
            "icn_gossip_announces_sent_total",
            "icn_gossip_pushes_sent_total",
        ] {
            assert_eq!(page.get(none), 0.0, "node {i}: {none}");
        }
    }
    cluster.shutdown().await.unwrap();
}

/// `publish_synced` (what the ledger uses for its own ops): by the time anyone hears of the
/// entry, here a local subscriber, it is on the disk. A copy of the open store file taken at
/// that moment (what a crash would leave) holds it.
#[tokio::test]
async fn a_synced_publish_is_on_the_disk_before_anyone_hears_of_it() {
    let cluster = news_cluster(1, Topology::Isolated).await;
    synced_before_heard(&cluster, 0).await;
    cluster.shutdown().await.unwrap();
}

/// The same for a peer: a synced publish's push waits for the sync, while a plain publish's
/// push leaves as its write starts.
#[tokio::test]
async fn a_synced_publish_is_on_the_disk_before_a_peer_hears_of_it() {
    let cluster = news_mesh(2).await;
    synced_before_heard(&cluster, 1).await;
    cluster.shutdown().await.unwrap();
}

/// Publishes 20 entries with `publish_synced` at node 0 and checks, as node `listener` hears
/// of each, that a copy of node 0's store file holds it.
async fn synced_before_heard(cluster: &Cluster, listener: usize) {
    let gossip = cluster.node(0).gossip().unwrap().clone();
    let mut subscription = cluster
        .node(listener)
        .gossip()
        .unwrap()
        .subscribe(topic())
        .await
        .unwrap();
    let path = cluster
        .member(0)
        .config
        .data_dir
        .join(icn_core::node::GOSSIP_STORE_FILE);
    let copies = tempfile::tempdir().unwrap();
    for i in 0..20u32 {
        let publisher = gossip.clone();
        let published = tokio::spawn(async move {
            publisher
                .publish_synced(topic(), i.to_le_bytes().to_vec())
                .await
        });
        let heard = match subscription.next().await {
            Some(icn_gossip::SubscriptionEvent::Entry(entry)) => entry,
            other => panic!("expected the entry, got {other:?}"),
        };
        let copy = copies.path().join(format!("crash-{i}.redb"));
        std::fs::copy(&path, &copy).unwrap();
        let crashed = icn_gossip::GossipStore::open(&copy).unwrap();
        assert_eq!(
            crashed
                .get(heard.timestamp_ms, &heard.id())
                .unwrap()
                .as_ref(),
            Some(&heard),
            "entry {i} was heard of before it was synced"
        );
        assert_eq!(published.await.unwrap().unwrap(), heard.id());
    }
}
