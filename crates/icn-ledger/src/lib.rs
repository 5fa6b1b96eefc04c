//! Mutual-credit ledger for ICN: a deterministic state machine over signed ops (this crate's
//! pure core), driven by the node's ledger actor and store.
//!
//! # Model
//! A currency is created by a signed [`CreateCurrency`] op; its issuer may set per-account
//! credit limits ([`SetCreditLimit`]); any account (a [`Did`](icn_identity::Did)) pays another
//! with a [`Transfer`] signed by the payer. Amounts are `u64` ≥ 1; balances are `i64` with
//! checked arithmetic (a transfer that would leave the `i64` range is rejected as `overflow`,
//! never wrapped). Ops travel as gossip payloads ([`payload`]: one op, or several) on topic
//! `icn/ledger`.
//!
//! # Strong eventual consistency
//! The state is a function of the *set* of held ops: they are sorted by [`OrderKey`]
//! `(timestamp_ms, seq, op id)` (a transfer's seq, 0 for other ops) and folded in that order.
//! Ops failing stateless validation ([`OpError`]: signature, signer, fields, clock skew) are
//! never held. A held op either applies or is recorded as rejected with a [`RejectReason`]:
//! - `CreateCurrency`: rejected `duplicate_currency` if the code exists (the first creation in
//!   fold order wins).
//! - `SetCreditLimit`: `unknown_currency`; `not_issuer` unless signed by the currency's issuer;
//!   `limit_below_balance` if the account already owes more than the new limit.
//! - `Transfer`: `unknown_currency`; `equivocation` if the payer already has an applied
//!   transfer with this seq; `bad_seq` unless `seq == last_seq(from) + 1`; `over_limit` if the
//!   payer's balance would go below −limit (its limit in that currency; the default unless set);
//!   `overflow` if a balance would leave `i64`.
//!
//! Seqs count a payer's applied transfers across all currencies. A rejected transfer does not
//! use up its seq: its author may sign another transfer with the same seq.
//!
//! # Equivocation rule
//! Two or more held transfers with the same `from` and `seq` are an equivocation. All of them
//! stay held (they are the evidence, signed by `from`) and are listed by
//! [`LedgerCore::equivocations`]. **Resolution:** in fold order, the first of them that passes
//! every other check applies and takes the seq; every later one is rejected as `equivocation`;
//! earlier ones that failed keep their own reason. So at most one transfer per `(from, seq)`
//! applies, and which one depends only on the set (it is the fold). **Count:** a group of `k`
//! transfers for one `(from, seq)` counts `k − 1` equivocations; the count depends only on the
//! held set, so it is the same on every node, never decreases, and each op adds at most one
//! when it first arrives (never again on replays). Re-signing a seq whose first transfer was
//! rejected (a legitimate retry) is counted too: it is indistinguishable, on another node,
//! from a double spend, and the rule still lets only one of them apply.
//!
//! # State digest
//! [`LedgerCore::state_digest`]: blake3 over the canonical sorted state — currencies with
//! issuer, default limit and creating op; explicit limits; balances; each account's last seq;
//! and every held op id with its status — exactly defined on that method.
//!
//! # Metrics (exported by the actor from these outputs)
//! - transactions applied: [`NewOp::status`] / [`StatusChange`] to `Applied` on transfers, or
//!   [`LedgerCore::applied_transfers_count`]; amounts: those transfers' `amount`.
//! - accounts, currencies: [`LedgerCore::accounts_count`], [`LedgerCore::currencies_count`].
//! - `icn_ledger_transactions_rejected_total{reason}`: [`LedgerStats::rejections`], labelled by
//!   [`RejectKind::as_str`] (the closed set [`RejectKind::ALL`]).
//! - `icn_ledger_equivocations_total`: [`LedgerStats::equivocations`] (or [`NewOp::equivocation`]).
//! - `icn_ledger_replays_total`: [`LedgerStats::replays`] (or [`InsertOutcome`]'s replay).
//! - pending ops: [`LedgerStats::pending`] (held ops waiting on a missing earlier op).
//!
//! # Layout
//! - [`op`]: the op types, [`CurrencyCode`], [`SignedOp`], canonical signing bytes and wire form.
//! - [`payload`]: the gossip payload of one op or a batch of them ([`payload::pack`],
//!   [`payload::decode_payload`]).
//! - `id`: [`OpId`] and the fold order [`OrderKey`].
//! - `error`: [`OpError`], [`RejectReason`], [`OpStatus`], [`LocalError`], [`RejectKind`].
//! - `config`: [`LedgerConfig`] and its defaults.
//! - [`proto`]: [`LedgerCore`], the pure state machine (insert, replay, queries, digest,
//!   invariants); its `state` submodule holds the rules.
//! - [`store`]: [`LedgerStore`], the redb store of held ops in fold order.
//! - [`actor`]: [`LedgerActor`] and [`LedgerHandle`]: the core fed by the `icn/ledger` gossip
//!   topic, with durable storage and local ops (currency, credit limit, pay).
//! - `fuzzing` (hidden): the fuzz harness of validation and apply, shared with a CI test.

pub mod actor;
mod config;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod id;
pub mod op;
pub mod payload;
pub mod proto;
pub mod store;

pub use actor::{
    BalanceRow, DigestInfo, HistoryRow, LEDGER_TOPIC, LedgerActor, LedgerError, LedgerHandle,
};
pub use config::{DEFAULT_MAX_ENTRY_BYTES, LedgerConfig};
pub use error::{LocalError, OpError, OpStatus, RejectKind, RejectReason};
pub use id::{OpId, OpIdParseError, OrderKey};
pub use op::{
    CreateCurrency, CurrencyCode, MAX_CODE_LEN, MAX_OP_BYTES, Op, SetCreditLimit, SignedOp,
    Transfer,
};
pub use proto::{
    BatchItem, BatchOutcome, Currency, Equivocation, HeldOp, InsertOutcome, LedgerCore,
    LedgerStats, NewOp, Replay, StatusChange,
};
pub use store::{LedgerStore, LedgerStoreError};
