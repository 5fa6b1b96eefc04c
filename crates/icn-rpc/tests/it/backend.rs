//! The scripted backend: fixed node answers, an in-memory gossip store, a fake ledger.

use std::collections::BTreeMap;
use std::sync::Mutex;

use icn_rpc::{
    BalanceInfo, CreditLimitRequest, CurrencyRequest, DialResult, DigestInfo, EntryInfo,
    HistoryItem, OpResult, PayRequest, PayResult, PeerInfo, PublishRequest, PublishResult,
    RpcBackend, RpcError, StatusInfo, TopicInfo, TopicResult,
};
use tokio::sync::mpsc;

pub const OUR_DID: &str = "did:icn:z6MkOurNode";
pub const DIALED_DID: &str = "did:icn:z6MkDialedPeer";
pub const OTHER_DID: &str = "did:icn:z6MkOtherAccount";

/// Dial target answered with 400.
pub const BAD_TARGET: &str = "bad";
/// Dial target answered with 503.
pub const DOWN_TARGET: &str = "down";
/// Dial target that never answers (until the request is dropped).
pub const HANG_TARGET: &str = "hang";

/// Watching this topic is refused with a 404.
pub const UNWATCHABLE: &str = "missing";
/// Paying more than this is an overspend.
pub const CREDIT: u64 = 100;
/// The answer to an overspend.
pub const OVERSPEND: &str = "insufficient credit: balance -40 HOUR, limit 100, cannot pay 150";

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

/// The `n`th entry the fake stores or streams on `topic` (ids, times and authors are fixed).
pub fn entry(topic: &str, n: u64, payload: &[u8]) -> EntryInfo {
    EntryInfo {
        id: format!("{n:064x}"),
        topic: topic.into(),
        author: OUR_DID.into(),
        timestamp_ms: 1_700_000_000_000 + n * 1000,
        payload: payload.to_vec(),
    }
}

/// The two entries every watch starts with.
pub fn watched(topic: &str) -> Vec<EntryInfo> {
    vec![
        EntryInfo {
            author: OTHER_DID.into(),
            ..entry(topic, 901, b"first")
        },
        entry(topic, 902, &[0, 159, 146, 150]),
    ]
}

