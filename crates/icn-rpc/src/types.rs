//! Request and response bodies of the control API, shared by the server and the client.
//!
//! Clients ignore fields they do not know, so a newer node can add fields without breaking an
//! older `icnctl`. Byte payloads travel as standard base64 strings (with padding); DIDs as their
//! `did:icn:...` text; ids and digests as lowercase hex; times as Unix milliseconds.

use serde::{Deserialize, Serialize};

/// Answer of `GET /v1/status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusInfo {
    /// The node's DID; `None` when it runs without an identity (metrics and health only).
    pub did: Option<String>,
    /// The node's version (`CARGO_PKG_VERSION` of the daemon).
    pub version: String,
    /// Seconds since the node started.
    pub uptime_seconds: f64,
    /// The QUIC listen address; `None` when the network is not running.
    pub listen_addr: Option<String>,
    /// Peers with an open session.
    pub peers: u64,
}

/// One connected peer, as listed by `GET /v1/peers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The peer's DID, proven by the TLS handshake.
    pub did: String,
    /// The peer's remote socket address.
    pub addr: String,
    /// Latest round-trip estimate in milliseconds, if one has been measured.
    pub rtt_ms: Option<f64>,
    /// When the session was established (Unix time, milliseconds).
    pub connected_since_unix_ms: u64,
    /// Who opened the session: `"inbound"` or `"outbound"`.
    pub direction: String,
}

/// Body of `POST /v1/dial`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialRequest {
    /// `did:icn:...@host:port` (the peer must prove that DID) or a bare `host:port`.
    pub target: String,
}

/// Answer of `POST /v1/dial`: the peer a session is now open with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialResult {
    /// DID the peer proved during the handshake.
    pub did: String,
}

/// Body of every non-2xx answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Human-readable reason, meant to be shown to the operator as is.
    pub error: String,
}

// ---------------------------------------------------------------------------------------------
// Gossip.

/// `GET /v1/entries` answers this many entries when the query has no `limit`.
pub const DEFAULT_ENTRIES_LIMIT: usize = 100;
/// The largest `limit` `GET /v1/entries` accepts; above it the answer is a 400.
pub const MAX_ENTRIES_LIMIT: usize = 10_000;

/// Body of `POST /v1/publish`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRequest {
    /// The topic to publish on.
    pub topic: String,
    /// The entry's payload: opaque bytes, base64 in JSON.
    #[serde(with = "base64_bytes")]
    pub payload: Vec<u8>,
}

/// Answer of `POST /v1/publish`, sent once the entry is durably stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishResult {
    /// The new entry's id (hex).
    pub id: String,
}

/// Query of `GET /v1/entries`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntriesQuery {
    /// The topic to list.
    pub topic: String,
    /// At most this many entries (default [`DEFAULT_ENTRIES_LIMIT`], at most
    /// [`MAX_ENTRIES_LIMIT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// One gossip entry, as listed by `GET /v1/entries` and streamed by `GET /v1/watch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryInfo {
    /// The entry id (hex).
    pub id: String,
    /// The topic it was published on.
    pub topic: String,
    /// The author's DID (the entry is signed with its key).
    pub author: String,
    /// When the author published it (Unix time, milliseconds, the author's clock).
    pub timestamp_ms: u64,
    /// The payload: opaque bytes, base64 in JSON.
    #[serde(with = "base64_bytes")]
    pub payload: Vec<u8>,
}

/// Body of `POST /v1/subscribe` and `POST /v1/unsubscribe`; also the query of `GET /v1/watch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRequest {
    /// The topic.
    pub topic: String,
}

/// Answer of `POST /v1/subscribe` and `POST /v1/unsubscribe`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicResult {
    /// The topic.
    pub topic: String,
    /// Whether the topic was joined *before an unsubscribe* or *by a subscribe*; so in both
    /// cases `true` means the call changed something. Subscribe: `false` if it was already
    /// joined. Unsubscribe: `true` if it was joined and is now left, `false` if it was not joined.
    pub joined: bool,
}

/// One topic the node replicates, as listed by `GET /v1/topics`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicInfo {
    /// The topic.
    pub topic: String,
    /// Entries the node holds on it.
    pub entries: u64,
}

// ---------------------------------------------------------------------------------------------
// Ledger.

