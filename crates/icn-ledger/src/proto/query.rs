//! Read side of [`LedgerCore`]: accessors, local prediction, the state digest and the
//! invariant check.

use std::collections::{BTreeMap, HashMap};

use icn_identity::Did;
use serde::{Deserialize, Serialize};

use super::LedgerCore;
use crate::{CurrencyCode, LocalError, Op, OpId, OpStatus, OrderKey, RejectKind, SignedOp};

/// Domain prefix of [`LedgerCore::state_digest`].
const DIGEST_DOMAIN: &[u8] = b"ICN-LEDGER-STATE-V1";

/// A currency as created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Currency {
    /// Its code.
    pub code: CurrencyCode,
    /// Who may set credit limits.
    pub issuer: Did,
    /// Credit limit of accounts without an explicit one.
    pub default_credit_limit: u64,
    /// The op that created it.
    pub created_by: OpId,
}

/// A held op with its position and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldOp<'a> {
    /// Its position in the fold order (the key contains the id).
    pub key: OrderKey,
    /// The op as received.
    pub op: &'a SignedOp,
    /// What folding it did.
    pub status: OpStatus,
}

/// Two or more held transfers signed by `from` with the same `seq`: the evidence of an
/// equivocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Equivocation {
    /// The equivocating sender.
    pub from: Did,
    /// The seq it signed more than once.
    pub seq: u64,
    /// Every held transfer for `(from, seq)`, in fold order (at least two).
    pub ops: Vec<OpId>,
    /// The one that applied, if any (see the crate doc for the rule).
    pub applied: Option<OpId>,
}

/// Counters and sizes for metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerStats {
    /// Held ops.
    pub ops: u64,
    /// Held transfers that applied (state).
    pub applied_transfers: u64,
    /// Held ops that are rejected (state).
    pub rejected_ops: u64,
    /// Held ops rejected for a reason an earlier-ordered, missing op could lift
    /// ([`RejectKind::is_pending`]).
    pub pending: u64,
    /// Accounts with at least one applied transfer.
    pub accounts: u64,
    /// Currencies created.
    pub currencies: u64,
    /// Equivocations: held transfers sharing `(from, seq)` with another, beyond the first of
    /// each group. Depends only on the held set, so it never decreases.
    pub equivocations: u64,
    /// Replays since this core was created (a restore counts none).
    pub replays: u64,
    /// Held ops undone and folded again by those replays.
    pub refolded_ops: u64,
    /// Rejection events since creation, indexed by [`RejectKind::index`]: each stateless
    /// refusal, and each time a held op's status became a rejection of that kind.
    pub rejections: [u64; RejectKind::COUNT],
}

impl LedgerStats {
    /// Rejection events of one kind.
    pub fn rejections_of(&self, kind: RejectKind) -> u64 {
        self.rejections[kind.index()]
    }
}

impl LedgerCore {
    /// Balance of `account` in `currency` (0 if it has none, or the currency is unknown).
    /// Balances are `i64`; a transfer that would leave that range is rejected (`overflow`).
    pub fn balance(&self, currency: &CurrencyCode, account: &Did) -> i64 {
        self.state
            .currencies
            .get(currency)
            .map_or(0, |c| c.balance_of(account))
    }

    /// Every account with an applied transfer in `currency`, with its balance, by DID.
    pub fn balances(&self, currency: &CurrencyCode) -> BTreeMap<Did, i64> {
        self.state
            .currencies
            .get(currency)
            .map(|c| c.balances.iter().map(|(d, b)| (*d, b.balance)).collect())
            .unwrap_or_default()
    }

    /// The credit limit of `account` in `currency`, `None` if the currency is unknown.
    pub fn credit_limit(&self, currency: &CurrencyCode, account: &Did) -> Option<u64> {
        self.state
            .currencies
            .get(currency)
            .map(|c| c.limit_of(account))
    }

    /// Number of accounts with at least one applied transfer, in any currency.
    pub fn accounts_count(&self) -> usize {
        self.state.accounts.len()
    }

    /// All currencies, by code.
    pub fn currencies(&self) -> Vec<Currency> {
        let mut out: Vec<Currency> = self
            .state
            .currencies
            .keys()
            .filter_map(|code| self.currency(code))
            .collect();
        out.sort_by(|a, b| a.code.cmp(&b.code));
        out
    }

