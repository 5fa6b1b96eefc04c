//! The typed client of the control API, as used by `icnctl`.
//!
//! A client needs the node's RPC address and token; [`RpcClient::from_data_dir`] finds both in
//! the node's data directory (`rpc.addr`, `rpc.token`). Failures are sorted into what an operator
//! can act on: node not running, token refused, the node's own error message.
//!
//! Every call has a timeout ([`DEFAULT_TIMEOUT`], [`RpcClient::with_timeout`]) except the body of
//! a watch ([`RpcClient::watch`]), which lasts as long as the caller reads it; its head still
//! has to come within the timeout, and connecting is bounded in every case.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use crate::files::{ADDR_FILE, AddrFileError, FileError, read_addr_file};
use crate::routes;
use crate::token::{RpcToken, TOKEN_FILE, TokenError};
use crate::types::{
    BalanceInfo, BalanceQuery, CreditLimitRequest, CurrencyRequest, DialRequest, DialResult,
    DigestInfo, EntriesQuery, EntryInfo, ErrorBody, HistoryItem, HistoryQuery, OpResult,
    PayRequest, PayResult, PeerInfo, PublishRequest, PublishResult, StatusInfo, TopicInfo,
    TopicRequest, TopicResult,
};
use crate::watch::EntryStream;

/// How long a whole call may take by default (connect, request and answer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long connecting may take. The node is local: a slow connect means it is not there.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest error text taken from a non-JSON error answer.
const MAX_ERROR_TEXT: usize = 512;