/// Body of `POST /v1/currency`: the node creates a currency it issues.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyRequest {
    /// The currency code, e.g. `HOUR`.
    pub code: String,
    /// Default credit limit of every account in it.
    pub limit: u64,
}

/// Body of `POST /v1/credit-limit`: the issuer sets one account's credit limit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditLimitRequest {
    /// The currency code (the node must be its issuer).
    pub currency: String,
    /// The account's DID.
    pub account: String,
    /// The new limit: the account may go down to `-limit`.
    pub limit: u64,
}

/// Answer of `POST /v1/currency` and `POST /v1/credit-limit`: the signed op now stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpResult {
    /// The op's id (hex).
    pub op_id: String,
}

/// Body of `POST /v1/pay`: the node pays from its own account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayRequest {
    /// The currency code.
    pub currency: String,
    /// The payee's DID.
    pub to: String,
    /// How much, greater than zero.
    pub amount: u64,
    /// Free text stored with the transfer; may be empty.
    #[serde(default)]
    pub memo: String,
}

/// Answer of `POST /v1/pay`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayResult {
    /// The transfer op's id (hex).
    pub op_id: String,
    /// The transfer's sequence number in the node's account.
    pub seq: u64,
}

/// Query of `GET /v1/balance`; an absent (or empty) field means "the default".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceQuery {
    /// Only this currency; by default every currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// This account's DID; by default the node's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// One account's position in one currency, as listed by `GET /v1/balance`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceInfo {
    /// The currency code.
    pub currency: String,
    /// The account's DID.
    pub account: String,
    /// The balance; negative when the account owes.
    pub balance: i64,
    /// The account's credit limit: the balance may go down to `-limit`.
    pub limit: u64,
}

/// Query of `GET /v1/history`; an absent (or empty) field means "the default".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryQuery {
    /// This account's DID; by default the node's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// One ledger op concerning an account, as listed by `GET /v1/history` (in ledger order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItem {
    /// The op's id (hex).
    pub op_id: String,
    /// `"create_currency"`, `"set_credit_limit"` or `"transfer"`.
    pub kind: String,
    /// The currency code.
    pub currency: String,
    /// Who signed the op: the payer of a transfer, the issuer otherwise.
    pub from: Option<String>,
    /// The payee of a transfer; the account whose limit a `set_credit_limit` sets.
    pub to: Option<String>,
    /// A transfer's amount.
    pub amount: Option<u64>,
    /// A transfer's sequence number in the payer's account.
    pub seq: Option<u64>,
    /// The limit a `create_currency` (default) or `set_credit_limit` sets.
    pub limit: Option<u64>,
    /// When the op was signed (Unix time, milliseconds).
    pub timestamp_ms: u64,
    /// A transfer's memo; empty otherwise.
    #[serde(default)]
    pub memo: String,
    /// `"applied"`, or `"rejected: <reason>"`.
    pub status: String,
}

/// Answer of `GET /v1/ledger/digest`: equal on two nodes holding the same ops.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestInfo {
    /// The state digest (hex).
    pub digest: String,
    /// Ops the node holds, applied or rejected.
    pub ops: u64,
    /// Transfers that applied.
    pub applied_transfers: u64,
}

/// Serde for `Vec<u8>` as a standard base64 string.
mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(|e| de::Error::custom(format!("payload is not valid base64: {e}")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn payloads_are_base64_in_json() {
        let request = PublishRequest {
            topic: "t".into(),
            payload: vec![0, 1, 2, 0xff],
        };
        let json = serde_json::to_string(&request).unwrap();
        assert_eq!(json, r#"{"topic":"t","payload":"AAEC/w=="}"#);
        assert_eq!(
            serde_json::from_str::<PublishRequest>(&json).unwrap(),
            request
        );
        let err =
            serde_json::from_str::<PublishRequest>(r#"{"topic":"t","payload":"!!"}"#).unwrap_err();
        assert!(err.to_string().contains("not valid base64"), "{err}");
    }

    #[test]
    fn optional_query_fields_are_left_out() {
        let query = BalanceQuery::default();
        assert_eq!(serde_json::to_string(&query).unwrap(), "{}");
        let pay: PayRequest =
            serde_json::from_str(r#"{"currency":"H","to":"d","amount":3}"#).unwrap();
        assert_eq!(pay.memo, "");
    }
}