    /// Number of currencies.
    pub fn currencies_count(&self) -> usize {
        self.state.currencies.len()
    }

    /// One currency.
    pub fn currency(&self, code: &CurrencyCode) -> Option<Currency> {
        self.state.currencies.get(code).map(|c| Currency {
            code: code.clone(),
            issuer: c.issuer,
            default_credit_limit: c.default_limit,
            created_by: c.created_by,
        })
    }

    /// Seq of the last applied transfer from `account` (0: none).
    pub fn last_seq(&self, account: &Did) -> u64 {
        self.state.accounts.get(account).map_or(0, |a| a.last_seq)
    }

    /// The seq `account`'s next transfer must carry.
    pub fn next_seq(&self, account: &Did) -> u64 {
        self.last_seq(account).saturating_add(1)
    }

    /// A timestamp for an op with `seq` (0 for ops other than transfers) built now that sorts
    /// after every held op: `now_ms` if the newest held op is older; the newest held op's
    /// timestamp if `seq` sorts after it there (a payer's transfers of one millisecond); else
    /// one past it. So a node placing its ops never moves ahead of its clock by more than a
    /// millisecond per op of another author, or per op without a seq, that it follows.
    pub fn next_timestamp(&self, now_ms: u64, seq: u64) -> u64 {
        let head = self.head().map(|k| (k.timestamp_ms, k.seq));
        LedgerCore::timestamp_after(head, now_ms, seq)
    }

    /// [`LedgerCore::next_timestamp`] after a head at `(timestamp_ms, seq)`: where ops placed
    /// one after another go without inserting each first.
    pub fn timestamp_after(head: Option<(u64, u64)>, now_ms: u64, seq: u64) -> u64 {
        match head {
            None => now_ms,
            Some((timestamp_ms, _)) if timestamp_ms < now_ms => now_ms,
            Some((timestamp_ms, head_seq)) if seq > head_seq => timestamp_ms,
            Some((timestamp_ms, _)) => timestamp_ms.saturating_add(1),
        }
    }

    /// The last op in the fold order.
    pub fn head(&self) -> Option<OrderKey> {
        self.log.last().map(|e| e.key)
    }

    /// Predicts whether `op`, signed by `author`, would apply if inserted now (for refusing a
    /// doomed transfer before signing it). Checks everything `insert` does except the
    /// signature, requires the op to sort after every held op, then evaluates it against the
    /// current state. Returns the op's id.
    ///
    /// # Errors
    ///
    /// [`LocalError::Invalid`] for a stateless error, [`LocalError::BehindHead`] if the op
    /// would not be last in the fold order, [`LocalError::Rejected`] with the reason it would
    /// be rejected (for `over_limit` it carries the balance and the limit).
    pub fn validate_local(&self, op: &Op, author: &Did, now_ms: u64) -> Result<OpId, LocalError> {
        op.check_fields(author, &self.config)?;
        op.check_clock(&self.config, now_ms)?;
        let key = OrderKey {
            timestamp_ms: op.timestamp_ms(),
            seq: op.seq(),
            id: op.id(author),
        };
        if let Some(head) = self.head()
            && key <= head
        {
            return Err(LocalError::BehindHead {
                timestamp_ms: key.timestamp_ms,
                head_timestamp_ms: head.timestamp_ms,
            });
        }
        self.state.check(op, author).map_err(LocalError::Rejected)?;
        Ok(key.id)
    }

    /// Number of held ops.
    pub fn op_count(&self) -> usize {
        self.log.len()
    }

    /// Number of held transfers that applied.
    pub fn applied_transfers_count(&self) -> u64 {
        self.state.applied_transfers
    }

    /// Whether an op with this id is held.
    pub fn contains(&self, id: &OpId) -> bool {
        self.held.contains_key(id)
    }