/// Why a call did not produce an answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing accepted a connection at the address (refused or connect timeout).
    #[error("node not running at {addr}")]
    NotRunning {
        /// The address we tried.
        addr: SocketAddr,
    },
    /// The node accepted the connection but did not answer in time.
    #[error("node at {addr} did not answer within {}s", after.as_secs_f64())]
    Timeout {
        /// The node's address.
        addr: SocketAddr,
        /// The request timeout that expired.
        after: Duration,
    },
    /// The node answered 401: the token is not the running node's.
    #[error("the node refused the RPC token; is --data-dir the node's data directory?")]
    Unauthorized,
    /// The node answered with another error status.
    #[error("{message} (HTTP {status})")]
    Server {
        /// The HTTP status code.
        status: u16,
        /// The node's message ([`ErrorBody::error`]), or the raw answer when it is not JSON.
        message: String,
    },
    /// A success answer that does not decode as the expected type.
    #[error("cannot decode the node's answer: {0}")]
    Decode(String),
    /// The data directory has no `rpc.addr`: no node has run there.
    #[error(
        "no {ADDR_FILE} in {dir}: is the node running with --data-dir {dir}?",
        dir = dir.display()
    )]
    NoAddrFile {
        /// The data directory.
        dir: PathBuf,
    },
    /// `rpc.addr` exists but is unreadable or malformed.
    #[error(transparent)]
    AddrFile(#[from] AddrFileError),
    /// The token file is missing, unreadable or malformed.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Another IO failure on a local file.
    #[error(transparent)]
    Io(#[from] FileError),
    /// The HTTP exchange failed for another reason (connection reset, client setup).
    #[error("RPC call to {addr} failed: {message}")]
    Transport {
        /// The node's address.
        addr: SocketAddr,
        /// The error and its causes.
        message: String,
    },
}

/// A client of one node's control API. Cheap to clone (shares one connection pool).
#[derive(Clone, Debug)]
pub struct RpcClient {
    http: reqwest::Client,
    addr: SocketAddr,
    token: RpcToken,
    timeout: Duration,
}

impl RpcClient {
    /// A client of the node at `addr` presenting `token`, with [`DEFAULT_TIMEOUT`].
    ///
    /// # Errors
    /// [`ClientError::Transport`] if the HTTP client cannot be set up.
    pub fn new(addr: SocketAddr, token: RpcToken) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            // The API is local: an `HTTP_PROXY` in the operator's environment must not apply.
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| transport(addr, &e))?;
        Ok(Self {
            http,
            addr,
            token,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// A client of the node whose data directory is `data_dir`: the address comes from
    /// `rpc.addr` unless `rpc_addr` is given, the token from `rpc.token` unless `token_file` is.
    ///
    /// # Errors
    /// [`ClientError::NoAddrFile`] when there is no `rpc.addr` and no override,
    /// [`ClientError::AddrFile`] when it is malformed, [`ClientError::Token`] when the token file
    /// cannot be used.
    pub fn from_data_dir(
        data_dir: &Path,
        rpc_addr: Option<SocketAddr>,
        token_file: Option<&Path>,
    ) -> Result<Self, ClientError> {
        let addr = match rpc_addr {
            Some(addr) => addr,
            None => read_addr_file(data_dir)?.ok_or_else(|| ClientError::NoAddrFile {
                dir: data_dir.to_path_buf(),
            })?,
        };
        let token_path = token_file.map_or_else(|| data_dir.join(TOKEN_FILE), Path::to_path_buf);
        let token = RpcToken::read(&token_path)?;
        Self::new(addr, token)
    }

    /// The same client with another per-call timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The node's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `GET /v1/status`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn status(&self) -> Result<StatusInfo, ClientError> {
        self.get(routes::STATUS, &()).await
    }

    /// `GET /v1/peers`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, ClientError> {
        self.get(routes::PEERS, &()).await
    }

    /// `POST /v1/dial` with `target` (`did:icn:...@host:port` or `host:port`).
    ///
    /// # Errors
    /// See [`ClientError`]; a target the node rejects is a [`ClientError::Server`] with status 400.
    pub async fn dial(&self, target: impl Into<String>) -> Result<DialResult, ClientError> {
        let body = DialRequest {
            target: target.into(),
        };
        self.post(routes::DIAL, &body).await
    }

    /// `POST /v1/publish`: publishes `payload` on `topic`; answers once the entry is stored.
    ///
    /// # Errors
    /// See [`ClientError`]; a topic or payload the node refuses is a 400.
    pub async fn publish(
        &self,
        topic: impl Into<String>,
        payload: impl Into<Vec<u8>>,
    ) -> Result<PublishResult, ClientError> {
        let body = PublishRequest {
            topic: topic.into(),
            payload: payload.into(),
        };
        self.post(routes::PUBLISH, &body).await
    }

    /// `GET /v1/entries`: the latest entries on `topic`, oldest first; `limit` defaults to
    /// [`DEFAULT_ENTRIES_LIMIT`](crate::types::DEFAULT_ENTRIES_LIMIT) on the node.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn entries(
        &self,
        topic: impl Into<String>,
        limit: Option<usize>,
    ) -> Result<Vec<EntryInfo>, ClientError> {
        let query = EntriesQuery {
            topic: topic.into(),
            limit,
        };
        self.get(routes::ENTRIES, &query).await
    }

    /// `POST /v1/subscribe`: joins `topic` (durably).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn subscribe(&self, topic: impl Into<String>) -> Result<TopicResult, ClientError> {
        let body = TopicRequest {
            topic: topic.into(),
        };
        self.post(routes::SUBSCRIBE, &body).await
    }

    /// `POST /v1/unsubscribe`: leaves `topic`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn unsubscribe(&self, topic: impl Into<String>) -> Result<TopicResult, ClientError> {
        let body = TopicRequest {
            topic: topic.into(),
        };
        self.post(routes::UNSUBSCRIBE, &body).await
    }

    /// `GET /v1/topics`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn topics(&self) -> Result<Vec<TopicInfo>, ClientError> {
        self.get(routes::TOPICS, &()).await
    }

    /// `GET /v1/watch`: the entries that arrive on `topic` from now on, as they arrive.
    ///
    /// # Errors
    /// See [`ClientError`]: the node's refusal, or no answer head within the timeout. Errors
    /// while reading come from [`EntryStream::next`].
    pub async fn watch(&self, topic: impl Into<String>) -> Result<EntryStream, ClientError> {
        let query = TopicRequest {
            topic: topic.into(),
        };
        // No `.timeout()` on the request: reqwest's covers the whole body, which is endless.
        let request = self
            .http
            .get(self.url(routes::WATCH))
            .query(&query)
            .bearer_auth(self.token.expose());
        let head = async {
            let response = request.send().await.map_err(|e| self.classify(&e))?;
            self.success(response).await
        };
        let response = tokio::time::timeout(self.timeout, head)
            .await
            .map_err(|_| ClientError::Timeout {
                addr: self.addr,
                after: self.timeout,
            })??;
        Ok(EntryStream::new(response, self.addr))
    }

    /// `POST /v1/currency`: creates currency `code`, issued by the node, whose accounts may go
    /// down to `-limit` by default.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn create_currency(
        &self,
        code: impl Into<String>,
        limit: u64,
    ) -> Result<OpResult, ClientError> {
        let body = CurrencyRequest {
            code: code.into(),
            limit,
        };
        self.post(routes::CURRENCY, &body).await
    }

    /// `POST /v1/credit-limit`: sets `account`'s credit limit in `currency` (issued by the node).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn set_credit_limit(
        &self,
        currency: impl Into<String>,
        account: impl Into<String>,
        limit: u64,
    ) -> Result<OpResult, ClientError> {
        let body = CreditLimitRequest {
            currency: currency.into(),
            account: account.into(),
            limit,
        };
        self.post(routes::CREDIT_LIMIT, &body).await
    }

    /// `POST /v1/pay`: pays `amount` of `currency` from the node's account to `to`.
    ///
    /// # Errors
    /// See [`ClientError`]; a payment beyond the credit limit is a 400 whose message names the
    /// balance and the limit.
    pub async fn pay(
        &self,
        currency: impl Into<String>,
        to: impl Into<String>,
        amount: u64,
        memo: impl Into<String>,
    ) -> Result<PayResult, ClientError> {
        let body = PayRequest {
            currency: currency.into(),
            to: to.into(),
            amount,
            memo: memo.into(),
        };
        self.post(routes::PAY, &body).await
    }

    /// `GET /v1/balance`: `account`'s (default: the node's) balances in `currency` (default:
    /// all).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn balance(
        &self,
        currency: Option<&str>,
        account: Option<&str>,
    ) -> Result<Vec<BalanceInfo>, ClientError> {
        let query = BalanceQuery {
            currency: currency.map(str::to_string),
            account: account.map(str::to_string),
        };
        self.get(routes::BALANCE, &query).await
    }

    /// `GET /v1/history`: the ops concerning `account` (default: the node's).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn history(&self, account: Option<&str>) -> Result<Vec<HistoryItem>, ClientError> {
        let query = HistoryQuery {
            account: account.map(str::to_string),
        };
        self.get(routes::HISTORY, &query).await
    }

    /// `GET /v1/ledger/digest`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn ledger_digest(&self) -> Result<DigestInfo, ClientError> {
        self.get(routes::LEDGER_DIGEST, &()).await
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `GET path?query`, decoding the answer as `T`.
    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &impl serde::Serialize,
    ) -> Result<T, ClientError> {
        self.call(self.http.get(self.url(path)).query(query)).await
    }

    /// `POST path` with a JSON `body`, decoding the answer as `T`.
    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<T, ClientError> {
        self.call(self.http.post(self.url(path)).json(body)).await
    }

    /// Sends an authenticated request and decodes a 2xx answer as `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let response = request
            .bearer_auth(self.token.expose())
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| self.classify(&e))?;
        let response = self.success(response).await?;
        let body = response.bytes().await.map_err(|e| self.classify(&e))?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// The response if it is a 2xx; otherwise its error, with the node's message.
    async fn success(&self, response: reqwest::Response) -> Result<reqwest::Response, ClientError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(ClientError::Unauthorized);
        }
        let body = response.bytes().await.map_err(|e| self.classify(&e))?;
        Err(ClientError::Server {
            status: status.as_u16(),
            message: error_message(status, &body),
        })
    }

    fn classify(&self, error: &reqwest::Error) -> ClientError {
        if error.is_connect() {
            ClientError::NotRunning { addr: self.addr }
        } else if error.is_timeout() {
            ClientError::Timeout {
                addr: self.addr,
                after: self.timeout,
            }
        } else {
            transport(self.addr, error)
        }
    }
}

