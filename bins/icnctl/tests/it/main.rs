//! Runs the real `icnctl` binary against a closed port and against a real RPC server with a
//! scripted backend.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use icn_obs::NodeMetrics;
use icn_rpc::{
    DialResult, PeerInfo, RpcBackend, RpcError, RpcServer, RpcToken, StatusInfo, write_addr_file,
};
use tokio_util::sync::CancellationToken;

const OUR_DID: &str = "did:icn:z6MkOurNode";
const PEER_DID: &str = "did:icn:z6MkPeerOne";
const DIALED_DID: &str = "did:icn:z6MkDialedPeer";

struct TestBackend;

impl RpcBackend for TestBackend {
    async fn status(&self) -> Result<StatusInfo, RpcError> {
        Ok(StatusInfo {
            did: Some(OUR_DID.into()),
            version: "9.8.7".into(),
            uptime_seconds: 125.0,
            listen_addr: Some("127.0.0.1:7777".into()),
            peers: 1,
        })
    }

    async fn peers(&self) -> Result<Vec<PeerInfo>, RpcError> {
        Ok(vec![PeerInfo {
            did: PEER_DID.into(),
            addr: "127.0.0.1:4001".into(),
            rtt_ms: Some(2.5),
            connected_since_unix_ms: 1_700_000_000_000,
            direction: "outbound".into(),
        }])
    }

    async fn dial(&self, target: String) -> Result<DialResult, RpcError> {
        if target == "bad" {
            return Err(RpcError::BadRequest(format!(
                "cannot parse dial target {target:?}"
            )));
        }
        Ok(DialResult {
            did: DIALED_DID.into(),
        })
    }
}

/// A served test backend plus a data directory pointing at it.
struct Node {
    dir: tempfile::TempDir,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Node {
    async fn start() -> Self {
        let token = RpcToken::generate();
        let server = RpcServer::bind(
            "127.0.0.1:0".parse().unwrap(),
            token.clone(),
            NodeMetrics::new().unwrap().rpc().clone(),
            Arc::new(TestBackend),
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_addr_file(dir.path(), server.local_addr()).unwrap();
        token.write_to(dir.path()).unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(server.serve(shutdown.clone()));
        Self {
            dir,
            shutdown,
            task,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// Runs `icnctl --data-dir <dir> <args>` without blocking the server's runtime.
async fn icnctl(dir: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_icnctl"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("ICN_DATA_DIR")
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

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
