//! The node side of the API: what the server asks, and the errors it may get back.

use std::future::Future;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use tokio::sync::mpsc;

use crate::types::{
    BalanceInfo, CreditLimitRequest, CurrencyRequest, DialResult, DigestInfo, EntryInfo, ErrorBody,
    HistoryItem, OpResult, PayRequest, PayResult, PeerInfo, PublishRequest, PublishResult,
    StatusInfo, TopicInfo, TopicResult,
};

/// What a node implements to be driven over RPC.
///
/// Methods take `&self` and may run concurrently: the server calls them from many requests at
/// once. Each call should answer promptly (the client gives up after its request timeout), so
/// long operations such as a dial must be bounded by the backend; a watch answers with its
/// receiver at once and feeds it afterwards.
pub trait RpcBackend: Send + Sync + 'static {
    /// The node's identity, version, uptime and connectivity.
    fn status(&self) -> impl Future<Output = Result<StatusInfo, RpcError>> + Send;

    /// Peers with an open session.
    fn peers(&self) -> impl Future<Output = Result<Vec<PeerInfo>, RpcError>> + Send;

    /// Opens (or reuses) a session with `target` (`did:icn:...@host:port` or `host:port`).
    fn dial(&self, target: String) -> impl Future<Output = Result<DialResult, RpcError>> + Send;

    // Gossip. The server has checked that topic names are not empty; the backend validates
    // them fully (a bad name is a [`RpcError::BadRequest`]).

    /// Signs and publishes an entry on `req.topic`; answers once the entry is durably stored.
    fn publish(
        &self,
        req: PublishRequest,
    ) -> impl Future<Output = Result<PublishResult, RpcError>> + Send;

    /// The latest `limit` entries the node holds on `topic` (fewer if it holds fewer), oldest
    /// first. `limit` is between 1 and [`MAX_ENTRIES_LIMIT`](crate::types::MAX_ENTRIES_LIMIT).
    fn entries(
        &self,
        topic: String,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<EntryInfo>, RpcError>> + Send;

    /// Joins `topic` durably: the node replicates it from now on, across restarts.
    /// [`TopicResult::joined`] is `false` if it was already joined.
    fn subscribe(
        &self,
        topic: String,
    ) -> impl Future<Output = Result<TopicResult, RpcError>> + Send;

    /// Leaves `topic` durably. [`TopicResult::joined`] is `false` if it was not joined.
    fn unsubscribe(
        &self,
        topic: String,
    ) -> impl Future<Output = Result<TopicResult, RpcError>> + Send;

    /// The topics the node replicates, with their entry counts.
    fn topics(&self) -> impl Future<Output = Result<Vec<TopicInfo>, RpcError>> + Send;

    /// A feed of the entries that arrive on `topic` from now on (published here or received).
    ///
    /// The server streams what it receives until the client disconnects (then it drops the
    /// receiver, which the backend sees as a closed channel), the server shuts down, or the
    /// backend drops the sender. A slow client exerts backpressure on the channel, so the
    /// backend must not block on it: `try_send`, and drop the entry or the sender when full.
    fn watch(
        &self,
        topic: String,
    ) -> impl Future<Output = Result<mpsc::Receiver<EntryInfo>, RpcError>> + Send;

    // Ledger. Accounts are DIDs; the node signs every op with its own key.

    /// Creates a currency issued by the node, with a default credit limit.
    fn create_currency(
        &self,
        req: CurrencyRequest,
    ) -> impl Future<Output = Result<OpResult, RpcError>> + Send;

    /// Sets one account's credit limit in a currency the node issues.
    fn set_credit_limit(
        &self,
        req: CreditLimitRequest,
    ) -> impl Future<Output = Result<OpResult, RpcError>> + Send;

    /// Pays from the node's own account. A payment beyond the node's credit limit is a
    /// [`RpcError::BadRequest`] whose message names the balance and the limit.
    fn pay(&self, req: PayRequest) -> impl Future<Output = Result<PayResult, RpcError>> + Send;

    /// Balances of `account` (default: the node's own) in `currency` (default: every currency
    /// the account has a position or a limit in).
    fn balance(
        &self,
        currency: Option<String>,
        account: Option<String>,
    ) -> impl Future<Output = Result<Vec<BalanceInfo>, RpcError>> + Send;

    /// The ops concerning `account` (default: the node's own), in ledger order.
    fn history(
        &self,
        account: Option<String>,
    ) -> impl Future<Output = Result<Vec<HistoryItem>, RpcError>> + Send;

    /// The ledger's state digest and op counts.
    fn ledger_digest(&self) -> impl Future<Output = Result<DigestInfo, RpcError>> + Send;
}

/// Why a call failed; each variant maps to one HTTP status, and its text becomes
/// [`ErrorBody::error`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// The request is wrong (malformed target, bad body): 400.
    #[error("{0}")]
    BadRequest(String),
    /// The thing asked about does not exist: 404.
    #[error("{0}")]
    NotFound(String),
    /// The node cannot do this now (e.g. no identity, so no network): 503.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure inside the node: 500.
    #[error("{0}")]
    Internal(String),
}

impl RpcError {
    /// The HTTP status this error is answered with.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for RpcError {
    fn into_response(self) -> Response {
        if let Self::Internal(message) = &self {
            tracing::warn!(error = %message, "rpc call failed inside the node");
        }
        error_response(self.status_code(), self.to_string())
    }
}

/// A JSON [`ErrorBody`] answer with `status`.
pub(crate) fn error_response(status: StatusCode, error: String) -> Response {
    (status, Json(ErrorBody { error })).into_response()
}
