//! `icnctl top --once` against a real two-node cluster, and against nothing at all.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use icn_testkit::pki::TestPki;
use icn_testkit::{Cluster, Topology, wait_until};

use crate::node::{closed_port, icnctl, stderr, success};

/// Metrics addresses of the cluster's nodes.
fn metrics_addrs(cluster: &Cluster) -> Vec<String> {
    cluster
        .running()
        .into_iter()
        .map(|i| cluster.node(i).metrics_addr().unwrap().to_string())
        .collect()
}

/// The table row of `instance`: the first line naming it (sparkline titles come later).
fn row<'a>(text: &'a str, instance: &str) -> Vec<&'a str> {
    text.lines()
        .find(|l| l.contains(instance))
        .unwrap_or_else(|| panic!("no {instance} in\n{text}"))
        .split_whitespace()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_shows_a_live_cluster() {
    let cluster = Cluster::start(2, Topology::Line).await.unwrap();
    // Connected, as the metrics page says so, with the same (empty) ledger.
    wait_until(
        Duration::from_secs(30),
        "both nodes report 1 peer",
        || async {
            let (Ok(a), Ok(b)) = (cluster.scrape(0).await, cluster.scrape(1).await) else {
                return false;
            };
            let peers = "icn_network_connections_active";
            let digest = "icn_ledger_state_digest_prefix";
            a.get(peers) == 1.0 && b.get(peers) == 1.0 && a.value(digest) == b.value(digest)
        },
    )
    .await
    .unwrap();
    let addrs = metrics_addrs(&cluster);
    let nodes = addrs.join(",");
    let dir = tempfile::tempdir().unwrap();
    let args = ["top", "--once", "--interval", "300ms", "--nodes", &nodes];

    let text = success(&icnctl(dir.path(), &args).await);
    assert!(text.contains("2 nodes, 2 up  digest: agree"), "{text}");
    for addr in &addrs {
        let cells = row(&text, addr);
        // │ADDR  up  PEERS ...
        assert_eq!(cells[0], format!("│{addr}"), "{text}");
        assert_eq!(cells[1..3], ["up", "1"], "{text}");
    }
    assert!(!text.contains('\x1b'), "escape codes in\n{text}");

    let json = success(&icnctl(dir.path(), &[&args[..], &["--json"]].concat()).await);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["digests_agree"], true, "{json}");
    for (i, addr) in addrs.iter().enumerate() {
        let node = &json["nodes"][i];
        assert_eq!(node["instance"], addr.as_str(), "{json}");
        assert_eq!(node["up"], true, "{json}");
        assert_eq!(node["peers"], 1, "{json}");
        assert!(node["messages_in_per_second"].is_number(), "{json}");
        assert_eq!(
            node["digest_prefix"].as_str().map(str::len),
            Some(12),
            "{json}"
        );
    }

    // Without --nodes: the address the node wrote in its data dir. A dead node beside a live
    // one is a DOWN row, not a failure.
    let data_dir = &cluster.member(0).config.data_dir;
    let dead = closed_port().to_string();
    let out = icnctl(data_dir, &["top", "--once", "--interval", "300ms"]).await;
    assert!(success(&out).contains(&addrs[0]), "{}", stderr(&out));
    let mixed = format!("{},{dead}", addrs[1]);
    let text = success(&icnctl(dir.path(), &["top", "--once", "--nodes", &mixed]).await);
    assert_eq!(row(&text, &dead)[1], "DOWN", "{text}");
    assert!(text.contains("1 up"), "{text}");

    cluster.shutdown().await.unwrap();
}

#[tokio::test]
async fn once_fails_when_no_node_answers() {
    let dir = tempfile::tempdir().unwrap();
    let dead = closed_port().to_string();
    let args = ["top", "--once", "--interval", "50ms", "--nodes", &dead];
    let out = icnctl(dir.path(), &args).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!("icnctl: error: no node answered ({dead}: ")),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    // No --nodes and no metrics.addr.
    let out = icnctl(dir.path(), &["top", "--once"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no metrics.addr in"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_reads_nodes_behind_a_token_and_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    };
    let (cert, key) = (
        write("cert.pem", &pki.cert_pem),
        write("key.pem", &pki.key_pem),
    );
    let (token, ca) = (write("token", "top-secret\n"), write("ca.pem", &pki.ca_pem));
    let cluster = Cluster::start_with(1, Topology::Isolated, |_, config| {
        config.metrics.token_file = Some(token.clone());
        config.metrics.tls_cert = Some(cert.clone());
        config.metrics.tls_key = Some(key.clone());
    })
    .await
    .unwrap();
    let port = cluster.node(0).metrics_addr().unwrap().port();
    let node = format!("https://localhost:{port}");
    let base = ["top", "--once", "--interval", "200ms", "--nodes", &node];
    let (token, ca) = (token.to_str().unwrap(), ca.to_str().unwrap());

    let text = success(
        &icnctl(
            dir.path(),
            &[
                &base[..],
                &["--metrics-token-file", token, "--metrics-ca", ca],
            ]
            .concat(),
        )
        .await,
    );
    let cells = row(&text, &format!("localhost:{port}"));
    assert_eq!(cells[1], "up", "{text}");

    // Without the token: 401; without the CA: the certificate is not trusted.
    let out = icnctl(dir.path(), &[&base[..], &["--metrics-ca", ca]].concat()).await;
    assert!(stderr(&out).contains("HTTP 401"), "{}", stderr(&out));
    let out = icnctl(
        dir.path(),
        &[&base[..], &["--metrics-token-file", token]].concat(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stderr(&out).contains("no node answered"),
        "{}",
        stderr(&out)
    );
    cluster.shutdown().await.unwrap();
}
