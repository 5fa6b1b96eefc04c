//! Network integration tests: real QUIC endpoints on 127.0.0.1.

#![allow(clippy::unwrap_used, missing_docs)] // Test code: fails loudly by design.

mod backlog;
mod flood;
mod hostile;
mod sessions;

use icn_identity::Keypair;
use icn_net::{NetConfig, NetEvent, NetworkActor, NetworkHandle};
use icn_obs::NodeMetrics;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// One network actor with its own registry.
pub struct TestNode {
    pub keypair: Keypair,
    pub handle: NetworkHandle,
    pub metrics: NodeMetrics,
    pub events: mpsc::Receiver<NetEvent>,
    pub stop: CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
}

pub fn config(bootstrap: Vec<String>) -> NetConfig {
    NetConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        bootstrap,
        reconnect_min: std::time::Duration::from_millis(50),
        reconnect_max: std::time::Duration::from_millis(500),
        ..NetConfig::default()
    }
}

pub fn start(config: NetConfig) -> TestNode {
    start_with(Keypair::generate(), config)
}

pub fn start_with(keypair: Keypair, config: NetConfig) -> TestNode {
    let metrics = NodeMetrics::new().unwrap();
    let (tx, events) = mpsc::channel(1024);
    let (actor, handle) = NetworkActor::bind(
        config,
        &keypair,
        vec!["t".into()],
        metrics.network().clone(),
        tx,
    )
    .unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(actor.run(stop.clone()));
    TestNode {
        keypair,
        handle,
        metrics,
        events,
        stop,
        task,
    }
}

impl TestNode {
    pub fn target(&self) -> String {
        format!("{}@{}", self.keypair.did(), self.handle.local_addr())
    }

    pub fn page(&self) -> icn_testkit::Metrics {
        icn_testkit::Metrics::parse(&self.metrics.render()).unwrap()
    }

    pub async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}
