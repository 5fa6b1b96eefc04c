//! A running server around the scripted [`TestBackend`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use icn_obs::NodeMetrics;
use icn_rpc::{RpcClient, RpcServer, RpcToken};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::backend::TestBackend;

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

    /// An authenticated `GET` of `path_and_query`, without the typed client.
    pub async fn raw_get(&self, path_and_query: &str) -> reqwest::Response {
        raw()
            .get(self.url(path_and_query))
            .bearer_auth(self.token.expose())
            .send()
            .await
            .unwrap()
    }

    /// An authenticated `POST` of a JSON `body`, without the typed client.
    pub async fn raw_post(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        raw()
            .post(self.url(path))
            .bearer_auth(self.token.expose())
            .json(body)
            .send()
            .await
            .unwrap()
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

/// The status and message of a call the node refused.
pub fn refusal<T: std::fmt::Debug>(result: Result<T, icn_rpc::ClientError>) -> (u16, String) {
    match result {
        Err(icn_rpc::ClientError::Server { status, message }) => (status, message),
        other => panic!("expected an error answer, got {other:?}"),
    }
}
