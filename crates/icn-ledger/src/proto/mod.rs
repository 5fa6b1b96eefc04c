//! The ledger state machine: a deterministic fold of the held set of signed ops.
//!
//! # Contract
//! - In: [`LedgerCore::insert`] / [`LedgerCore::insert_batch`] with untrusted [`SignedOp`]s
//!   and the caller's clock `now_ms` (milliseconds since the Unix epoch; only used to refuse
//!   ops too far in the future). [`LedgerCore::restore`] rebuilds from ops this node stored.
//! - Out: an [`InsertOutcome`] / [`BatchOutcome`] saying what each op became (refused with an
//!   [`OpError`]: not held, do not forward; duplicate; or held with an [`OpStatus`]), whether
//!   it added an equivocation, and which held ops changed status in a replay. Accessors
//!   (`balance`, `stats`, `state_digest`, ...) read the state.
//! - Pure and deterministic: no IO, no clock, no randomness, no tokio. Given the same *set* of
//!   held ops, every node has the same statuses, balances and digest, whatever the arrival
//!   order or batching. No panic on untrusted input; arithmetic on balances is checked.
//!
//! # Fold
//! Held ops are kept sorted by [`OrderKey`] `(timestamp_ms, seq, id)` and folded in that order
//! with the rules of [`crate`]'s doc. The whole held set is always folded.
//!
//! # Incremental cost and replays
//! An op that sorts after the last held op is folded on its own: O(1) amortised (a `Vec` push
//! and a few hash-map updates). An op that sorts earlier triggers a *replay*: every held op
//! after its position is undone in reverse order (each applied op keeps an exact undo
//! record), the op is inserted, and the suffix is folded again. Every position is thus a
//! checkpoint: a replay costs O(number of held ops after the new op), never a refold from the
//! start. A batch sorts its new ops first and replays at most once, from its earliest op.
//! Timestamps have no lower bound (a node joining late must accept old ops), so a peer can
//! send backdated ops that each cost a long replay: the actor should hand the core whole
//! gossip batches through `insert_batch`, which pays for one replay per batch.

mod query;
mod state;

use std::collections::HashMap;

use crate::{LedgerConfig, OpError, OpId, OpStatus, OrderKey, RejectKind, SignedOp};
use state::{State, Undo};

pub use query::{Currency, Equivocation, HeldOp, LedgerStats};

/// A held op and its fold result.
#[derive(Debug, Clone)]
struct Entry {
    key: OrderKey,
    op: SignedOp,
    status: OpStatus,
    undo: Undo,
}

/// The mutual-credit ledger state machine. See the module doc for its contract.
#[derive(Debug, Clone)]
pub struct LedgerCore {
    config: LedgerConfig,
    /// Every held op, sorted by key, all folded into `state`.
    log: Vec<Entry>,
    /// Held op ids with their timestamps and seqs (enough to rebuild the key and find the
    /// entry).
    held: HashMap<OpId, (u64, u64)>,
    state: State,
    /// Held transfers that share `(from, seq)` with another held transfer, beyond the first
    /// of each group: a function of the held set, so it only grows.
    equivocations: u64,
    replays: u64,
    refolded: u64,
    /// Rejection events by kind: stateless refusals, and ops whose status became a rejection
    /// of that kind (first fold, or a replay changing it).
    rejections: [u64; RejectKind::COUNT],
}

/// What [`LedgerCore::insert`] did with an op that passed stateless validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The op (same id) is already held; nothing changed.
    Duplicate(OpId),
    /// The op is now held (store and forward it).
    Inserted {
        /// Its id, status and equivocation flag.
        op: NewOp,
        /// Set when the op sorted before the last held op and a suffix was refolded.
        replay: Option<Replay>,
    },
}

/// A newly held op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewOp {
    /// The op id.
    pub id: OpId,
    /// Its position in the fold order.
    pub key: OrderKey,
    /// Its status after the fold (as of the end of the call).
    pub status: OpStatus,
    /// `true` if it is a transfer with the same `from` and `seq` as an already held one: the
    /// equivocation count grew by one.
    pub equivocation: bool,
}

/// A rollback and refold of the held ops after a new op's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// Held ops that were undone and folded again (excluding the new ones).
    pub refolded: u64,
    /// Those whose status differs afterwards, in fold order.
    pub changed: Vec<StatusChange>,
}

/// One previously held op whose status a replay changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    /// The op.
    pub id: OpId,
    /// Status before the replay.
    pub before: OpStatus,
    /// Status after it.
    pub after: OpStatus,
}

/// The fate of one op of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchItem {
    /// Already held, or an earlier op of the same batch had the same id.
    Duplicate(OpId),
    /// Now held.
    Inserted(NewOp),
}

/// What [`LedgerCore::insert_batch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// One result per input op, in input order.
    pub items: Vec<Result<BatchItem, OpError>>,
    /// The single replay the batch caused, if any.
    pub replay: Option<Replay>,
}

