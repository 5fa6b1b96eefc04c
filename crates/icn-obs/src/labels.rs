//! Bounded label values.
//!
//! Every labelled metric takes its label values from an enum defined here, so the set of series is
//! known at start-up (and zero-registered), and no caller can put a DID, an address or an error
//! string into a label.

use metrics::Counter;

/// A closed set of values for one label.
pub trait LabelValue: Copy + Eq + std::fmt::Debug + 'static {
    /// The label's name, e.g. `reason`.
    const LABEL: &'static str;
    /// Every value, in declaration order; `ALL[v.index()] == v`.
    const ALL: &'static [Self];
    /// The value as it appears in the exposition.
    fn as_str(self) -> &'static str;
    /// Position of the value in [`LabelValue::ALL`].
    fn index(self) -> usize;
}

/// Declares a label enum implementing [`LabelValue`], with a `VALUES` constant for the catalogue.
#[macro_export]
macro_rules! label_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $label:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every label value as text, in declaration order.
            pub const VALUES: &'static [&'static str] = &[$($text),+];
        }

        impl $crate::labels::LabelValue for $name {
            const LABEL: &'static str = $label;
            const ALL: &'static [Self] = &[$($name::$variant),+];
            fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            fn index(self) -> usize {
                self as usize
            }
        }
    };
}

/// One counter per value of a label enum, all registered (at zero) up front.
#[derive(Clone)]
pub struct CounterVec<L: LabelValue> {
    counters: Vec<Counter>,
    _label: std::marker::PhantomData<L>,
}

impl<L: LabelValue> CounterVec<L> {
    /// Builds the vector from one counter per value, in [`LabelValue::ALL`] order.
    pub(crate) fn new(counters: Vec<Counter>) -> Self {
        debug_assert_eq!(counters.len(), L::ALL.len());
        Self {
            counters,
            _label: std::marker::PhantomData,
        }
    }

    /// The counter for one label value.
    pub fn get(&self, value: L) -> &Counter {
        &self.counters[value.index()]
    }

    /// Increments the counter for `value` by one.
    pub fn inc(&self, value: L) {
        self.get(value).increment(1);
    }
}

impl<L: LabelValue> std::fmt::Debug for CounterVec<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CounterVec")
            .field("label", &L::LABEL)
            .finish()
    }
}

label_enum! {
    /// The supervised actors of a node.
    pub enum Actor: "actor" {
        /// QUIC endpoint and sessions.
        Network => "network",
        /// Gossip protocol core.
        Gossip => "gossip",
        /// Ledger core.
        Ledger => "ledger",
        /// Local control API.
        Rpc => "rpc",
        /// Storage writer (group commit).
        Storage => "storage",
    }
}

/// One counter per combination of two label enums, all registered (at zero) up front.
#[derive(Clone)]
pub struct CounterVec2<A: LabelValue, B: LabelValue> {
    counters: Vec<Counter>,
    _labels: std::marker::PhantomData<(A, B)>,
}

impl<A: LabelValue, B: LabelValue> CounterVec2<A, B> {
    /// Builds from counters in `A`-major order (`a.index() * B::ALL.len() + b.index()`).
    pub(crate) fn new(counters: Vec<Counter>) -> Self {
        debug_assert_eq!(counters.len(), A::ALL.len() * B::ALL.len());
        Self {
            counters,
            _labels: std::marker::PhantomData,
        }
    }

    /// The counter for one combination.
    pub fn get(&self, a: A, b: B) -> &Counter {
        &self.counters[a.index() * B::ALL.len() + b.index()]
    }

    /// Increments the counter for `(a, b)` by one.
    pub fn inc(&self, a: A, b: B) {
        self.get(a, b).increment(1);
    }
}

impl<A: LabelValue, B: LabelValue> std::fmt::Debug for CounterVec2<A, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CounterVec2")
            .field("labels", &(A::LABEL, B::LABEL))
            .finish()
    }
}

/// One gauge per value of a label enum, all registered (at zero) up front.
#[derive(Clone)]
pub struct GaugeVec<L: LabelValue> {
    gauges: Vec<metrics::Gauge>,
    _label: std::marker::PhantomData<L>,
}

impl<L: LabelValue> GaugeVec<L> {
    pub(crate) fn new(gauges: Vec<metrics::Gauge>) -> Self {
        debug_assert_eq!(gauges.len(), L::ALL.len());
        Self {
            gauges,
            _label: std::marker::PhantomData,
        }
    }

