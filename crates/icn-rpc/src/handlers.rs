//! One handler per method: decode and check the request, call the backend, answer JSON.
//!
//! Handlers only check what the API itself promises (a body that decodes, required fields that
//! are not blank, the `limit` range); the backend validates the rest (topic names, DIDs,
//! currency codes, amounts) and answers [`RpcError::BadRequest`] for what it refuses.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};
use icn_obs::labels::RpcMethod;
use tokio_util::sync::CancellationToken;

use crate::backend::{RpcBackend, RpcError};
use crate::types::{
    BalanceInfo, BalanceQuery, CreditLimitRequest, CurrencyRequest, DEFAULT_ENTRIES_LIMIT,
    DialRequest, DialResult, DigestInfo, EntriesQuery, EntryInfo, HistoryItem, HistoryQuery,
    MAX_ENTRIES_LIMIT, OpResult, PayRequest, PayResult, PeerInfo, PublishRequest, PublishResult,
    StatusInfo, TopicInfo, TopicRequest, TopicResult,
};
use crate::watch;

/// Largest `POST /v1/publish` body. Payloads travel as base64 (4/3 of their size) and cannot
/// exceed a 4 MiB network frame, so this leaves room; other routes keep axum's 2 MiB default.
const MAX_PUBLISH_BODY: usize = 8 << 20;

/// What the handlers share.
pub(crate) struct AppState<B> {
    /// The node.
    pub(crate) backend: Arc<B>,
    /// Cancelled when the server shuts down: ends open `watch` streams, which would otherwise
    /// keep graceful shutdown waiting for their (endless) bodies.
    pub(crate) streams: CancellationToken,
}

impl<B> Clone for AppState<B> {
    fn clone(&self) -> Self {
        Self {
            backend: Arc::clone(&self.backend),
            streams: self.streams.clone(),
        }
    }
}

/// The handler of each method; `None` for [`RpcMethod::Unknown`].
pub(crate) fn endpoint<B: RpcBackend>(method: RpcMethod) -> Option<MethodRouter<AppState<B>>> {
    Some(match method {
        RpcMethod::Status => get(status::<B>),
        RpcMethod::Peers => get(peers::<B>),
        RpcMethod::Dial => post(dial::<B>),
        RpcMethod::Publish => post(publish::<B>).layer(DefaultBodyLimit::max(MAX_PUBLISH_BODY)),
        RpcMethod::Entries => get(entries::<B>),
        RpcMethod::Subscribe => post(subscribe::<B>),
        RpcMethod::Watch => get(watch_topic::<B>),
        RpcMethod::Unsubscribe => post(unsubscribe::<B>),
        RpcMethod::Topics => get(topics::<B>),
        RpcMethod::CurrencyCreate => post(create_currency::<B>),
        RpcMethod::CreditLimitSet => post(set_credit_limit::<B>),
        RpcMethod::Pay => post(pay::<B>),
        RpcMethod::Balance => get(balance::<B>),
        RpcMethod::History => get(history::<B>),
        RpcMethod::LedgerDigest => get(ledger_digest::<B>),
        RpcMethod::Unknown => return None,
    })
}

/// The decoded JSON body, or a 400 saying why it does not decode.
fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, RpcError> {
    body.map(|Json(value)| value)
        .map_err(|e| RpcError::BadRequest(e.body_text()))
}

/// The decoded query string, or a 400 saying why it does not decode.
fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, RpcError> {
    query
        .map(|Query(value)| value)
        .map_err(|e| RpcError::BadRequest(e.body_text()))
}

/// A 400 when a required field is blank.
fn required(field: &str, value: &str) -> Result<(), RpcError> {
    if value.trim().is_empty() {
        Err(RpcError::BadRequest(format!("{field} is empty")))
    } else {
        Ok(())
    }
}

