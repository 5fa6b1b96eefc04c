//! A scripted backend served on 127.0.0.1:0, a data directory pointing at it, and a runner for
//! the real binary.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use icn_obs::NodeMetrics;
use icn_rpc::{
    BalanceInfo, CreditLimitRequest, CurrencyRequest, DialResult, DigestInfo, EntryInfo,
    HistoryItem, OpResult, PayRequest, PayResult, PeerInfo, PublishRequest, PublishResult,
    RpcBackend, RpcError, RpcServer, RpcToken, StatusInfo, TopicInfo, TopicResult, write_addr_file,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub const OUR_DID: &str = "did:icn:z6MkOurNode";
pub const PEER_DID: &str = "did:icn:z6MkPeerOne";
pub const DIALED_DID: &str = "did:icn:z6MkDialedPeer";
pub const OTHER_DID: &str = "did:icn:z6MkOtherAccountKey";
/// A topic whose watch stream never ends by itself.
pub const ENDLESS: &str = "endless";
pub const OVERSPEND: &str = "insufficient credit: balance -40 HOUR, limit 100, cannot pay 150";

/// Entries of topic `news`: a text one and a binary one. `watch` streams the same two.
pub fn news() -> Vec<EntryInfo> {
    vec![
        EntryInfo {
            id: "0a".repeat(32),
            topic: "news".into(),
            author: OTHER_DID.into(),
            timestamp_ms: 1_700_000_000_000,
            payload: b"hello".to_vec(),
        },
        EntryInfo {
            id: "0b".repeat(32),
            topic: "news".into(),
            author: OUR_DID.into(),
            timestamp_ms: 1_700_000_060_000,
            payload: vec![0xff, 0, 1],
        },
    ]
}

pub fn balances() -> Vec<BalanceInfo> {
    vec![
        BalanceInfo {
            currency: "HOUR".into(),
            account: OUR_DID.into(),
            balance: -40,
            limit: 100,
        },
        BalanceInfo {
            currency: "KWH".into(),
            account: OUR_DID.into(),
            balance: 12,
            limit: 50,
        },
    ]
}

#[derive(Default)]
pub struct TestBackend {
    /// `(topic, payload)` of every publish.
    pub published: Mutex<Vec<(String, Vec<u8>)>>,
    pub entry_limits: Mutex<Vec<usize>>,
    pub payments: Mutex<Vec<PayRequest>>,
    pub balance_queries: Mutex<Vec<(Option<String>, Option<String>)>>,
    /// Senders of watches on [`ENDLESS`], kept so those streams stay open.
    pub watchers: Mutex<Vec<mpsc::Sender<EntryInfo>>>,
}

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

    async fn publish(&self, req: PublishRequest) -> Result<PublishResult, RpcError> {
        let mut published = self.published.lock().unwrap();
        published.push((req.topic, req.payload));
        Ok(PublishResult {
            id: format!("{:064x}", published.len()),
        })
    }

    async fn entries(&self, topic: String, limit: usize) -> Result<Vec<EntryInfo>, RpcError> {
        self.entry_limits.lock().unwrap().push(limit);
        Ok(if topic == "news" { news() } else { vec![] })
    }

    async fn subscribe(&self, topic: String) -> Result<TopicResult, RpcError> {
        let joined = topic != "old";
        Ok(TopicResult { topic, joined })
    }

    async fn unsubscribe(&self, topic: String) -> Result<TopicResult, RpcError> {
        let joined = topic == "news";
        Ok(TopicResult { topic, joined })
    }

    async fn topics(&self) -> Result<Vec<TopicInfo>, RpcError> {
        Ok(vec![TopicInfo {
            topic: "news".into(),
            entries: 2,
        }])
    }

    /// Streams the two `news` entries, then closes the stream so `icnctl subscribe` ends;
    /// except on [`ENDLESS`], whose stream stays open.
    async fn watch(&self, topic: String) -> Result<mpsc::Receiver<EntryInfo>, RpcError> {
        let (tx, rx) = mpsc::channel(4);
        for entry in news() {
            tx.try_send(entry).unwrap();
        }
        if topic == ENDLESS {
            self.watchers.lock().unwrap().push(tx);
        }
        Ok(rx)
    }

    async fn create_currency(&self, _req: CurrencyRequest) -> Result<OpResult, RpcError> {
        Ok(OpResult {
            op_id: "c0".repeat(32),
        })
    }

    async fn set_credit_limit(&self, _req: CreditLimitRequest) -> Result<OpResult, RpcError> {
        Ok(OpResult {
            op_id: "c1".repeat(32),
        })
    }

    async fn pay(&self, req: PayRequest) -> Result<PayResult, RpcError> {
        if req.amount > 100 {
            return Err(RpcError::BadRequest(OVERSPEND.into()));
        }
        self.payments.lock().unwrap().push(req);
        Ok(PayResult {
            op_id: "ee".repeat(32),
            seq: 7,
        })
    }

    async fn balance(
        &self,
        currency: Option<String>,
        account: Option<String>,
    ) -> Result<Vec<BalanceInfo>, RpcError> {
        self.balance_queries
            .lock()
            .unwrap()
            .push((currency.clone(), account));
        Ok(balances()
            .into_iter()
            .filter(|b| currency.as_ref().is_none_or(|c| *c == b.currency))
            .collect())
    }

    async fn history(&self, _account: Option<String>) -> Result<Vec<HistoryItem>, RpcError> {
        Ok(vec![HistoryItem {
            op_id: "bb".repeat(32),
            kind: "transfer".into(),
            currency: "HOUR".into(),
            from: Some(OUR_DID.into()),
            to: Some(OTHER_DID.into()),
            amount: Some(40),
            seq: Some(1),
            limit: None,
            timestamp_ms: 1_700_000_000_000,
            memo: "lunch".into(),
            status: "applied".into(),
        }])
    }

    async fn ledger_digest(&self) -> Result<DigestInfo, RpcError> {
        Ok(DigestInfo {
            digest: "d1".repeat(32),
            ops: 3,
            applied_transfers: 1,
        })
    }
}

/// A served test backend plus a data directory pointing at it.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub backend: Arc<TestBackend>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Node {
    pub async fn start() -> Self {
        let token = RpcToken::generate();
        let backend = Arc::new(TestBackend::default());
        let server = RpcServer::bind(
            "127.0.0.1:0".parse().unwrap(),
            token.clone(),
            NodeMetrics::new().unwrap().rpc().clone(),
            backend.clone(),
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
            backend,
            shutdown,
            task,
        }
    }

    /// Runs `icnctl --data-dir <this node's dir> <args>`.
    pub async fn icnctl(&self, args: &[&str]) -> Output {
        icnctl(self.dir.path(), args).await
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// Runs `icnctl --data-dir <dir> <args>` without blocking the server's runtime.
pub async fn icnctl(dir: &Path, args: &[&str]) -> Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_icnctl"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("ICN_DATA_DIR")
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("icnctl did not end within 60 s")
        .unwrap()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Asserts a zero exit and returns stdout.
pub fn success(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(output));
    stdout(output)
}

pub fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}
