//! [`LedgerHandle`]: the cheap, cloneable way to talk to the ledger actor, and what it answers.

use std::time::{SystemTime, UNIX_EPOCH};

use icn_identity::Did;
use tokio::sync::{mpsc, oneshot};

use crate::store::LedgerStoreError;
use crate::{
    CreateCurrency, CurrencyCode, LocalError, Op, OpId, OpStatus, SetCreditLimit, SignedOp,
    Transfer,
};

/// Errors reported to callers.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The op would not apply (overspend, unknown currency, ...); the message says why.
    #[error("{0}")]
    Refused(#[from] LocalError),
    /// Bad input (currency code, ...).
    #[error("{0}")]
    BadInput(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] LedgerStoreError),
    /// Publishing through gossip failed.
    #[error("publishing the op failed: {0}")]
    Gossip(String),
    /// The op is applied and durable in the ledger store, but gossip could not store it yet;
    /// it is published again until that succeeds (do not submit it again).
    #[error(
        "op {id} is recorded in the ledger but not yet published ({message}); it is published \
         again until that succeeds"
    )]
    Unpublished {
        /// The op.
        id: OpId,
        /// Why publishing failed.
        message: String,
    },
    /// The ledger store refused a write and cannot be read back yet: local ops are refused
    /// until it can (a full or failing disk).
    #[error("the ledger store cannot be read after a failed write; local ops wait until it can")]
    StoreUnavailable,
    /// The actor is not running.
    #[error("the ledger actor is not running")]
    Stopped,
}

/// One balance row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceRow {
    /// Currency code.
    pub currency: String,
    /// Account.
    pub account: Did,
    /// Signed balance.
    pub balance: i64,
    /// Credit limit in force.
    pub limit: u64,
}

/// One history row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// Op id.
    pub id: OpId,
    /// The op.
    pub op: SignedOp,
    /// Its status.
    pub status: OpStatus,
}

/// Digest and counts for agreement checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestInfo {
    /// blake3 state digest.
    pub digest: [u8; 32],
    /// Held ops.
    pub ops: u64,
    /// Applied transfers.
    pub applied_transfers: u64,
}

/// What the handle asks of the actor.
pub(super) enum Command {
    Local {
        op: Op,
        reply: oneshot::Sender<Result<(OpId, u64), LedgerError>>,
    },
    Balances {
        currency: Option<String>,
        account: Option<Did>,
        reply: oneshot::Sender<Result<Vec<BalanceRow>, LedgerError>>,
    },
    History {
        account: Option<Did>,
        reply: oneshot::Sender<Vec<HistoryRow>>,
    },
    Digest {
        reply: oneshot::Sender<DigestInfo>,
    },
    NextSeq {
        reply: oneshot::Sender<(u64, u64)>,
    },
}

/// Cheap, cloneable access to the ledger actor.
#[derive(Clone)]
pub struct LedgerHandle {
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) me: Did,
}

/// Milliseconds since the Unix epoch (0 before it).
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A currency code from user text.
pub(super) fn code(text: &str) -> Result<CurrencyCode, LedgerError> {
    CurrencyCode::new(text).map_err(|e| LedgerError::BadInput(e.to_string()))
}

impl LedgerHandle {
    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, LedgerError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| LedgerError::Stopped)?;
        rx.await.map_err(|_| LedgerError::Stopped)
    }

    async fn local(&self, op: Op) -> Result<(OpId, u64), LedgerError> {
        self.call(|reply| Command::Local { op, reply }).await?
    }

    /// Commands waiting for the ledger actor.
    pub fn mailbox_depth(&self) -> usize {
        self.commands.max_capacity() - self.commands.capacity()
    }

    /// This node's DID (the author of its ops).
    pub fn did(&self) -> Did {
        self.me
    }

    /// Creates a currency issued by this node.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn create_currency(&self, currency: &str, limit: u64) -> Result<OpId, LedgerError> {
        let op = Op::CreateCurrency(CreateCurrency {
            code: code(currency)?,
            issuer: self.me,
            default_credit_limit: limit,
            timestamp_ms: 0,
        });
        Ok(self.local(op).await?.0)
    }

    /// Sets `account`'s credit limit in a currency this node issues.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn set_credit_limit(
        &self,
        currency: &str,
        account: Did,
        limit: u64,
    ) -> Result<OpId, LedgerError> {
        let op = Op::SetCreditLimit(SetCreditLimit {
            currency: code(currency)?,
            account,
            limit,
            timestamp_ms: 0,
        });
        Ok(self.local(op).await?.0)
    }

    /// Pays `amount` of `currency` to `to`; returns the op id and its seq.
    ///
    /// # Errors
    /// [`LedgerError::Refused`] for an overspend (the message has the balance and the limit).
    pub async fn pay(
        &self,
        currency: &str,
        to: Did,
        amount: u64,
        memo: String,
    ) -> Result<(OpId, u64), LedgerError> {
        let op = Op::Transfer(Transfer {
            currency: code(currency)?,
            from: self.me,
            to,
            amount,
            seq: 0,
            timestamp_ms: 0,
            memo,
        });
        self.local(op).await
    }

    /// Balances of `account` (default: this node) in one or every currency.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn balances(
        &self,
        currency: Option<String>,
        account: Option<Did>,
    ) -> Result<Vec<BalanceRow>, LedgerError> {
        self.call(|reply| Command::Balances {
            currency,
            account,
            reply,
        })
        .await?
    }

    /// Ops involving `account` (default: this node), in fold order.
    ///
    /// # Errors
    /// [`LedgerError::Stopped`].
    pub async fn history(&self, account: Option<Did>) -> Result<Vec<HistoryRow>, LedgerError> {
        self.call(|reply| Command::History { account, reply }).await
    }

    /// The state digest and counts.
    ///
    /// # Errors
    /// [`LedgerError::Stopped`].
    pub async fn digest(&self) -> Result<DigestInfo, LedgerError> {
        self.call(|reply| Command::Digest { reply }).await
    }

    /// This node's next seq and the ledger's held-op count (for diagnostics).
    ///
    /// # Errors
    /// [`LedgerError::Stopped`].
    pub async fn next_seq(&self) -> Result<(u64, u64), LedgerError> {
        self.call(|reply| Command::NextSeq { reply }).await
    }
}
