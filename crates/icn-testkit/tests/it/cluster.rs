//! Multi-node clusters over real QUIC on loopback.

use std::time::Duration;

use icn_net::PeerTarget;
use icn_testkit::{Cluster, Topology, wait_until};

const T: Duration = Duration::from_secs(20);

async fn sum(cluster: &Cluster, name: &str) -> f64 {
    let mut total = 0.0;
    for i in cluster.running() {
        total += cluster.scrape(i).await.unwrap().get(name);
    }
    total
}

#[tokio::test]
async fn line_of_three_becomes_a_full_mesh() {
    let cluster = Cluster::start(3, Topology::Line).await.unwrap();
    wait_until(T, "full mesh", || async {
        (0..3).all(|i| cluster.peers_of(i).len() == 2)
    })
    .await
    .unwrap();
    for i in 0..3 {
        let mut expected: Vec<_> = (0..3).filter(|j| *j != i).map(|j| cluster.did(j)).collect();
        expected.sort();
        assert_eq!(cluster.peers_of(i), expected, "peer set of node {i}");
        let page = cluster.scrape(i).await.unwrap();
        assert_eq!(page.get("icn_network_connections_active"), 2.0, "node {i}");
        assert_eq!(page.get("icn_network_peers_discovered"), 2.0, "node {i}");
        assert!(page.get("icn_network_messages_sent_total") > 0.0);
        assert!(page.get("icn_network_bytes_received_total") > 0.0);
        // network, gossip and ledger.
        assert_eq!(page.value("icn_system_actors_active"), Some(3.0));
        // Idle actors have empty mailboxes.
        for actor in ["network", "gossip", "ledger"] {
            assert_eq!(
                page.value_with("icn_system_mailbox_depth", &[("actor", actor)]),
                Some(0.0),
                "{actor}"
            );
        }
    }
    // Everything one node wrote, another read: the sums agree once traffic settles.
    wait_until(T, "sent == received across the cluster", || async {
        sum(&cluster, "icn_network_messages_sent_total").await
            == sum(&cluster, "icn_network_messages_received_total").await
            && sum(&cluster, "icn_network_bytes_sent_total").await
                == sum(&cluster, "icn_network_bytes_received_total").await
    })
    .await
    .unwrap();
    cluster.shutdown().await.unwrap();
}

#[tokio::test]
async fn stopped_node_leaves_and_restarted_node_returns_both_ways() {
    let mut cluster = Cluster::start(3, Topology::Star).await.unwrap();
    wait_until(T, "full mesh", || async {
        (0..3).all(|i| cluster.peers_of(i).len() == 2)
    })
    .await
    .unwrap();
    cluster.stop(2).await.unwrap();
    wait_until(T, "node 2 gone from the others", || async {
        cluster.peers_of(0).len() == 1 && cluster.peers_of(1).len() == 1
    })
    .await
    .unwrap();
    for i in 0..2 {
        let page = cluster.scrape(i).await.unwrap();
        assert_eq!(page.get("icn_network_connections_active"), 1.0);
        assert_eq!(
            page.histogram("icn_network_connection_duration_seconds")
                .unwrap()
                .count,
            1.0
        );
    }
    cluster.restart(2).await.unwrap();
    wait_until(T, "node 2 back in both directions", || async {
        (0..3).all(|i| cluster.peers_of(i).len() == 2)
    })
    .await
    .unwrap();
    let page = cluster.scrape(2).await.unwrap();
    assert_eq!(page.get("icn_network_connections_active"), 2.0);
    cluster.shutdown().await.unwrap();
}

#[tokio::test]
async fn wrong_did_dial_fails_and_is_counted() {
    let cluster = Cluster::start(2, Topology::Isolated).await.unwrap();
    let stranger = icn_identity::Keypair::generate().did();
    let target = PeerTarget {
        did: Some(stranger),
        addr: cluster.node(1).network().unwrap().local_addr(),
    };
    let err = cluster
        .node(0)
        .network()
        .unwrap()
        .dial(target)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("identity_mismatch"), "{err}");
    let page = cluster.scrape(0).await.unwrap();
    assert_eq!(
        page.value_with(
            "icn_network_dial_failures_total",
            &[("reason", "identity_mismatch")]
        ),
        Some(1.0)
    );
    assert_eq!(page.get("icn_network_connections_active"), 0.0);
    cluster.shutdown().await.unwrap();
}

#[tokio::test]
async fn link_cuts_partition_and_heal() {
    let cluster = Cluster::start(4, Topology::FullMesh).await.unwrap();
    wait_until(T, "full mesh", || async {
        (0..4).all(|i| cluster.peers_of(i).len() == 3)
    })
    .await
    .unwrap();
    cluster.partition(&[0, 1], &[2, 3]).await;
    wait_until(T, "two halves", || async {
        (0..4).all(|i| cluster.peers_of(i).len() == 1)
    })
    .await
    .unwrap();
    cluster.heal(&[0, 1], &[2, 3]).await;
    wait_until(T, "healed mesh", || async {
        (0..4).all(|i| cluster.peers_of(i).len() == 3)
    })
    .await
    .unwrap();
    cluster.shutdown().await.unwrap();
}

#[tokio::test]
async fn rpc_reports_peers_and_refuses_missing_tokens() {
    let cluster = Cluster::start(2, Topology::Line).await.unwrap();
    wait_until(T, "connected", || async { cluster.peers_of(0).len() == 1 })
        .await
        .unwrap();
    let dir = &cluster.member(0).config.data_dir;
    let client = icn_rpc::RpcClient::from_data_dir(dir, None, None).unwrap();
    let status = client.status().await.unwrap();
    assert_eq!(status.did, Some(cluster.did(0).to_string()));
    assert_eq!(status.peers, 1);
    let peers = client.peers().await.unwrap();
    assert_eq!(peers[0].did, cluster.did(1).to_string());

    let addr = cluster.node(0).rpc_addr().unwrap();
    let anonymous = reqwest::get(format!("http://{addr}/v1/status"))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let page = cluster.scrape(0).await.unwrap();
    let count = |status| {
        page.value_with(
            "icn_rpc_requests_total",
            &[("method", "status"), ("status", status)],
        )
    };
    assert_eq!(count("unauthorized"), Some(1.0));
    assert_eq!(count("ok"), Some(1.0));
    assert_eq!(
        page.histogram_with("icn_rpc_request_duration_seconds", &[("method", "peers")])
            .unwrap()
            .count,
        1.0
    );
    assert_eq!(page.get("icn_rpc_active_requests"), 0.0);
    cluster.shutdown().await.unwrap();
}