/// An optional query field: absent or blank both mean "the default".
fn optional(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

async fn status<B: RpcBackend>(
    State(state): State<AppState<B>>,
) -> Result<Json<StatusInfo>, RpcError> {
    state.backend.status().await.map(Json)
}

async fn peers<B: RpcBackend>(
    State(state): State<AppState<B>>,
) -> Result<Json<Vec<PeerInfo>>, RpcError> {
    state.backend.peers().await.map(Json)
}

async fn dial<B: RpcBackend>(
    State(state): State<AppState<B>>,
    request: Result<Json<DialRequest>, JsonRejection>,
) -> Result<Json<DialResult>, RpcError> {
    let request = body(request)?;
    let target = request.target.trim();
    if target.is_empty() {
        return Err(RpcError::BadRequest("dial target is empty".into()));
    }
    state.backend.dial(target.to_string()).await.map(Json)
}

async fn publish<B: RpcBackend>(
    State(state): State<AppState<B>>,
    request: Result<Json<PublishRequest>, JsonRejection>,
) -> Result<Json<PublishResult>, RpcError> {
    let request = body(request)?;
    required("topic", &request.topic)?;
    state.backend.publish(request).await.map(Json)
}

async fn entries<B: RpcBackend>(
    State(state): State<AppState<B>>,
    request: Result<Query<EntriesQuery>, QueryRejection>,
) -> Result<Json<Vec<EntryInfo>>, RpcError> {
    let request = query(request)?;
    required("topic", &request.topic)?;
    let limit = request.limit.unwrap_or(DEFAULT_ENTRIES_LIMIT);
    if !(1..=MAX_ENTRIES_LIMIT).contains(&limit) {
        return Err(RpcError::BadRequest(format!(
            "limit must be between 1 and {MAX_ENTRIES_LIMIT}, got {limit}"
        )));
    }
    state.backend.entries(request.topic, limit).await.map(Json)
}

async fn subscribe<B: RpcBackend>(
    State(state): State<AppState<B>>,
    request: Result<Json<TopicRequest>, JsonRejection>,
) -> Result<Json<TopicResult>, RpcError> {
    let request = body(request)?;
    required("topic", &request.topic)?;
    state.backend.subscribe(request.topic).await.map(Json)
}

async fn unsubscribe<B: RpcBackend>(
    State(state): State<AppState<B>>,
    request: Result<Json<TopicRequest>, JsonRejection>,
) -> Result<Json<TopicResult>, RpcError> {
    let request = body(request)?;
    required("topic", &request.topic)?;
    state.backend.unsubscribe(request.topic).await.map(Json)
}

async fn topics<B: RpcBackend>(
    State(state): State<AppState<B>>,
) -> Result<Json<Vec<TopicInfo>>, RpcError> {
    state.backend.topics().await.map(Json)
}

/// Answers with the stream's head as soon as the backend hands over its receiver; the entries
/// follow as NDJSON lines (see [`watch::ndjson_response`]).
async fn watch_topic<B: RpcBackend>(
    State(state): State<AppState<B>>,
    request: Result<Query<TopicRequest>, QueryRejection>,
) -> Result<Response, RpcError> {
    let request = query(request)?;
    required("topic", &request.topic)?;
    let entries = state.backend.watch(request.topic).await?;
    Ok(watch::ndjson_response(entries, state.streams.clone()))
}

async fn create_currency<B: RpcBackend>(
    State(state): State<AppState<B>>,
    request: Result<Json<CurrencyRequest>, JsonRejection>,
) -> Result<Json<OpResult>, RpcError> {
    let request = body(request)?;
    required("currency code", &request.code)?;
    state.backend.create_currency(request).await.map(Json)
}

async fn set_credit_limit<B: RpcBackend>(
    State(state): State<AppState<B>>,
    request: Result<Json<CreditLimitRequest>, JsonRejection>,
) -> Result<Json<OpResult>, RpcError> {
    let request = body(request)?;
    required("currency", &request.currency)?;
    required("account", &request.account)?;
    state.backend.set_credit_limit(request).await.map(Json)
}

async fn pay<B: RpcBackend>(
    State(state): State<AppState<B>>,
    request: Result<Json<PayRequest>, JsonRejection>,
) -> Result<Json<PayResult>, RpcError> {
    let request = body(request)?;
    required("currency", &request.currency)?;
    required("payee", &request.to)?;
    state.backend.pay(request).await.map(Json)
}

async fn balance<B: RpcBackend>(
    State(state): State<AppState<B>>,
    request: Result<Query<BalanceQuery>, QueryRejection>,
) -> Result<Json<Vec<BalanceInfo>>, RpcError> {
    let request = query(request)?;
    state
        .backend
        .balance(optional(request.currency), optional(request.account))
        .await
        .map(Json)
}

async fn history<B: RpcBackend>(
    State(state): State<AppState<B>>,
    request: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<Vec<HistoryItem>>, RpcError> {
    let request = query(request)?;
    state
        .backend
        .history(optional(request.account))
        .await
        .map(Json)
}

async fn ledger_digest<B: RpcBackend>(
    State(state): State<AppState<B>>,
) -> Result<Json<DigestInfo>, RpcError> {
    state.backend.ledger_digest().await.map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_fields_are_refused_and_blank_options_are_defaults() {
        assert_eq!(
            required("topic", " \t"),
            Err(RpcError::BadRequest("topic is empty".into()))
        );
        assert_eq!(required("topic", "news"), Ok(()));
        assert_eq!(optional(Some(" ".into())), None);
        assert_eq!(optional(Some("HOUR".into())), Some("HOUR".into()));
        assert_eq!(optional(None), None);
    }
}
