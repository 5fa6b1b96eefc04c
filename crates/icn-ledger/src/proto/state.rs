//! The folded state and the rules: what one op does to it, and how to take that back.
//!
//! `check` decides (pure), `commit` applies a decision, `undo` reverts an applied op exactly,
//! so that rolling back a suffix of the fold restores the state bit for bit (maps included:
//! entries created by an op are removed when it is undone).

use std::collections::{BTreeSet, HashMap};

use icn_identity::Did;

use crate::{
    CreateCurrency, CurrencyCode, Op, OpId, OpStatus, OrderKey, RejectKind, RejectReason,
    SetCreditLimit, SignedOp, Transfer,
};

/// One currency's part of the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CurrencyState {
    pub(crate) issuer: Did,
    pub(crate) default_limit: u64,
    /// The creating op, reported by `DuplicateCurrency` and hashed into the digest.
    pub(crate) created_by: OpId,
    /// Explicit limits set by the issuer; other accounts have `default_limit`.
    pub(crate) limits: HashMap<Did, u64>,
    /// Accounts touched by at least one applied transfer in this currency.
    pub(crate) balances: HashMap<Did, Balance>,
}

impl CurrencyState {
    pub(crate) fn limit_of(&self, account: &Did) -> u64 {
        self.limits
            .get(account)
            .copied()
            .unwrap_or(self.default_limit)
    }

    pub(crate) fn balance_of(&self, account: &Did) -> i64 {
        self.balances.get(account).map_or(0, |b| b.balance)
    }
}

/// A balance and the number of applied transfers that touch it; the entry is removed when the
/// count drops to zero, so an undone history leaves no trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Balance {
    pub(crate) balance: i64,
    pub(crate) refs: u64,
}

/// An account with at least one applied transfer (as payer or payee), in any currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Account {
    /// Seq of its last applied transfer as payer (0: none).
    pub(crate) last_seq: u64,
    /// Applied transfers it takes part in.
    pub(crate) refs: u64,
}

/// The transfers held for one `(from, seq)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Slot {
    /// Every held transfer with this sender and seq, in fold order. Depends only on the held
    /// set; two or more is an equivocation.
    pub(crate) held: Vec<OrderKey>,
    /// The one that applied, if any (fold state).
    pub(crate) applied: Option<OpId>,
}

/// What an applied op needs to be undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Undo {
    /// Rejected ops and currency creations (undone by removing the currency).
    Nothing,
    /// The account's previous explicit limit.
    Limit { prev: Option<u64> },
    /// Both balances before the transfer.
    Transfer { from_prev: i64, to_prev: i64 },
}

/// A decision of `check`, carried out by `commit`.
enum Effect {
    Create,
    Limit { prev: Option<u64> },
    Transfer { from_new: i64, to_new: i64 },
}

/// The ledger state after folding a prefix of the held ops, plus the set-level equivocation
/// index.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    pub(crate) currencies: HashMap<CurrencyCode, CurrencyState>,
    pub(crate) accounts: HashMap<Did, Account>,
    pub(crate) slots: HashMap<(Did, u64), Slot>,
    /// Slots holding two or more transfers, for listing equivocations in order.
    pub(crate) contested: BTreeSet<(Did, u64)>,
    pub(crate) applied_transfers: u64,
    /// Held ops currently rejected, by kind.
    pub(crate) rejected: [u64; RejectKind::COUNT],
}

/// `balance - amount`, if it stays at or above `-limit` and within `i64`.
///
/// # Errors
///
/// [`RejectReason::OverLimit`] below `-limit` (checked first), [`RejectReason::Overflow`]
/// below `i64::MIN` (possible only with a limit above `i64::MAX`).
pub(crate) fn debit(balance: i64, amount: u64, limit: u64) -> Result<i64, RejectReason> {
    // i128 holds every i64 minus every u64 exactly: no wrap is possible.
    let new = i128::from(balance) - i128::from(amount);
    if new < -i128::from(limit) {
        return Err(RejectReason::OverLimit {
            balance,
            limit,
            amount,
        });
    }
    i64::try_from(new).map_err(|_| RejectReason::Overflow)
}

/// `balance + amount`, if it stays within `i64`.
///
/// # Errors
///
/// [`RejectReason::Overflow`] above `i64::MAX`.
pub(crate) fn credit(balance: i64, amount: u64) -> Result<i64, RejectReason> {
    i64::try_from(i128::from(balance) + i128::from(amount)).map_err(|_| RejectReason::Overflow)
}

