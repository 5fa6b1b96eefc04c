//! Node commands (status, peers, dial) and the error conventions.

use icn_rpc::{RpcToken, write_addr_file};

use crate::node::{DIALED_DID, Node, OUR_DID, PEER_DID, closed_port, icnctl, stderr, stdout};

#[tokio::test]
async fn a_stopped_node_is_reported_as_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let addr = closed_port();
    write_addr_file(dir.path(), addr).unwrap();
    RpcToken::generate().write_to(dir.path()).unwrap();

    let out = icnctl(dir.path(), &["status"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        stderr(&out),
        format!("icnctl: error: node not running at {addr}\n")
    );
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn a_data_dir_without_a_node_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = icnctl(dir.path(), &["peers"]).await;
    assert_eq!(out.status.code(), Some(1));
    let d = dir.path().display();
    assert_eq!(
        stderr(&out),
        format!("icnctl: error: no rpc.addr in {d}: is the node running with --data-dir {d}?\n")
    );
}

#[tokio::test]
async fn status_json_has_the_fields() {
    let node = Node::start().await;
    let out = icnctl(node.dir.path(), &["status", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["did"], OUR_DID);
    assert_eq!(json["version"], "9.8.7");
    assert_eq!(json["uptime_seconds"], 125.0);
    assert_eq!(json["listen_addr"], "127.0.0.1:7777");
    assert_eq!(json["peers"], 1);
    node.stop().await;
}

#[tokio::test]
async fn status_text_is_key_value_lines() {
    let node = Node::start().await;
    let out = icnctl(node.dir.path(), &["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("did:         {OUR_DID}\n")),
        "{text}"
    );
    assert!(text.contains("uptime:      2m 5s\n"), "{text}");
    assert!(text.contains("peers:       1\n"), "{text}");
    node.stop().await;
}

#[tokio::test]
async fn peers_lists_the_peer() {
    let node = Node::start().await;
    let out = icnctl(node.dir.path(), &["peers"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("DID"), "{text}");
    for column in ["ADDR", "RTT", "SINCE", "DIR"] {
        assert!(header.contains(column), "{text}");
    }
    let row = lines.next().unwrap();
    assert!(row.starts_with(PEER_DID), "{text}");
    assert!(
        row.contains("127.0.0.1:4001") && row.ends_with("outbound"),
        "{text}"
    );
    assert_eq!(lines.next(), None);

    let out = icnctl(node.dir.path(), &["peers", "--json"]).await;
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json[0]["did"], PEER_DID);
    assert_eq!(json[0]["rtt_ms"], 2.5);
    node.stop().await;
}

#[tokio::test]
async fn dial_prints_the_did() {
    let node = Node::start().await;
    let out = icnctl(node.dir.path(), &["dial", "127.0.0.1:4003"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("connected to {DIALED_DID}\n"));

    let out = icnctl(node.dir.path(), &["dial", "bad"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "icnctl: error: cannot parse dial target \"bad\" (HTTP 400)\n"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_wrong_token_is_refused() {
    let node = Node::start().await;
    let other = tempfile::tempdir().unwrap();
    let wrong = RpcToken::generate().write_to(other.path()).unwrap();
    let out = icnctl(
        node.dir.path(),
        &["status", "--token-file", wrong.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("icnctl: error: "), "{err}");
    assert!(err.contains("refused the RPC token"), "{err}");
    node.stop().await;
}

#[tokio::test]
async fn rpc_addr_overrides_the_addr_file() {
    let node = Node::start().await;
    let addr = std::fs::read_to_string(node.dir.path().join(icn_rpc::ADDR_FILE)).unwrap();
    // Point the file somewhere dead; the flag must win.
    write_addr_file(node.dir.path(), closed_port()).unwrap();
    let out = icnctl(
        node.dir.path(),
        &["--rpc-addr", addr.trim(), "dial", "x:1", "--json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["did"], DIALED_DID);
    node.stop().await;
}
