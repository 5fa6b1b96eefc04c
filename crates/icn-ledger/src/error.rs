//! Why an op is refused or rejected: [`OpError`] (stateless validation, the op is not held),
//! [`RejectReason`] (stateful, the op is held and recorded as rejected), [`LocalError`] (a
//! locally built op that would not apply) and the closed label set [`RejectKind`].

use icn_identity::Did;
use serde::{Deserialize, Serialize};

use crate::OpId;

/// An op that fails stateless validation. Such an op is not held, not folded and must not be
/// forwarded; the caller counts it under [`OpError::kind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    /// The encoded op is longer than the decode limit.
    #[error("encoded op is {len} bytes, above the limit of {max}")]
    TooLarge {
        /// Length of the input.
        len: usize,
        /// The limit applied.
        max: usize,
    },
    /// The bytes are not the canonical encoding of a [`crate::SignedOp`].
    #[error("malformed op encoding: {reason}")]
    Malformed {
        /// What the decoder reported.
        reason: String,
    },
    /// The signature does not verify over the op's signing bytes with the author's key.
    #[error("signature does not verify for author {author}")]
    BadSignature {
        /// The claimed author.
        author: Did,
    },
    /// The op is signed by someone other than its actor (`from` of a transfer, `issuer` of a
    /// currency creation).
    #[error("op is signed by {author} but must be signed by {actor}")]
    AuthorMismatch {
        /// Who signed.
        author: Did,
        /// Who must sign.
        actor: Did,
    },
    /// A transfer of zero units.
    #[error("transfer amount must be positive")]
    ZeroAmount,
    /// A transfer with `seq` 0 (an account's first transfer has seq 1).
    #[error("transfer seq must be at least 1")]
    ZeroSeq,
    /// A transfer whose `from` and `to` are the same account.
    #[error("transfer from an account to itself")]
    SelfTransfer,
    /// The memo is longer than the configured maximum.
    #[error("memo is {len} bytes, above the limit of {max}")]
    MemoTooLong {
        /// Memo length in bytes.
        len: usize,
        /// [`crate::LedgerConfig::max_memo_bytes`].
        max: usize,
    },
    /// A currency code that is empty, too long, or not uppercase ASCII letters and digits.
    #[error("invalid currency code: {reason}")]
    InvalidCode {
        /// Which rule the code breaks.
        reason: &'static str,
    },
    /// The op's timestamp is further ahead of the local clock than the skew bound allows.
    /// Such an op may be accepted later, once the clock has caught up.
    #[error(
        "timestamp {timestamp_ms} ms is more than {max_skew_ms} ms ahead of the local clock \
         ({now_ms} ms)"
    )]
    FutureTimestamp {
        /// The op's timestamp.
        timestamp_ms: u64,
        /// The local clock when the op was checked.
        now_ms: u64,
        /// [`crate::LedgerConfig::max_clock_skew_ms`].
        max_skew_ms: u64,
    },
}

impl OpError {
    /// The metric label of this error.
    pub fn kind(&self) -> RejectKind {
        match self {
            OpError::TooLarge { .. } => RejectKind::TooLarge,
            OpError::Malformed { .. } => RejectKind::Malformed,
            OpError::BadSignature { .. } => RejectKind::BadSignature,
            OpError::AuthorMismatch { .. } => RejectKind::AuthorMismatch,
            OpError::ZeroAmount => RejectKind::ZeroAmount,
            OpError::ZeroSeq => RejectKind::ZeroSeq,
            OpError::SelfTransfer => RejectKind::SelfTransfer,
            OpError::MemoTooLong { .. } => RejectKind::MemoTooLong,
            OpError::InvalidCode { .. } => RejectKind::InvalidCode,
            OpError::FutureTimestamp { .. } => RejectKind::FutureTimestamp,
        }
    }
}