    /// The gauge for one label value.
    pub fn get(&self, value: L) -> &metrics::Gauge {
        &self.gauges[value.index()]
    }
}

impl<L: LabelValue> std::fmt::Debug for GaugeVec<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GaugeVec")
            .field("label", &L::LABEL)
            .finish()
    }
}

/// One histogram per value of a label enum, all registered up front.
#[derive(Clone)]
pub struct HistogramVec<L: LabelValue> {
    histograms: Vec<metrics::Histogram>,
    _label: std::marker::PhantomData<L>,
}

impl<L: LabelValue> HistogramVec<L> {
    pub(crate) fn new(histograms: Vec<metrics::Histogram>) -> Self {
        debug_assert_eq!(histograms.len(), L::ALL.len());
        Self {
            histograms,
            _label: std::marker::PhantomData,
        }
    }

    /// The histogram for one label value.
    pub fn get(&self, value: L) -> &metrics::Histogram {
        &self.histograms[value.index()]
    }
}

impl<L: LabelValue> std::fmt::Debug for HistogramVec<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistogramVec")
            .field("label", &L::LABEL)
            .finish()
    }
}

label_enum! {
    /// Why an incoming frame was rejected.
    pub enum FrameRejectReason: "reason" {
        /// Length prefix above the configured maximum.
        Oversized => "oversized",
        /// Bytes that do not decode as a message (or decode with trailing bytes).
        Malformed => "malformed",
        /// Stream ended inside a frame.
        Truncated => "truncated",
        /// A read did not complete in time.
        Timeout => "timeout",
        /// A well-formed message that is not allowed at this point (e.g. no Hello first).
        Unexpected => "unexpected",
    }
}

label_enum! {
    /// Why an outgoing dial (or an incoming handshake) did not produce a session.
    pub enum DialFailureReason: "reason" {
        /// No answer, or the connection attempt timed out.
        Unreachable => "unreachable",
        /// TLS handshake failed (bad certificate, wrong key type, bad signature).
        Tls => "tls",
        /// The peer's proven key is not the DID we dialed.
        IdentityMismatch => "identity_mismatch",
        /// The peer speaks another protocol version.
        Version => "version",
        /// The Hello exchange failed or timed out.
        Handshake => "handshake",
        /// We are at `max_peers`.
        PeerLimit => "peer_limit",
        /// The address turned out to be our own node.
        SelfDial => "self_dial",
    }
}

label_enum! {
    /// RPC methods of the local control API.
    pub enum RpcMethod: "method" {
        /// `GET /v1/status`.
        Status => "status",
        /// `GET /v1/peers`.
        Peers => "peers",
        /// `POST /v1/dial`.
        Dial => "dial",
        /// `POST /v1/publish`.
        Publish => "publish",
        /// `GET /v1/entries`.
        Entries => "entries",
        /// `POST /v1/subscribe`.
        Subscribe => "subscribe",
        /// `GET /v1/watch` (streaming).
        Watch => "watch",
        /// `POST /v1/unsubscribe`.
        Unsubscribe => "unsubscribe",
        /// `GET /v1/topics`.
        Topics => "topics",
        /// `POST /v1/currency`.
        CurrencyCreate => "currency_create",
        /// `POST /v1/credit-limit`.
        CreditLimitSet => "credit_limit_set",
        /// `POST /v1/pay`.
        Pay => "pay",
        /// `GET /v1/balance`.
        Balance => "balance",
        /// `GET /v1/history`.
        History => "history",
        /// `GET /v1/ledger/digest`.
        LedgerDigest => "ledger_digest",
        /// Any path that is not a method.
        Unknown => "unknown",
    }
}

label_enum! {
    /// Outcome class of an RPC request.
    pub enum RpcStatus: "status" {
        /// 2xx.
        Ok => "ok",
        /// 400/404/409/422: the caller's request was wrong.
        ClientError => "client_error",
        /// 401: missing or wrong token.
        Unauthorized => "unauthorized",
        /// 5xx.
        ServerError => "server_error",
    }
}

