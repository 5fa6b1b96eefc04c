//! The node's implementation of the control API.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use icn_gossip::{Entry, GossipError, GossipHandle, SubscriptionEvent, Topic};
use icn_identity::Did;
use icn_ledger::{HistoryRow, LedgerError, LedgerHandle, Op, OpStatus};
use icn_net::{NetworkHandle, PeerTarget};
use icn_rpc::{
    BalanceInfo, CreditLimitRequest, CurrencyRequest, DialResult, DigestInfo, EntryInfo,
    HistoryItem, OpResult, PayRequest, PayResult, PeerInfo, PublishRequest, PublishResult,
    RpcBackend, RpcError, StatusInfo, TopicInfo, TopicResult,
};
use tokio::sync::mpsc;

use crate::node::NodeState;

/// Entries buffered per `watch` client before the slowest ones are dropped.
const WATCH_BUFFER: usize = 256;

/// Answers RPC calls from the node's state and handles.
pub(crate) struct NodeRpc {
    pub(crate) state: Arc<NodeState>,
}

impl NodeRpc {
    fn network(&self) -> Result<&NetworkHandle, RpcError> {
        self.state.network.as_ref().ok_or_else(|| {
            RpcError::Unavailable(
                "the node runs without an identity, so it has no network; run `icnd init`".into(),
            )
        })
    }
}

impl RpcBackend for NodeRpc {
    async fn status(&self) -> Result<StatusInfo, RpcError> {
        Ok(StatusInfo {
            did: self.state.did.map(|d| d.to_string()),
            version: icn_obs::registry::BUILD_VERSION.to_string(),
            uptime_seconds: self.state.started.elapsed().as_secs_f64(),
            listen_addr: self
                .state
                .network
                .as_ref()
                .map(|n| n.local_addr().to_string()),
            peers: self
                .state
                .network
                .as_ref()
                .map_or(0, |n| n.peer_count() as u64),
        })
    }

    async fn peers(&self) -> Result<Vec<PeerInfo>, RpcError> {
        Ok(self
            .network()?
            .peers()
            .into_iter()
            .map(|p| PeerInfo {
                did: p.did.to_string(),
                addr: p.remote_addr.to_string(),
                rtt_ms: Some(p.rtt.as_secs_f64() * 1000.0),
                connected_since_unix_ms: p
                    .connected_since
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                direction: p.direction.as_str().to_string(),
            })
            .collect())
    }

    async fn dial(&self, target: String) -> Result<DialResult, RpcError> {
        let target = PeerTarget::parse(&target).map_err(|e| RpcError::BadRequest(e.to_string()))?;
        let did = self.network()?.dial(target).await.map_err(|e| match e {
            icn_net::NetError::Dial { .. } => RpcError::BadRequest(e.to_string()),
            other => RpcError::Internal(other.to_string()),
        })?;
        Ok(DialResult {
            did: did.to_string(),
        })
    }

    async fn publish(&self, req: PublishRequest) -> Result<PublishResult, RpcError> {
        let id = self
            .gossip()?
            .publish(topic(&req.topic)?, req.payload)
            .await
            .map_err(gossip_error)?;
        Ok(PublishResult { id: id.to_string() })
    }

    async fn entries(&self, name: String, limit: usize) -> Result<Vec<EntryInfo>, RpcError> {
        let gossip = self.gossip()?.clone();
        let topic = topic(&name)?;
        let entries = tokio::task::spawn_blocking(move || gossip.latest(&topic, limit))
            .await
            .map_err(|e| RpcError::Internal(e.to_string()))?
            .map_err(gossip_error)?;
        Ok(entries.iter().map(entry_info).collect())
    }

    async fn subscribe(&self, name: String) -> Result<TopicResult, RpcError> {
        let joined = self
            .gossip()?
            .join(topic(&name)?)
            .await
            .map_err(gossip_error)?;
        Ok(TopicResult {
            topic: name,
            joined,
        })
    }

    async fn unsubscribe(&self, name: String) -> Result<TopicResult, RpcError> {
        let left = self
            .gossip()?
            .leave(topic(&name)?)
            .await
            .map_err(gossip_error)?;
        Ok(TopicResult {
            topic: name,
            joined: left,
        })
    }

    async fn topics(&self) -> Result<Vec<TopicInfo>, RpcError> {
        Ok(self
            .gossip()?
            .topics()
            .await
            .map_err(gossip_error)?
            .into_iter()
            .map(|(topic, entries)| TopicInfo {
                topic: topic.as_str().to_string(),
                entries,
            })
            .collect())
    }

    async fn watch(&self, name: String) -> Result<mpsc::Receiver<EntryInfo>, RpcError> {
        let mut subscription = self
            .gossip()?
            .subscribe(topic(&name)?)
            .await
            .map_err(gossip_error)?;
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        tokio::spawn(async move {
            while let Some(event) = subscription.next().await {
                match event {
                    SubscriptionEvent::Entry(entry) => match tx.try_send(entry_info(&entry)) {
                        Ok(()) => {}
                        // A client that cannot keep up loses entries, never the node's memory.
                        Err(mpsc::error::TrySendError::Full(_)) => {}
                        Err(mpsc::error::TrySendError::Closed(_)) => break,
                    },
                    SubscriptionEvent::Lagged(_) => {}
                }
            }
        });
        Ok(rx)
    }