    /// A held op by id.
    pub fn get(&self, id: &OpId) -> Option<HeldOp<'_>> {
        let (timestamp_ms, seq) = *self.held.get(id)?;
        let i = self.position(&OrderKey {
            timestamp_ms,
            seq,
            id: *id,
        })?;
        let e = &self.log[i];
        Some(HeldOp {
            key: e.key,
            op: &e.op,
            status: e.status,
        })
    }

    /// Every held op in fold order (for storage and replication).
    pub fn ops_in_order(&self) -> impl ExactSizeIterator<Item = HeldOp<'_>> + '_ {
        self.log.iter().map(|e| HeldOp {
            key: e.key,
            op: &e.op,
            status: e.status,
        })
    }

    /// Held ops that concern `account` (as author, payer, payee, issuer or limit holder), in
    /// fold order. Scans every held op.
    pub fn history(&self, account: &Did) -> Vec<HeldOp<'_>> {
        self.ops_in_order()
            .filter(|h| {
                h.op.author == *account
                    || match &h.op.op {
                        Op::CreateCurrency(c) => c.issuer == *account,
                        Op::SetCreditLimit(s) => s.account == *account,
                        Op::Transfer(t) => t.from == *account || t.to == *account,
                    }
            })
            .collect()
    }

    /// Every equivocation, by `(from, seq)`.
    pub fn equivocations(&self) -> Vec<Equivocation> {
        self.state
            .contested
            .iter()
            .filter_map(|(from, seq)| {
                let slot = self.state.slots.get(&(*from, *seq))?;
                Some(Equivocation {
                    from: *from,
                    seq: *seq,
                    ops: slot.held.iter().map(|k| k.id).collect(),
                    applied: slot.applied,
                })
            })
            .collect()
    }

    /// Counters and sizes for metrics.
    pub fn stats(&self) -> LedgerStats {
        let rejected = &self.state.rejected;
        LedgerStats {
            ops: self.log.len() as u64,
            applied_transfers: self.state.applied_transfers,
            rejected_ops: rejected.iter().sum(),
            pending: RejectKind::ALL
                .iter()
                .filter(|k| k.is_pending())
                .map(|k| rejected[k.index()])
                .sum(),
            accounts: self.state.accounts.len() as u64,
            currencies: self.state.currencies.len() as u64,
            equivocations: self.equivocations,
            replays: self.replays,
            refolded_ops: self.refolded,
            rejections: self.rejections,
        }
    }

    /// blake3 over the canonical, sorted state (all integers little-endian, strings as a
    /// `u32` length then UTF-8, DIDs and ids as 32 bytes):
    ///
    /// ```text
    /// "ICN-LEDGER-STATE-V1"
    /// u64 #currencies, then by code: code, issuer, default_credit_limit u64, created_by,
    ///     u64 #explicit limits, then by DID: DID, limit u64
    ///     u64 #balances, then by DID: DID, balance i64
    /// u64 #accounts, then by DID: DID, last_seq u64
    /// u64 #held ops, then in fold order: op id, status u8 (0 applied, else the reject code)
    /// ```
    ///
    /// Two nodes holding the same set of ops have the same digest. Costs O(state + held ops).
    pub fn state_digest(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(DIGEST_DOMAIN);
        let mut codes: Vec<&CurrencyCode> = self.state.currencies.keys().collect();
        codes.sort();
        h.update(&(codes.len() as u64).to_le_bytes());
        for code in codes {
            let Some(c) = self.state.currencies.get(code) else {
                continue;
            };
            h.update(&(code.as_str().len() as u32).to_le_bytes());
            h.update(code.as_str().as_bytes());
            h.update(c.issuer.as_bytes());
            h.update(&c.default_limit.to_le_bytes());
            h.update(c.created_by.as_bytes());
            let limits: BTreeMap<&Did, &u64> = c.limits.iter().collect();
            h.update(&(limits.len() as u64).to_le_bytes());
            for (did, limit) in limits {
                h.update(did.as_bytes());
                h.update(&limit.to_le_bytes());
            }
            let balances: BTreeMap<&Did, i64> =
                c.balances.iter().map(|(d, b)| (d, b.balance)).collect();
            h.update(&(balances.len() as u64).to_le_bytes());
            for (did, balance) in balances {
                h.update(did.as_bytes());
                h.update(&balance.to_le_bytes());
            }
        }
        let accounts: BTreeMap<&Did, u64> = self
            .state
            .accounts
            .iter()
            .map(|(d, a)| (d, a.last_seq))
            .collect();
        h.update(&(accounts.len() as u64).to_le_bytes());
        for (did, last_seq) in accounts {
            h.update(did.as_bytes());
            h.update(&last_seq.to_le_bytes());
        }
        h.update(&(self.log.len() as u64).to_le_bytes());
        for e in &self.log {
            h.update(e.key.id.as_bytes());
            h.update(&[e.status.reject_kind().map_or(0, RejectKind::digest_code)]);
        }
        *h.finalize().as_bytes()
    }

    /// Recomputes the state from the held ops and checks the ledger invariants: the log is
    /// strictly sorted and matches the id index; Σ balances per currency = 0; no balance below
    /// −limit; every account's applied seqs are exactly 1..=last_seq; balances, counts and the
    /// equivocation index agree with the recomputation. For tests and debugging: O(held ops).
    ///
    /// # Errors
    ///
    /// A description of the first violation found.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.held.len() != self.log.len() {
            return Err(format!(
                "{} ids indexed, {} ops held",
                self.held.len(),
                self.log.len()
            ));
        }
        for pair in self.log.windows(2) {
            if pair[0].key >= pair[1].key {
                return Err(format!("log not strictly sorted at {:?}", pair[1].key));
            }
        }
        let mut balances: HashMap<(&CurrencyCode, Did), i128> = HashMap::new();
        let mut seqs: HashMap<Did, u64> = HashMap::new();
        let mut applied = 0u64;
        let mut rejected = [0u64; RejectKind::COUNT];
        for e in &self.log {
            if self.held.get(&e.key.id) != Some(&(e.key.timestamp_ms, e.key.seq)) {
                return Err(format!("op {} missing from the id index", e.key.id));
            }
            if let Some(kind) = e.status.reject_kind() {
                rejected[kind.index()] += 1;
                continue;
            }
            let Op::Transfer(t) = &e.op.op else { continue };
            applied += 1;
            let last = seqs.entry(t.from).or_default();
            if last.checked_add(1) != Some(t.seq) {
                return Err(format!("{} applied seq {} after {}", t.from, t.seq, last));
            }
            *last = t.seq;
            // Amounts above i64::MAX can apply (into a deeply negative account): sum in i128.
            *balances.entry((&t.currency, t.from)).or_default() -= i128::from(t.amount);
            *balances.entry((&t.currency, t.to)).or_default() += i128::from(t.amount);
        }
        if applied != self.state.applied_transfers || rejected != self.state.rejected {
            return Err("applied/rejected counters disagree with the log".to_owned());
        }
        for (did, last) in &seqs {
            if self.last_seq(did) != *last {
                return Err(format!("{did}: last_seq {} != {last}", self.last_seq(did)));
            }
        }
        let mut seen = 0usize;
        for (code, cur) in &self.state.currencies {
            let mut sum = 0i128;
            for (did, b) in &cur.balances {
                seen += 1;
                let limit = cur.limit_of(did);
                if i128::from(b.balance) < -i128::from(limit) {
                    return Err(format!("{code}/{did}: balance {} < -{limit}", b.balance));
                }
                if balances.get(&(code, *did)) != Some(&i128::from(b.balance)) {
                    return Err(format!("{code}/{did}: balance disagrees with the log"));
                }
                sum += i128::from(b.balance);
            }
            if sum != 0 {
                return Err(format!("{code}: balances sum to {sum}"));
            }
        }
        if seen != balances.len() {
            return Err("balance entries disagree with the log".to_owned());
        }
        self.check_equivocation_index()
    }

    fn check_equivocation_index(&self) -> Result<(), String> {
        let mut extra = 0u64;
        let mut contested = 0usize;
        for ((from, seq), slot) in &self.state.slots {
            if slot.held.is_empty() || !slot.held.is_sorted() {
                return Err(format!("{from}/{seq}: bad slot"));
            }
            if slot.held.len() >= 2 {
                contested += 1;
                if !self.state.contested.contains(&(*from, *seq)) {
                    return Err(format!("{from}/{seq}: contested slot not listed"));
                }
            }
            extra += slot.held.len() as u64 - 1;
            let applied: Vec<OpId> = slot
                .held
                .iter()
                .filter(|k| self.get(&k.id).is_some_and(|h| h.status.is_applied()))
                .map(|k| k.id)
                .collect();
            if applied.len() > 1 || applied.first().copied() != slot.applied {
                return Err(format!("{from}/{seq}: applied op disagrees with statuses"));
            }
        }
        if extra != self.equivocations || contested != self.state.contested.len() {
            return Err("equivocation count disagrees with the held set".to_owned());
        }
        Ok(())
    }
}