label_enum! {
    /// Work the gossip core declined to do (mirrors `icn_gossip::proto::DropReason`).
    pub enum GossipDropReason: "reason" {
        /// A message from a peer that is not up.
        UnknownPeer => "unknown_peer",
        /// An announce, reconcile or have list for a topic not replicated here.
        NotSubscribed => "not_subscribed",
        /// Ids beyond the per-message cap.
        TooManyIds => "too_many_ids",
        /// Topics beyond the per-peer cap.
        TooManyTopics => "too_many_topics",
        /// Not requested: the pending-request table was full.
        PendingFull => "pending_full",
        /// Not requested: the announcer had its cap of outstanding requests.
        PeerBusy => "peer_busy",
        /// Request abandoned after its retries.
        GaveUp => "gave_up",
        /// Request abandoned: every announcer went down.
        NoSource => "no_source",
        /// Malformed or oversized reconciliation message.
        BadReconcile => "bad_reconcile",
        /// Reconciliation not started: session cap reached.
        SessionLimit => "session_limit",
        /// Reconciliation timed out.
        SessionTimeout => "session_timeout",
        /// Beyond the peer's per-window budget of announced ids, requested ids or reconcile
        /// messages.
        RateLimited => "rate_limited",
    }
}

label_enum! {
    /// Why a gossip entry or message was rejected (mirrors `icn_gossip::entry::RejectReason`).
    pub enum GossipRejectReason: "reason" {
        /// Undecodable message.
        Malformed => "malformed",
        /// Invalid topic name.
        BadTopic => "bad_topic",
        /// Payload above the limit.
        PayloadTooLarge => "payload_too_large",
        /// Timestamp too far in the future.
        FutureTimestamp => "future_timestamp",
        /// Signature does not verify.
        BadSignature => "bad_signature",
        /// Entry never requested (forged or mismatching id, unsolicited push).
        Unsolicited => "unsolicited",
        /// Topic not replicated here.
        NotSubscribed => "not_subscribed",
    }
}

label_enum! {
    /// Why a ledger op was rejected (mirrors `icn_ledger::RejectKind`).
    pub enum LedgerRejectReason: "reason" {
        /// Encoded op above the size limit.
        TooLarge => "too_large",
        /// Undecodable op.
        Malformed => "malformed",
        /// Signature does not verify.
        BadSignature => "bad_signature",
        /// Signed by someone other than the op's actor.
        AuthorMismatch => "author_mismatch",
        /// Transfer of zero.
        ZeroAmount => "zero_amount",
        /// Sequence number zero.
        ZeroSeq => "zero_seq",
        /// Transfer to oneself.
        SelfTransfer => "self_transfer",
        /// Memo above the limit.
        MemoTooLong => "memo_too_long",
        /// Invalid currency code.
        InvalidCode => "invalid_code",
        /// Timestamp too far in the future.
        FutureTimestamp => "future_timestamp",
        /// Currency does not exist.
        UnknownCurrency => "unknown_currency",
        /// Currency code already taken.
        DuplicateCurrency => "duplicate_currency",
        /// Credit limit set by someone other than the issuer.
        NotIssuer => "not_issuer",
        /// Credit limit below the account's current debt.
        LimitBelowBalance => "limit_below_balance",
        /// Sequence number not next.
        BadSeq => "bad_seq",
        /// Second transfer for an already used (from, seq).
        Equivocation => "equivocation",
        /// Sender would go below its credit limit.
        OverLimit => "over_limit",
        /// Balance arithmetic would overflow.
        Overflow => "overflow",
    }
}

label_enum! {
    /// A node's durable stores.
    pub enum Store: "store" {
        /// Gossip entries and joined topics (`gossip.redb`).
        Gossip => "gossip",
        /// Ledger ops (`ledger.redb`).
        Ledger => "ledger",
    }
}

label_enum! {
    /// Why a store operation failed.
    pub enum StorageErrorReason: "reason" {
        /// The disk (or the user's quota) is full.
        NoSpace => "no_space",
        /// Another I/O error, or the store is closed after one and could not be reopened yet.
        Io => "io",
        /// Stored bytes fail their checksum or do not decode.
        Corrupt => "corrupt",
        /// Anything else the database reports (locked file, internal limit).
        Other => "other",
    }
}

label_enum! {
    /// Level of a log event.
    pub enum LogLevel: "level" {
        /// ERROR.
        Error => "error",
        /// WARN.
        Warn => "warn",
        /// INFO.
        Info => "info",
        /// DEBUG.
        Debug => "debug",
        /// TRACE.
        Trace => "trace",
    }
}