    async fn create_currency(&self, req: CurrencyRequest) -> Result<OpResult, RpcError> {
        let id = self
            .ledger()?
            .create_currency(&req.code, req.limit)
            .await
            .map_err(ledger_error)?;
        Ok(OpResult {
            op_id: id.to_string(),
        })
    }

    async fn set_credit_limit(&self, req: CreditLimitRequest) -> Result<OpResult, RpcError> {
        let id = self
            .ledger()?
            .set_credit_limit(&req.currency, did(&req.account)?, req.limit)
            .await
            .map_err(ledger_error)?;
        Ok(OpResult {
            op_id: id.to_string(),
        })
    }

    async fn pay(&self, req: PayRequest) -> Result<PayResult, RpcError> {
        let (id, seq) = self
            .ledger()?
            .pay(&req.currency, did(&req.to)?, req.amount, req.memo)
            .await
            .map_err(ledger_error)?;
        Ok(PayResult {
            op_id: id.to_string(),
            seq,
        })
    }

    async fn balance(
        &self,
        currency: Option<String>,
        account: Option<String>,
    ) -> Result<Vec<BalanceInfo>, RpcError> {
        let account = account.as_deref().map(did).transpose()?;
        Ok(self
            .ledger()?
            .balances(currency, account)
            .await
            .map_err(ledger_error)?
            .into_iter()
            .map(|row| BalanceInfo {
                currency: row.currency,
                account: row.account.to_string(),
                balance: row.balance,
                limit: row.limit,
            })
            .collect())
    }

    async fn history(&self, account: Option<String>) -> Result<Vec<HistoryItem>, RpcError> {
        let account = account.as_deref().map(did).transpose()?;
        let rows = self
            .ledger()?
            .history(account)
            .await
            .map_err(ledger_error)?;
        Ok(rows.into_iter().map(history_item).collect())
    }

    async fn ledger_digest(&self) -> Result<DigestInfo, RpcError> {
        let digest = self.ledger()?.digest().await.map_err(ledger_error)?;
        Ok(DigestInfo {
            digest: hex(&digest.digest),
            ops: digest.ops,
            applied_transfers: digest.applied_transfers,
        })
    }
}

fn entry_info(entry: &Entry) -> EntryInfo {
    EntryInfo {
        id: entry.id().to_string(),
        topic: entry.topic.as_str().to_string(),
        author: entry.author.to_string(),
        timestamp_ms: entry.timestamp_ms,
        payload: entry.payload.to_vec(),
    }
}

fn topic(name: &str) -> Result<Topic, RpcError> {
    Topic::new(name).map_err(|e| RpcError::BadRequest(format!("topic {name:?}: {e}")))
}

fn did(text: &str) -> Result<Did, RpcError> {
    text.parse::<Did>()
        .map_err(|e| RpcError::BadRequest(format!("{text:?}: {e}")))
}

fn gossip_error(e: GossipError) -> RpcError {
    match e {
        GossipError::Rejected(reason) => RpcError::BadRequest(format!("entry rejected: {reason}")),
        GossipError::Stopped => RpcError::Unavailable(e.to_string()),
        GossipError::Store(_) => RpcError::Internal(e.to_string()),
    }
}

fn ledger_error(e: LedgerError) -> RpcError {
    match e {
        LedgerError::Refused(_) | LedgerError::BadInput(_) => RpcError::BadRequest(e.to_string()),
        LedgerError::Stopped => RpcError::Unavailable(e.to_string()),
        LedgerError::Store(_)
        | LedgerError::StoreUnavailable
        | LedgerError::Gossip(_)
        | LedgerError::Unpublished { .. } => RpcError::Internal(e.to_string()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl NodeRpc {
    fn gossip(&self) -> Result<&GossipHandle, RpcError> {
        self.state.gossip.as_ref().ok_or_else(no_identity)
    }

    fn ledger(&self) -> Result<&LedgerHandle, RpcError> {
        self.state.ledger.get().ok_or_else(no_identity)
    }
}

fn no_identity() -> RpcError {
    RpcError::Unavailable(
        "the node runs without an identity, so it has no network, gossip or ledger; run `icnd init`"
            .into(),
    )
}

fn history_item(row: HistoryRow) -> HistoryItem {
    let status = match row.status {
        OpStatus::Applied => "applied".to_string(),
        OpStatus::Rejected(reason) => format!("rejected: {reason}"),
    };
    let timestamp_ms = row.op.op.timestamp_ms();
    let (kind, currency, from, to, amount, seq, limit, memo) = match &row.op.op {
        Op::CreateCurrency(c) => (
            "create_currency",
            c.code.as_str().to_string(),
            Some(c.issuer.to_string()),
            None,
            None,
            None,
            Some(c.default_credit_limit),
            String::new(),
        ),
        Op::SetCreditLimit(s) => (
            "set_credit_limit",
            s.currency.as_str().to_string(),
            Some(row.op.author.to_string()),
            Some(s.account.to_string()),
            None,
            None,
            Some(s.limit),
            String::new(),
        ),
        Op::Transfer(t) => (
            "transfer",
            t.currency.as_str().to_string(),
            Some(t.from.to_string()),
            Some(t.to.to_string()),
            Some(t.amount),
            Some(t.seq),
            None,
            t.memo.clone(),
        ),
    };
    HistoryItem {
        op_id: row.id.to_string(),
        kind: kind.to_string(),
        currency,
        from,
        to,
        amount,
        seq,
        limit,
        timestamp_ms,
        memo,
        status,
    }
}