/// The operator-facing text of an error answer: the JSON `error`, else the (bounded) raw text,
/// else the status's reason phrase.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    if let Ok(ErrorBody { error }) = serde_json::from_slice(body) {
        return error;
    }
    let text: String = String::from_utf8_lossy(body)
        .trim()
        .chars()
        .take(MAX_ERROR_TEXT)
        .collect();
    if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("error answer")
            .to_string()
    } else {
        text
    }
}

/// A [`ClientError::Transport`] carrying the error's whole cause chain (reqwest's own text is
/// only "error sending request").
pub(crate) fn transport(addr: SocketAddr, error: &reqwest::Error) -> ClientError {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ClientError::Transport { addr, message }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn error_message_prefers_json_then_text_then_reason() {
        let json = br#"{"error":"bad target"}"#;
        assert_eq!(error_message(StatusCode::BAD_REQUEST, json), "bad target");
        assert_eq!(error_message(StatusCode::BAD_GATEWAY, b" oops \n"), "oops");
        assert_eq!(error_message(StatusCode::BAD_GATEWAY, b""), "Bad Gateway");
        let long = vec![b'x'; 4 * MAX_ERROR_TEXT];
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, &long).len(),
            MAX_ERROR_TEXT
        );
    }

    #[test]
    fn from_data_dir_explains_a_missing_addr_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = RpcClient::from_data_dir(dir.path(), None, None).unwrap_err();
        let d = dir.path().display();
        assert_eq!(
            err.to_string(),
            format!("no rpc.addr in {d}: is the node running with --data-dir {d}?")
        );
    }

    #[test]
    fn from_data_dir_uses_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let token = RpcToken::generate();
        let token_path = dir.path().join("other.token");
        std::fs::write(&token_path, token.expose()).unwrap();
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let client = RpcClient::from_data_dir(dir.path(), Some(addr), Some(&token_path)).unwrap();
        assert_eq!(client.addr(), addr);
        assert_eq!(client.token, token);
        // Without the override the default token file is required.
        let err = RpcClient::from_data_dir(dir.path(), Some(addr), None).unwrap_err();
        assert!(matches!(err, ClientError::Token(_)), "{err}");
    }

    #[test]
    fn not_running_text_is_exact() {
        let addr: SocketAddr = "127.0.0.1:7778".parse().unwrap();
        assert_eq!(
            ClientError::NotRunning { addr }.to_string(),
            "node not running at 127.0.0.1:7778"
        );
    }
}