impl State {
    /// Records a newly held transfer in its `(from, seq)` slot; `true` if the slot already held
    /// another one (one more equivocation).
    pub(crate) fn register(&mut self, key: OrderKey, op: &Op) -> bool {
        let Op::Transfer(t) = op else {
            return false;
        };
        let slot = self.slots.entry((t.from, t.seq)).or_default();
        let at = slot.held.partition_point(|k| *k < key);
        slot.held.insert(at, key);
        if slot.held.len() >= 2 {
            self.contested.insert((t.from, t.seq));
            true
        } else {
            false
        }
    }

    /// Whether `op` by `author` would apply after everything folded so far.
    pub(crate) fn check(&self, op: &Op, author: &Did) -> Result<(), RejectReason> {
        self.decide(op, author).map(|_| ())
    }

    fn decide(&self, op: &Op, author: &Did) -> Result<Effect, RejectReason> {
        match op {
            Op::CreateCurrency(c) => self.decide_create(c),
            Op::SetCreditLimit(s) => self.decide_limit(s, author),
            Op::Transfer(t) => self.decide_transfer(t),
        }
    }

    fn decide_create(&self, c: &CreateCurrency) -> Result<Effect, RejectReason> {
        match self.currencies.get(&c.code) {
            Some(existing) => Err(RejectReason::DuplicateCurrency {
                existing: existing.created_by,
            }),
            None => Ok(Effect::Create),
        }
    }

    fn decide_limit(&self, s: &SetCreditLimit, author: &Did) -> Result<Effect, RejectReason> {
        let cur = self
            .currencies
            .get(&s.currency)
            .ok_or(RejectReason::UnknownCurrency)?;
        if *author != cur.issuer {
            return Err(RejectReason::NotIssuer { issuer: cur.issuer });
        }
        let balance = cur.balance_of(&s.account);
        if i128::from(balance) < -i128::from(s.limit) {
            return Err(RejectReason::LimitBelowBalance {
                balance,
                limit: s.limit,
            });
        }
        Ok(Effect::Limit {
            prev: cur.limits.get(&s.account).copied(),
        })
    }

    fn decide_transfer(&self, t: &Transfer) -> Result<Effect, RejectReason> {
        let cur = self
            .currencies
            .get(&t.currency)
            .ok_or(RejectReason::UnknownCurrency)?;
        let last = self.accounts.get(&t.from).map_or(0, |a| a.last_seq);
        if t.seq <= last {
            // Seqs 1..=last are all held by applied transfers (gapless), so this is a second
            // transfer for an already used seq.
            return Err(
                match self.slots.get(&(t.from, t.seq)).and_then(|s| s.applied) {
                    Some(applied) => RejectReason::Equivocation { applied },
                    None => RejectReason::BadSeq {
                        expected: last.saturating_add(1),
                    },
                },
            );
        }
        // `t.seq > last`, so `last < u64::MAX`.
        let expected = last.saturating_add(1);
        if t.seq != expected {
            return Err(RejectReason::BadSeq { expected });
        }
        let from_new = debit(cur.balance_of(&t.from), t.amount, cur.limit_of(&t.from))?;
        let to_new = credit(cur.balance_of(&t.to), t.amount)?;
        Ok(Effect::Transfer { from_new, to_new })
    }

    /// Folds one op: decides, commits, and returns its status and undo record.
    pub(crate) fn apply(&mut self, id: OpId, signed: &SignedOp) -> (OpStatus, Undo) {
        match self.decide(&signed.op, &signed.author) {
            Err(reason) => {
                self.rejected[reason.kind().index()] += 1;
                (OpStatus::Rejected(reason), Undo::Nothing)
            }
            Ok(effect) => (OpStatus::Applied, self.commit(id, &signed.op, effect)),
        }
    }

    fn commit(&mut self, id: OpId, op: &Op, effect: Effect) -> Undo {
        match (op, effect) {
            (Op::CreateCurrency(c), Effect::Create) => {
                self.currencies.insert(
                    c.code.clone(),
                    CurrencyState {
                        issuer: c.issuer,
                        default_limit: c.default_credit_limit,
                        created_by: id,
                        limits: HashMap::new(),
                        balances: HashMap::new(),
                    },
                );
                Undo::Nothing
            }
            (Op::SetCreditLimit(s), Effect::Limit { prev }) => {
                if let Some(cur) = self.currencies.get_mut(&s.currency) {
                    cur.limits.insert(s.account, s.limit);
                }
                Undo::Limit { prev }
            }
            (Op::Transfer(t), Effect::Transfer { from_new, to_new }) => {
                let mut undo = Undo::Transfer {
                    from_prev: 0,
                    to_prev: 0,
                };
                if let Some(cur) = self.currencies.get_mut(&t.currency) {
                    let from_prev = set_balance(cur, t.from, from_new);
                    let to_prev = set_balance(cur, t.to, to_new);
                    undo = Undo::Transfer { from_prev, to_prev };
                }
                let payer = self.accounts.entry(t.from).or_default();
                payer.last_seq = t.seq;
                payer.refs += 1;
                self.accounts.entry(t.to).or_default().refs += 1;
                self.slots.entry((t.from, t.seq)).or_default().applied = Some(id);
                self.applied_transfers += 1;
                undo
            }
            // `decide` returns the effect matching the op's variant.
            _ => Undo::Nothing,
        }
    }