/// Why a held op did not apply at its position in the fold. Part of the ledger state: every
/// node holding the same set of ops records the same reason for the same op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum RejectReason {
    /// The currency has not been created earlier in the fold order.
    #[error("unknown currency")]
    UnknownCurrency,
    /// A currency with this code was created earlier in the fold order.
    #[error("currency already created by op {existing}")]
    DuplicateCurrency {
        /// The op that created it.
        existing: OpId,
    },
    /// A credit limit set by someone other than the currency's issuer.
    #[error("only the currency's issuer {issuer} may set credit limits")]
    NotIssuer {
        /// The currency's issuer.
        issuer: Did,
    },
    /// A credit limit below the account's current debt (it would break the invariant that
    /// no balance is below −limit).
    #[error("credit limit {limit} is below the account's debt (balance {balance})")]
    LimitBelowBalance {
        /// The account's balance at that point of the fold.
        balance: i64,
        /// The refused limit.
        limit: u64,
    },
    /// The transfer's seq is not the sender's next one: an earlier transfer is missing.
    #[error("seq gap: the sender's next seq is {expected}")]
    BadSeq {
        /// The seq that would have applied.
        expected: u64,
    },
    /// Another transfer with the same sender and seq applied earlier in the fold.
    #[error("equivocation: op {applied} already holds this sender and seq")]
    Equivocation {
        /// The transfer that holds the seq.
        applied: OpId,
    },
    /// The sender's balance would fall below −limit.
    #[error(
        "insufficient credit: balance {balance}, credit limit {limit}, amount {amount} \
         (the balance may not go below -{limit})"
    )]
    OverLimit {
        /// The sender's balance before the transfer.
        balance: i64,
        /// The sender's credit limit.
        limit: u64,
        /// The transfer's amount.
        amount: u64,
    },
    /// A balance would leave the `i64` range.
    #[error("a balance would overflow")]
    Overflow,
}

impl RejectReason {
    /// The metric label of this reason.
    pub fn kind(&self) -> RejectKind {
        match self {
            RejectReason::UnknownCurrency => RejectKind::UnknownCurrency,
            RejectReason::DuplicateCurrency { .. } => RejectKind::DuplicateCurrency,
            RejectReason::NotIssuer { .. } => RejectKind::NotIssuer,
            RejectReason::LimitBelowBalance { .. } => RejectKind::LimitBelowBalance,
            RejectReason::BadSeq { .. } => RejectKind::BadSeq,
            RejectReason::Equivocation { .. } => RejectKind::Equivocation,
            RejectReason::OverLimit { .. } => RejectKind::OverLimit,
            RejectReason::Overflow => RejectKind::Overflow,
        }
    }
}

/// What folding a held op did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OpStatus {
    /// The op changed the state.
    Applied,
    /// The op is held (and replicated) but changed nothing.
    Rejected(RejectReason),
}

impl OpStatus {
    /// `true` for [`OpStatus::Applied`].
    pub fn is_applied(&self) -> bool {
        matches!(self, OpStatus::Applied)
    }

    /// The rejection label, if rejected.
    pub fn reject_kind(&self) -> Option<RejectKind> {
        match self {
            OpStatus::Applied => None,
            OpStatus::Rejected(r) => Some(r.kind()),
        }
    }
}

/// Why an op built by this node would not apply if inserted now
/// ([`crate::LedgerCore::validate_local`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// It fails stateless validation.
    #[error(transparent)]
    Invalid(#[from] OpError),
    /// It would be held but rejected.
    #[error("{0}")]
    Rejected(RejectReason),
    /// It would not be the last op in the fold order, so its outcome cannot be predicted from
    /// the current state alone. Use [`crate::LedgerCore::next_timestamp`].
    #[error(
        "timestamp {timestamp_ms} ms does not sort after the newest held op \
         ({head_timestamp_ms} ms); use a later timestamp"
    )]
    BehindHead {
        /// The op's timestamp.
        timestamp_ms: u64,
        /// Timestamp of the last op in the fold order.
        head_timestamp_ms: u64,
    },
}

/// Every reason an op is refused or rejected: the closed value set of the `reason` label of
/// `icn_ledger_transactions_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RejectKind {
    /// [`OpError::TooLarge`].
    TooLarge,
    /// [`OpError::Malformed`].
    Malformed,
    /// [`OpError::BadSignature`].
    BadSignature,
    /// [`OpError::AuthorMismatch`].
    AuthorMismatch,
    /// [`OpError::ZeroAmount`].
    ZeroAmount,
    /// [`OpError::ZeroSeq`].
    ZeroSeq,
    /// [`OpError::SelfTransfer`].
    SelfTransfer,
    /// [`OpError::MemoTooLong`].
    MemoTooLong,
    /// [`OpError::InvalidCode`].
    InvalidCode,
    /// [`OpError::FutureTimestamp`].
    FutureTimestamp,
    /// [`RejectReason::UnknownCurrency`].
    UnknownCurrency,
    /// [`RejectReason::DuplicateCurrency`].
    DuplicateCurrency,
    /// [`RejectReason::NotIssuer`].
    NotIssuer,
    /// [`RejectReason::LimitBelowBalance`].
    LimitBelowBalance,
    /// [`RejectReason::BadSeq`].
    BadSeq,
    /// [`RejectReason::Equivocation`].
    Equivocation,
    /// [`RejectReason::OverLimit`].
    OverLimit,
    /// [`RejectReason::Overflow`].
    Overflow,
}