pub fn fixed_balances() -> Vec<BalanceInfo> {
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

pub fn fixed_history() -> Vec<HistoryItem> {
    vec![
        HistoryItem {
            op_id: "aa".repeat(32),
            kind: "create_currency".into(),
            currency: "HOUR".into(),
            from: Some(OUR_DID.into()),
            to: None,
            amount: None,
            seq: None,
            limit: Some(100),
            timestamp_ms: 1_700_000_000_000,
            memo: String::new(),
            status: "applied".into(),
        },
        HistoryItem {
            op_id: "bb".repeat(32),
            kind: "transfer".into(),
            currency: "HOUR".into(),
            from: Some(OUR_DID.into()),
            to: Some(OTHER_DID.into()),
            amount: Some(40),
            seq: Some(1),
            limit: None,
            timestamp_ms: 1_700_000_060_000,
            memo: "lunch".into(),
            status: "applied".into(),
        },
        HistoryItem {
            op_id: "cc".repeat(32),
            kind: "transfer".into(),
            currency: "HOUR".into(),
            from: Some(OUR_DID.into()),
            to: Some(OTHER_DID.into()),
            amount: Some(500),
            seq: Some(2),
            limit: None,
            timestamp_ms: 1_700_000_120_000,
            memo: String::new(),
            status: "rejected: over the credit limit".into(),
        },
    ]
}

pub fn fixed_digest() -> DigestInfo {
    DigestInfo {
        digest: "d1".repeat(32),
        ops: 3,
        applied_transfers: 1,
    }
}

/// Answers fixed values and records what it is asked.
#[derive(Default)]
pub struct TestBackend {
    pub dialed: Mutex<Vec<String>>,
    /// Joined topics and the entries held on each.
    pub topics: Mutex<BTreeMap<String, Vec<EntryInfo>>>,
    /// The `limit` of every `entries` call.
    pub entry_limits: Mutex<Vec<usize>>,
    /// Senders of open watches, kept so their streams stay open.
    pub watchers: Mutex<Vec<mpsc::Sender<EntryInfo>>>,
    pub currencies: Mutex<Vec<CurrencyRequest>>,
    pub credit_limits: Mutex<Vec<CreditLimitRequest>>,
    pub payments: Mutex<Vec<PayRequest>>,
    /// `(currency, account)` of every balance call.
    pub balance_queries: Mutex<Vec<(Option<String>, Option<String>)>>,
    pub history_queries: Mutex<Vec<Option<String>>>,
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

    async fn publish(&self, req: PublishRequest) -> Result<PublishResult, RpcError> {
        if req.topic.chars().any(char::is_control) {
            return Err(RpcError::BadRequest(
                "topic name contains a control character".into(),
            ));
        }
        let mut topics = self.topics.lock().unwrap();
        let held = topics.entry(req.topic.clone()).or_default();
        let stored = entry(&req.topic, held.len() as u64 + 1, &req.payload);
        let id = stored.id.clone();
        held.push(stored);
        Ok(PublishResult { id })
    }

    async fn entries(&self, topic: String, limit: usize) -> Result<Vec<EntryInfo>, RpcError> {
        self.entry_limits.lock().unwrap().push(limit);
        let topics = self.topics.lock().unwrap();
        let held = topics.get(&topic).map_or(&[][..], Vec::as_slice);
        Ok(held[held.len().saturating_sub(limit)..].to_vec())
    }

    async fn subscribe(&self, topic: String) -> Result<TopicResult, RpcError> {
        let mut topics = self.topics.lock().unwrap();
        let joined = !topics.contains_key(&topic);
        topics.entry(topic.clone()).or_default();
        Ok(TopicResult { topic, joined })
    }

    async fn unsubscribe(&self, topic: String) -> Result<TopicResult, RpcError> {
        let joined = self.topics.lock().unwrap().remove(&topic).is_some();
        Ok(TopicResult { topic, joined })
    }

    async fn topics(&self) -> Result<Vec<TopicInfo>, RpcError> {
        Ok(self
            .topics
            .lock()
            .unwrap()
            .iter()
            .map(|(topic, held)| TopicInfo {
                topic: topic.clone(),
                entries: held.len() as u64,
            })
            .collect())
    }

    async fn watch(&self, topic: String) -> Result<mpsc::Receiver<EntryInfo>, RpcError> {
        if topic == UNWATCHABLE {
            return Err(RpcError::NotFound(format!("not subscribed to {topic}")));
        }
        let (tx, rx) = mpsc::channel(16);
        for e in watched(&topic) {
            tx.try_send(e).unwrap();
        }
        self.watchers.lock().unwrap().push(tx);
        Ok(rx)
    }

    async fn create_currency(&self, req: CurrencyRequest) -> Result<OpResult, RpcError> {
        if req.code == "bad code" {
            return Err(RpcError::BadRequest(
                "invalid currency code \"bad code\"".into(),
            ));
        }
        self.currencies.lock().unwrap().push(req);
        Ok(OpResult {
            op_id: "c0".repeat(32),
        })
    }

    async fn set_credit_limit(&self, req: CreditLimitRequest) -> Result<OpResult, RpcError> {
        self.credit_limits.lock().unwrap().push(req);
        Ok(OpResult {
            op_id: "c1".repeat(32),
        })
    }

    async fn pay(&self, req: PayRequest) -> Result<PayResult, RpcError> {
        if req.amount > CREDIT {
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
            .push((currency.clone(), account.clone()));
        let account = account.unwrap_or_else(|| OUR_DID.into());
        Ok(fixed_balances()
            .into_iter()
            .filter(|b| currency.as_ref().is_none_or(|c| *c == b.currency))
            .map(|b| BalanceInfo {
                account: account.clone(),
                ..b
            })
            .collect())
    }

    async fn history(&self, account: Option<String>) -> Result<Vec<HistoryItem>, RpcError> {
        self.history_queries.lock().unwrap().push(account);
        Ok(fixed_history())
    }

    async fn ledger_digest(&self) -> Result<DigestInfo, RpcError> {
        Ok(fixed_digest())
    }
}