impl LedgerCore {
    /// An empty ledger.
    pub fn new(config: LedgerConfig) -> LedgerCore {
        LedgerCore {
            config,
            log: Vec::new(),
            held: HashMap::new(),
            state: State::default(),
            equivocations: 0,
            replays: 0,
            refolded: 0,
            rejections: [0; RejectKind::COUNT],
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &LedgerConfig {
        &self.config
    }

    /// Rebuilds a ledger from ops this node validated before storing them, in any order.
    ///
    /// Signatures and the clock are not checked again (that is what makes a restart cheap);
    /// the remaining stateless checks are, so an op the current configuration refuses is
    /// skipped and returned with its error. Duplicates are ignored. No replay and no
    /// rejection event is counted (statuses are state: see [`LedgerStats::rejected_ops`]).
    pub fn restore(
        config: LedgerConfig,
        ops: impl IntoIterator<Item = SignedOp>,
    ) -> (LedgerCore, Vec<(OpId, OpError)>) {
        let mut core = LedgerCore::new(config);
        let mut skipped = Vec::new();
        let mut fresh = Vec::new();
        for op in ops {
            let key = op.order_key();
            if let Err(e) = op.op.check_fields(&op.author, &core.config) {
                skipped.push((key.id, e));
                continue;
            }
            if core
                .held
                .insert(key.id, (key.timestamp_ms, key.seq))
                .is_none()
            {
                fresh.push((key, op));
            }
        }
        fresh.sort_by_key(|(key, _)| *key);
        for (key, op) in &fresh {
            if core.state.register(*key, &op.op) {
                core.equivocations += 1;
            }
        }
        // Folding an empty log never replays; restored statuses are not rejection events.
        let saved = core.rejections;
        core.fold_in(fresh);
        core.rejections = saved;
        (core, skipped)
    }

    /// Validates `op` (signature, signer, fields, clock against `now_ms`) and, if it is new,
    /// adds it to the held set and folds it.
    ///
    /// # Errors
    ///
    /// An [`OpError`] if stateless validation fails: the op is not held and must not be
    /// forwarded. The refusal is counted in [`LedgerStats::rejections`].
    pub fn insert(&mut self, op: SignedOp, now_ms: u64) -> Result<InsertOutcome, OpError> {
        single(self.insert_batch([op], now_ms))
    }

    /// [`LedgerCore::insert`] for many ops at once, with at most one replay (from the
    /// earliest new op). The result does not depend on how ops are split into batches.
    pub fn insert_batch(
        &mut self,
        ops: impl IntoIterator<Item = SignedOp>,
        now_ms: u64,
    ) -> BatchOutcome {
        self.insert_batch_checked(ops, now_ms, true)
    }

    /// [`LedgerCore::insert`] for an op this node has just signed with its own key: every
    /// check but the signature, which every peer verifies when the op reaches it (checking
    /// our own fresh signature would double the cost of a local payment).
    ///
    /// # Errors
    /// As [`LedgerCore::insert`].
    pub fn insert_own(&mut self, op: SignedOp, now_ms: u64) -> Result<InsertOutcome, OpError> {
        single(self.insert_batch_checked([op], now_ms, false))
    }

    /// The insert: a held id is a duplicate before any check (the id covers every field but
    /// the signature, so nothing about it can change); a new op is validated, its signature
    /// only when `verify_signatures`.
    fn insert_batch_checked(
        &mut self,
        ops: impl IntoIterator<Item = SignedOp>,
        now_ms: u64,
        verify_signatures: bool,
    ) -> BatchOutcome {
        enum Pending {
            Done(Result<BatchItem, OpError>),
            New(OrderKey, bool),
        }
        let ops: Vec<(OrderKey, SignedOp)> =
            ops.into_iter().map(|op| (op.order_key(), op)).collect();
        let mut checks = self.check_new(&ops, now_ms, verify_signatures).into_iter();
        let mut pending = Vec::new();
        let mut fresh = Vec::new();
        for (key, op) in ops {
            let checked = checks.next().flatten();
            if self.held.contains_key(&key.id) {
                pending.push(Pending::Done(Ok(BatchItem::Duplicate(key.id))));
                continue;
            }
            let valid = checked.unwrap_or_else(|| {
                if verify_signatures {
                    op.validate(&self.config, now_ms)
                } else {
                    op.validate_unsigned(&self.config, now_ms)
                }
            });
            if let Err(e) = valid {
                self.rejections[e.kind().index()] += 1;
                pending.push(Pending::Done(Err(e)));
                continue;
            }
            if self
                .held
                .insert(key.id, (key.timestamp_ms, key.seq))
                .is_some()
            {
                // The same op twice in one batch.
                pending.push(Pending::Done(Ok(BatchItem::Duplicate(key.id))));
                continue;
            }
            let equivocation = self.state.register(key, &op.op);
            if equivocation {
                self.equivocations += 1;
            }
            pending.push(Pending::New(key, equivocation));
            fresh.push((key, op));
        }
        fresh.sort_by_key(|(key, _)| *key);
        let replay = self.fold_in(fresh);
        let items = pending
            .into_iter()
            .map(|p| match p {
                Pending::Done(result) => result,
                Pending::New(key, equivocation) => Ok(BatchItem::Inserted(NewOp {
                    id: key.id,
                    key,
                    status: self.status_at(&key).unwrap_or(OpStatus::Applied),
                    equivocation,
                })),
            })
            .collect();
        BatchOutcome { items, replay }
    }

    /// The stateless validation of every op not held yet (`None` for held ones), the
    /// signatures of those that pass the other checks checked as one batch.
    fn check_new(
        &self,
        ops: &[(OrderKey, SignedOp)],
        now_ms: u64,
        verify_signatures: bool,
    ) -> Vec<Option<Result<(), OpError>>> {
        let mut checks: Vec<Option<Result<(), OpError>>> = ops
            .iter()
            .map(|(key, op)| {
                (!self.held.contains_key(&key.id))
                    .then(|| op.validate_unsigned(&self.config, now_ms))
            })
            .collect();
        if verify_signatures {
            let unsigned_ok: Vec<Option<&SignedOp>> = checks
                .iter()
                .zip(ops)
                .map(|(check, (_, op))| matches!(check, Some(Ok(()))).then_some(op))
                .collect();
            let signatures = SignedOp::verify_signatures_where(&unsigned_ok, |op| *op);
            for (check, signature) in checks.iter_mut().zip(signatures) {
                if signature.is_some() {
                    *check = signature;
                }
            }
        }
        checks
    }

    fn status_at(&self, key: &OrderKey) -> Option<OpStatus> {
        self.position(key).map(|i| self.log[i].status)
    }

    fn position(&self, key: &OrderKey) -> Option<usize> {
        self.log.binary_search_by(|e| e.key.cmp(key)).ok()
    }

    /// Adds sorted, not yet held ops to the log and folds them, replaying the suffix after
    /// the first one if it does not sort after the current head.
    fn fold_in(&mut self, fresh: Vec<(OrderKey, SignedOp)>) -> Option<Replay> {
        let first = fresh.first()?.0;
        let at = self.log.partition_point(|e| e.key < first);
        if at == self.log.len() {
            self.log.reserve(fresh.len());
            for (key, op) in fresh {
                self.push_and_fold(key, op, None);
            }
            return None;
        }
        // Roll the suffix back, newest first, so each undo sees the state it left behind.
        let suffix: Vec<Entry> = self.log.drain(at..).collect();
        for entry in suffix.iter().rev() {
            self.state.undo(&entry.op.op, &entry.status, entry.undo);
        }
        let refolded = suffix.len() as u64;
        let mut changed = Vec::new();
        let mut old = suffix.into_iter().peekable();
        let mut new = fresh.into_iter().peekable();
        loop {
            let take_old = match (old.peek(), new.peek()) {
                (Some(o), Some((k, _))) => o.key < *k,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if take_old {
                if let Some(entry) = old.next() {
                    let before = entry.status;
                    let after = self.push_and_fold(entry.key, entry.op, Some(before));
                    if after != before {
                        changed.push(StatusChange {
                            id: entry.key.id,
                            before,
                            after,
                        });
                    }
                }
            } else if let Some((key, op)) = new.next() {
                self.push_and_fold(key, op, None);
            }
        }
        self.replays += 1;
        self.refolded += refolded;
        Some(Replay { refolded, changed })
    }

    /// Appends an entry (which must sort last) and folds it; counts a rejection event when
    /// its status is a rejection of a different kind than `before`.
    fn push_and_fold(&mut self, key: OrderKey, op: SignedOp, before: Option<OpStatus>) -> OpStatus {
        let (status, undo) = self.state.apply(key.id, &op);
        if let Some(kind) = status.reject_kind()
            && before.and_then(|b| b.reject_kind()) != Some(kind)
        {
            self.rejections[kind.index()] += 1;
        }
        self.log.push(Entry {
            key,
            op,
            status,
            undo,
        });
        status
    }
}

/// The outcome of a one-op batch.
fn single(mut out: BatchOutcome) -> Result<InsertOutcome, OpError> {
    match out.items.pop() {
        Some(Ok(BatchItem::Inserted(op))) => Ok(InsertOutcome::Inserted {
            op,
            replay: out.replay,
        }),
        Some(Ok(BatchItem::Duplicate(id))) => Ok(InsertOutcome::Duplicate(id)),
        Some(Err(e)) => Err(e),
        // One op in, one item out.
        None => Err(OpError::Malformed {
            reason: "empty batch".to_owned(),
        }),
    }
}
