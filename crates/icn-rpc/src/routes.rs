//! The one table mapping API paths to methods.
//!
//! The server builds its router from [`path`] and labels every request's metrics with
//! [`method_for`] (from the matched route), and the client builds its URLs from the same
//! constants. Adding a call means adding a variant to [`RpcMethod`] in `icn-obs` (so its series
//! are registered at zero), an arm in [`path`] and one in the server's `handlers::endpoint`, a
//! [`RpcBackend`](crate::RpcBackend) method and a client method; both matches are exhaustive, so
//! the compiler points at the first two places.

use icn_obs::LabelValue;
use icn_obs::labels::RpcMethod;

/// `GET`: the node's [`StatusInfo`](crate::types::StatusInfo).
pub const STATUS: &str = "/v1/status";
/// `GET`: the connected [`PeerInfo`](crate::types::PeerInfo)s.
pub const PEERS: &str = "/v1/peers";
/// `POST` a [`DialRequest`](crate::types::DialRequest).
pub const DIAL: &str = "/v1/dial";
/// `POST` a [`PublishRequest`](crate::types::PublishRequest).
pub const PUBLISH: &str = "/v1/publish";
/// `GET ?topic=T&limit=N`: [`EntryInfo`](crate::types::EntryInfo)s, oldest first.
pub const ENTRIES: &str = "/v1/entries";
/// `POST` a [`TopicRequest`](crate::types::TopicRequest): join the topic.
pub const SUBSCRIBE: &str = "/v1/subscribe";
/// `GET ?topic=T`: a stream of NDJSON [`EntryInfo`](crate::types::EntryInfo) lines.
pub const WATCH: &str = "/v1/watch";
/// `POST` a [`TopicRequest`](crate::types::TopicRequest): leave the topic.
pub const UNSUBSCRIBE: &str = "/v1/unsubscribe";
/// `GET`: the joined [`TopicInfo`](crate::types::TopicInfo)s.
pub const TOPICS: &str = "/v1/topics";
/// `POST` a [`CurrencyRequest`](crate::types::CurrencyRequest).
pub const CURRENCY: &str = "/v1/currency";
/// `POST` a [`CreditLimitRequest`](crate::types::CreditLimitRequest).
pub const CREDIT_LIMIT: &str = "/v1/credit-limit";
/// `POST` a [`PayRequest`](crate::types::PayRequest).
pub const PAY: &str = "/v1/pay";
/// `GET ?currency=C&account=DID`: [`BalanceInfo`](crate::types::BalanceInfo)s.
pub const BALANCE: &str = "/v1/balance";
/// `GET ?account=DID`: [`HistoryItem`](crate::types::HistoryItem)s.
pub const HISTORY: &str = "/v1/history";
/// `GET`: the ledger's [`DigestInfo`](crate::types::DigestInfo).
pub const LEDGER_DIGEST: &str = "/v1/ledger/digest";

/// The route of `method`; `None` for [`RpcMethod::Unknown`], which labels unrouted paths.
pub fn path(method: RpcMethod) -> Option<&'static str> {
    match method {
        RpcMethod::Status => Some(STATUS),
        RpcMethod::Peers => Some(PEERS),
        RpcMethod::Dial => Some(DIAL),
        RpcMethod::Publish => Some(PUBLISH),
        RpcMethod::Entries => Some(ENTRIES),
        RpcMethod::Subscribe => Some(SUBSCRIBE),
        RpcMethod::Watch => Some(WATCH),
        RpcMethod::Unsubscribe => Some(UNSUBSCRIBE),
        RpcMethod::Topics => Some(TOPICS),
        RpcMethod::CurrencyCreate => Some(CURRENCY),
        RpcMethod::CreditLimitSet => Some(CREDIT_LIMIT),
        RpcMethod::Pay => Some(PAY),
        RpcMethod::Balance => Some(BALANCE),
        RpcMethod::History => Some(HISTORY),
        RpcMethod::LedgerDigest => Some(LEDGER_DIGEST),
        RpcMethod::Unknown => None,
    }
}

/// The method served at `route` (a route pattern as registered), or [`RpcMethod::Unknown`].
pub fn method_for(route: &str) -> RpcMethod {
    RpcMethod::ALL
        .iter()
        .copied()
        .find(|&method| path(method) == Some(route))
        .unwrap_or(RpcMethod::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_routed_method_round_trips() {
        for &method in RpcMethod::ALL {
            match path(method) {
                Some(route) => assert_eq!(method_for(route), method),
                None => assert_eq!(method, RpcMethod::Unknown),
            }
        }
        assert_eq!(method_for("/v1/nope"), RpcMethod::Unknown);
        assert_eq!(method_for("/v1/ledger/digest"), RpcMethod::LedgerDigest);
    }

    #[test]
    fn paths_are_distinct() {
        let mut paths: Vec<_> = RpcMethod::ALL.iter().filter_map(|&m| path(m)).collect();
        let routed = paths.len();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), routed);
    }
}
