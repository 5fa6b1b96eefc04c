//! A scripted backend and a running server around it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use icn_obs::NodeMetrics;
use icn_rpc::{
    DialResult, PeerInfo, RpcBackend, RpcClient, RpcError, RpcServer, RpcToken, StatusInfo,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const OUR_DID: &str = "did:icn:z6MkOurNode";
pub const DIALED_DID: &str = "did:icn:z6MkDialedPeer";

/// Dial target answered with 400.
pub const BAD_TARGET: &str = "bad";
/// Dial target answered with 503.
pub const DOWN_TARGET: &str = "down";
/// Dial target that never answers (until the request is dropped).
pub const HANG_TARGET: &str = "hang";

pub fn fixed_status() -> StatusInfo {
    StatusInfo {
        did: Some(OUR_DID.into()),
        version: "9.8.7".into(),
        uptime_seconds: 42.5,
        listen_addr: Some("127.0.0.1:7777".into()),
        peers: 2,
    }
}

pub fn fixed_peers() -> Vec<PeerInfo> {
    vec![
        PeerInfo {
            did: "did:icn:z6MkPeerOne".into(),
            addr: "127.0.0.1:4001".into(),
            rtt_ms: Some(1.25),
            connected_since_unix_ms: 1_700_000_000_000,
            direction: "outbound".into(),
        },
        PeerInfo {
            did: "did:icn:z6MkPeerTwo".into(),
            addr: "10.0.0.2:4002".into(),
            rtt_ms: None,
            connected_since_unix_ms: 1_700_000_100_000,
            direction: "inbound".into(),
        },
    ]
}

/// Answers fixed values and records every dial target.
#[derive(Default)]
pub struct TestBackend {
    pub dialed: Mutex<Vec<String>>,
}

impl RpcBackend for TestBackend {
    async fn status(&self) -> Result<StatusInfo, RpcError> {
        Ok(fixed_status())
    }

    async fn peers(&self) -> Result<Vec<PeerInfo>, RpcError> {
        Ok(fixed_peers())
    }

    async fn dial(&self, target: String) -> Result<DialResult, RpcError> {
        self.dialed.lock().unwrap().push(target.clone());
        match target.as_str() {
            BAD_TARGET => Err(RpcError::BadRequest(format!(
                "cannot parse dial target {target:?}"
            ))),
            DOWN_TARGET => Err(RpcError::Unavailable("node has no identity".into())),
            HANG_TARGET => std::future::pending().await,
            _ => Ok(DialResult {
                did: DIALED_DID.into(),
            }),
        }
    }
}

/// A server serving [`TestBackend`] until stopped.
pub struct Harness {
    pub addr: SocketAddr,
    pub token: RpcToken,
    pub metrics: NodeMetrics,
    pub backend: Arc<TestBackend>,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<std::io::Result<()>>,
}

impl Harness {
    pub async fn start() -> Self {
        let metrics = NodeMetrics::new().unwrap();
        let token = RpcToken::generate();
        let backend = Arc::new(TestBackend::default());
        let server = RpcServer::bind(
            "127.0.0.1:0".parse().unwrap(),
            token.clone(),
            metrics.rpc().clone(),
            backend.clone(),
        )
        .await
        .unwrap();
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(server.serve(shutdown.clone()));
        Self {
            addr,
            token,
            metrics,
            backend,
            shutdown,
            task,
        }
    }

    pub fn client(&self) -> RpcClient {
        RpcClient::new(self.addr, self.token.clone()).unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// This node's metrics page, parsed.
    pub fn scrape(&self) -> icn_testkit::Metrics {
        icn_testkit::Metrics::parse(&self.metrics.render()).unwrap()
    }

    /// `icn_rpc_requests_total{method, status}`.
    pub fn requests(&self, method: &str, status: &str) -> f64 {
        self.scrape()
            .value_with(
                "icn_rpc_requests_total",
                &[("method", method), ("status", status)],
            )
            .unwrap()
    }

    /// Stops the server and waits for `serve` to return.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("serve did not return after shutdown")
            .unwrap()
            .unwrap();
    }
}

/// A plain HTTP client (no proxy) for requests the typed client would not send.
pub fn raw() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}