impl RejectKind {
    /// Number of kinds.
    pub const COUNT: usize = 18;

    /// Every kind, in declaration order: `ALL[k.index()] == k`.
    pub const ALL: [RejectKind; RejectKind::COUNT] = [
        RejectKind::TooLarge,
        RejectKind::Malformed,
        RejectKind::BadSignature,
        RejectKind::AuthorMismatch,
        RejectKind::ZeroAmount,
        RejectKind::ZeroSeq,
        RejectKind::SelfTransfer,
        RejectKind::MemoTooLong,
        RejectKind::InvalidCode,
        RejectKind::FutureTimestamp,
        RejectKind::UnknownCurrency,
        RejectKind::DuplicateCurrency,
        RejectKind::NotIssuer,
        RejectKind::LimitBelowBalance,
        RejectKind::BadSeq,
        RejectKind::Equivocation,
        RejectKind::OverLimit,
        RejectKind::Overflow,
    ];

    /// The label value (snake case).
    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::TooLarge => "too_large",
            RejectKind::Malformed => "malformed",
            RejectKind::BadSignature => "bad_signature",
            RejectKind::AuthorMismatch => "author_mismatch",
            RejectKind::ZeroAmount => "zero_amount",
            RejectKind::ZeroSeq => "zero_seq",
            RejectKind::SelfTransfer => "self_transfer",
            RejectKind::MemoTooLong => "memo_too_long",
            RejectKind::InvalidCode => "invalid_code",
            RejectKind::FutureTimestamp => "future_timestamp",
            RejectKind::UnknownCurrency => "unknown_currency",
            RejectKind::DuplicateCurrency => "duplicate_currency",
            RejectKind::NotIssuer => "not_issuer",
            RejectKind::LimitBelowBalance => "limit_below_balance",
            RejectKind::BadSeq => "bad_seq",
            RejectKind::Equivocation => "equivocation",
            RejectKind::OverLimit => "over_limit",
            RejectKind::Overflow => "overflow",
        }
    }

    /// Position in [`RejectKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// `true` for reasons found by stateless validation (the op is not held).
    pub fn is_stateless(self) -> bool {
        self.index() <= RejectKind::FutureTimestamp.index()
    }

    /// `true` for rejections that a missing, earlier-ordered op could still turn into
    /// [`OpStatus::Applied`] (a seq gap or a not-yet-seen currency): the ops counted as
    /// "pending".
    pub fn is_pending(self) -> bool {
        matches!(self, RejectKind::BadSeq | RejectKind::UnknownCurrency)
    }

    /// Stable one-byte code used in [`crate::LedgerCore::state_digest`]; independent of the
    /// declaration order so that reordering the enum cannot change digests.
    pub(crate) fn digest_code(self) -> u8 {
        match self {
            RejectKind::TooLarge => 1,
            RejectKind::Malformed => 2,
            RejectKind::BadSignature => 3,
            RejectKind::AuthorMismatch => 4,
            RejectKind::ZeroAmount => 5,
            RejectKind::ZeroSeq => 6,
            RejectKind::SelfTransfer => 7,
            RejectKind::MemoTooLong => 8,
            RejectKind::InvalidCode => 9,
            RejectKind::FutureTimestamp => 10,
            RejectKind::UnknownCurrency => 11,
            RejectKind::DuplicateCurrency => 12,
            RejectKind::NotIssuer => 13,
            RejectKind::LimitBelowBalance => 14,
            RejectKind::BadSeq => 15,
            RejectKind::Equivocation => 16,
            RejectKind::OverLimit => 17,
            RejectKind::Overflow => 18,
        }
    }
}

impl std::fmt::Display for RejectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