    /// Reverts a folded op. Must be called on folded ops in reverse fold order.
    pub(crate) fn undo(&mut self, op: &Op, status: &OpStatus, undo: Undo) {
        if let OpStatus::Rejected(reason) = status {
            self.rejected[reason.kind().index()] -= 1;
            return;
        }
        match (op, undo) {
            (Op::CreateCurrency(c), _) => {
                self.currencies.remove(&c.code);
            }
            (Op::SetCreditLimit(s), Undo::Limit { prev }) => {
                if let Some(cur) = self.currencies.get_mut(&s.currency) {
                    match prev {
                        Some(limit) => cur.limits.insert(s.account, limit),
                        None => cur.limits.remove(&s.account),
                    };
                }
            }
            (Op::Transfer(t), Undo::Transfer { from_prev, to_prev }) => {
                if let Some(cur) = self.currencies.get_mut(&t.currency) {
                    unset_balance(cur, t.from, from_prev);
                    unset_balance(cur, t.to, to_prev);
                }
                if let Some(payer) = self.accounts.get_mut(&t.from) {
                    payer.last_seq = t.seq - 1;
                }
                release_account(&mut self.accounts, t.from);
                release_account(&mut self.accounts, t.to);
                if let Some(slot) = self.slots.get_mut(&(t.from, t.seq)) {
                    slot.applied = None;
                }
                self.applied_transfers -= 1;
            }
            _ => {}
        }
    }
}

/// Sets a balance, counting one more transfer on it; returns the previous balance.
fn set_balance(cur: &mut CurrencyState, account: Did, balance: i64) -> i64 {
    let entry = cur.balances.entry(account).or_insert(Balance {
        balance: 0,
        refs: 0,
    });
    let prev = entry.balance;
    entry.balance = balance;
    entry.refs += 1;
    prev
}

/// Restores a balance, counting one transfer less; drops the entry at zero transfers.
fn unset_balance(cur: &mut CurrencyState, account: Did, prev: i64) {
    if let Some(entry) = cur.balances.get_mut(&account) {
        entry.balance = prev;
        entry.refs -= 1;
        if entry.refs == 0 {
            cur.balances.remove(&account);
        }
    }
}

fn release_account(accounts: &mut HashMap<Did, Account>, did: Did) {
    if let Some(account) = accounts.get_mut(&did) {
        account.refs -= 1;
        if account.refs == 0 {
            accounts.remove(&did);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debit_at_limit_boundaries() {
        assert_eq!(debit(0, 100, 100), Ok(-100));
        assert_eq!(
            debit(0, 101, 100),
            Err(RejectReason::OverLimit {
                balance: 0,
                limit: 100,
                amount: 101
            })
        );
        assert_eq!(debit(5, 5, 0), Ok(0));
    }

    #[test]
    fn debit_never_wraps_near_i64_bounds() {
        // A limit above i64::MAX allows a floor below i64::MIN: the i64 range binds first.
        assert_eq!(debit(i64::MIN + 1, 1, u64::MAX), Ok(i64::MIN));
        assert_eq!(debit(i64::MIN, 1, u64::MAX), Err(RejectReason::Overflow));
        assert_eq!(debit(0, u64::MAX, u64::MAX), Err(RejectReason::Overflow));
        // Exactly -(2^63) is representable.
        assert_eq!(debit(0, 1 << 63, 1 << 63), Ok(i64::MIN));
        assert_eq!(debit(i64::MAX, u64::MAX, u64::MAX), Ok(i64::MIN));
        // Beyond the limit is over_limit even when it would also overflow.
        assert!(matches!(
            debit(i64::MIN, u64::MAX, 1 << 63),
            Err(RejectReason::OverLimit { .. })
        ));
    }

    #[test]
    fn credit_never_wraps() {
        assert_eq!(credit(i64::MAX - 1, 1), Ok(i64::MAX));
        assert_eq!(credit(i64::MAX, 1), Err(RejectReason::Overflow));
        assert_eq!(credit(0, u64::MAX), Err(RejectReason::Overflow));
        assert_eq!(credit(i64::MIN, u64::MAX), Ok(i64::MAX));
    }
}
