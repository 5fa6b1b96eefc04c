//! The clients: each node's honest client (currencies, credit limits, payments, all checked
//! with `validate_local` first) and the malicious clients' cheats, submitted through a node
//! that inserts them without checking.

use icn_gossip::{Did, Keypair};
use icn_ledger::{
    CreateCurrency, CurrencyCode, InsertOutcome, LedgerCore, LocalError, Op, OpStatus, RejectKind,
    RejectReason, SetCreditLimit, SignedOp, Transfer,
};
use rand::Rng;
use rand::seq::SliceRandom;

use super::{Cheat, HonestOp, LedgerSim};
use crate::sim::net::NodeIdx;

/// What `account` may still spend in `code`: balance + limit (0 limit if unknown).
fn headroom(core: &LedgerCore, code: &CurrencyCode, account: &Did) -> i128 {
    i128::from(core.balance(code, account))
        + i128::from(core.credit_limit(code, account).unwrap_or(0))
}

/// A transfer built against `core`'s view: next seq, a timestamp after every held op.
fn transfer(
    core: &LedgerCore,
    code: &CurrencyCode,
    from: Did,
    to: Did,
    amount: u64,
    now: u64,
) -> Transfer {
    let seq = core.next_seq(&from);
    Transfer {
        currency: code.clone(),
        from,
        to,
        amount,
        seq,
        timestamp_ms: core.next_timestamp(now, seq),
        memo: String::new(),
    }
}

impl LedgerSim {
    fn core(&self, i: NodeIdx) -> Option<&LedgerCore> {
        self.nodes.get(i).and_then(|n| n.core.as_ref())
    }

    fn up_nodes(&self) -> Vec<NodeIdx> {
        (0..self.nodes.len())
            .filter(|i| self.core(*i).is_some())
            .collect()
    }

    /// A random currency node `i` knows.
    fn pick_currency(&mut self, i: NodeIdx) -> Option<CurrencyCode> {
        let codes: Vec<CurrencyCode> = self
            .core(i)?
            .currencies()
            .into_iter()
            .map(|c| c.code)
            .collect();
        codes.choose(&mut self.rng).cloned()
    }

    /// A random account other than `me`.
    fn pick_payee(&mut self, me: &Did, honest_only: bool) -> Option<Did> {
        let n = if honest_only {
            self.nodes.len()
        } else {
            self.accounts.len()
        };
        let others: Vec<Did> = self.accounts[..n]
            .iter()
            .filter(|d| *d != me)
            .copied()
            .collect();
        others.choose(&mut self.rng).copied()
    }

    /// Node `i`'s client makes `op` after `validate_local` accepted it: signs, inserts (it must
    /// apply), remembers what its author relied on, and publishes.
    fn make_honest(&mut self, i: NodeIdx, op: Op) {
        let me = self.accounts[i];
        let Some(core) = self.core(i) else { return };
        let relied_on = core
            .history(&me)
            .iter()
            .map(|h| (h.key.id, h.status.is_applied()))
            .collect();
        let signed = op.sign(&self.cluster.nodes[i].key);
        match self.insert_local(i, signed.clone()) {
            Some(Ok(InsertOutcome::Inserted { op: new, .. }))
                if new.status == OpStatus::Applied => {}
            other => {
                self.violation(format!(
                    "node {i}: an op validate_local accepted did not apply: {other:?}"
                ));
                return;
            }
        }
        self.honest.insert(signed.id(), HonestOp { relied_on });
        self.report.honest.made += 1;
        self.publish(i, &signed);
    }

    /// Node `i` creates currency number `c` (retried later if the node is down).
    pub(super) fn create_currency(&mut self, i: NodeIdx, c: usize) {
        let now = self.cluster.node_now(i);
        let (Some(core), Some(code)) = (self.core(i), self.codes.get(c).cloned()) else {
            if self.cluster.now_ms + 1_000 < self.report.quiet_at_ms {
                self.schedule(
                    self.cluster.now_ms + 1_000,
                    super::script::Event::CreateCurrency(i, c),
                );
            }
            return;
        };
        let me = self.accounts[i];
        let op = Op::CreateCurrency(CreateCurrency {
            code,
            issuer: me,
            default_credit_limit: self.config.default_credit_limit,
            timestamp_ms: core.next_timestamp(now, 0),
        });
        match core.validate_local(&op, &me, now) {
            Ok(_) => self.make_honest(i, op),
            Err(e) => self.violation(format!("node {i}: cannot create a currency: {e}")),
        }
    }

    /// The issuer of currency number `c` raises a random account's limit in it.
    pub(super) fn raise_limit(&mut self, c: usize) {
        let Some(&i) = self.issuers.get(c) else {
            return;
        };
        let now = self.cluster.node_now(i);
        let code = self.codes.get(c).cloned();
        let account = self.accounts.choose(&mut self.rng).copied();
        let raise = self.rng.gen_range(1..=50);
        let Some(core) = self.core(i) else {
            self.report.honest.skipped += 1;
            return;
        };
        let (Some(code), Some(account)) = (code, account) else {
            return;
        };
        let Some(limit) = core.credit_limit(&code, &account) else {
            return;
        };
        let me = self.accounts[i];
        let op = Op::SetCreditLimit(SetCreditLimit {
            currency: code,
            account,
            limit: limit + raise,
            timestamp_ms: core.next_timestamp(now, 0),
        });
        match core.validate_local(&op, &me, now) {
            Ok(_) => self.make_honest(i, op),
            Err(e) => self.violation(format!("node {i}: cannot raise a limit: {e}")),
        }
    }

    /// Node `i`'s honest client pays someone: mostly within its headroom (sometimes all of
    /// it), sometimes beyond on purpose, which `validate_local` must refuse.
    pub(super) fn pay(&mut self, i: NodeIdx) {
        let me = self.accounts[i];
        let Some(core) = self.nodes[i].core.as_ref() else {
            self.report.honest.skipped += 1;
            return;
        };
        // A currency it can spend in, if any (else it tries to overspend).
        let codes: Vec<CurrencyCode> = core.currencies().into_iter().map(|c| c.code).collect();
        let spendable: Vec<CurrencyCode> = codes
            .iter()
            .filter(|c| headroom(core, c, &me) > 0)
            .cloned()
            .collect();
        let pool = if spendable.is_empty() {
            codes
        } else {
            spendable
        };
        // Mostly honest payees: cheaters rarely pay back, so money paid to them is gone.
        let honest_only = self.rng.gen_bool(0.85);
        let (Some(code), Some(to)) = (
            pool.choose(&mut self.rng).cloned(),
            self.pick_payee(&me, honest_only),
        ) else {
            return;
        };
        let now = self.cluster.node_now(i);
        let Some(core) = self.nodes[i].core.as_ref() else {
            return;
        };
        let room = headroom(core, &code, &me);
        let overspend = room <= 0 || self.rng.gen_bool(0.05);
        let amount = if overspend {
            u64::try_from(room.max(0)).unwrap_or(0) + self.rng.gen_range(1..=20)
        } else {
            let room = u64::try_from(room).unwrap_or(u64::MAX);
            if self.rng.gen_bool(0.2) {
                room
            } else {
                self.rng.gen_range(1..=room.min(self.config.max_payment))
            }
        };
        let mut t = transfer(core, &code, me, to, amount, now);
        t.memo = format!("pay {}", self.report.honest.made);
        let op = Op::Transfer(t);
        match (core.validate_local(&op, &me, now), overspend) {
            (Ok(_), false) => self.make_honest(i, op),
            (Err(LocalError::Rejected(RejectReason::OverLimit { .. })), true) => {
                self.report.honest.refused_locally += 1;
            }
            (result, _) => self.violation(format!(
                "node {i}: validate_local of a payment of {amount} with headroom {room}: \
                 {result:?}"
            )),
        }
    }

    /// A malicious client cheats through a random node that is up.
    pub(super) fn cheat(&mut self, cheat: Cheat) {
        let up = self.up_nodes();
        let (Some(&a), Some(m)) = (
            up.choose(&mut self.rng),
            self.cheaters.choose(&mut self.rng),
        ) else {
            return;
        };
        let m = m.clone();
        match cheat {
            Cheat::Overspend => self.overspend(a, &m),
            Cheat::Replay => self.replay(a, &m),
            Cheat::ForgedSignature => self.forge(a, &m),
            Cheat::Equivocation => self.equivocate(a, &m, &up),
            Cheat::FutureTimestamp => self.future(a, &m),
        }
    }

    fn count(&mut self, cheat: Cheat) {
        *self.report.cheats.entry(cheat).or_default() += 1;
    }

    /// Inserts a cheat's op at node `a` without `validate_local`, checks the local outcome
    /// with `expect`, and publishes it.
    fn submit(
        &mut self,
        a: NodeIdx,
        op: SignedOp,
        cheat: Cheat,
        expect: impl FnOnce(&InsertOutcome) -> bool,
    ) {
        match self.insert_local(a, op.clone()) {
            Some(Ok(outcome)) if expect(&outcome) => {}
            other => {
                self.violation(format!(
                    "node {a}: unexpected outcome of a {cheat:?}: {other:?}"
                ));
                return;
            }
        }
        self.publish(a, &op);
    }

    fn overspend(&mut self, a: NodeIdx, m: &Keypair) {
        let me = m.did();
        let (Some(code), Some(to)) = (self.pick_currency(a), self.pick_payee(&me, true)) else {
            return;
        };
        let extra = self.rng.gen_range(1..=30);
        let now = self.cluster.node_now(a);
        let Some(core) = self.core(a) else { return };
        let room = u64::try_from(headroom(core, &code, &me).max(0)).unwrap_or(0);
        let mut t = transfer(core, &code, me, to, room + extra, now);
        t.memo = "overspend".to_owned();
        let op = Op::Transfer(t).sign(m);
        self.count(Cheat::Overspend);
        self.submit(a, op, Cheat::Overspend, |o| {
            matches!(o, InsertOutcome::Inserted { op, .. }
                if op.status.reject_kind() == Some(RejectKind::OverLimit))
        });
    }

    /// Reuses the seq of one of `m`'s applied transfers (as seen by node `a`) for a new
    /// transfer, after it or backdated before it; pays validly if there is none.
    fn replay(&mut self, a: NodeIdx, m: &Keypair) {
        let me = m.did();
        let Some(core) = self.core(a) else { return };
        let applied: Vec<Transfer> = core
            .ops_in_order()
            .filter(|h| h.status.is_applied())
            .filter_map(|h| match &h.op.op {
                Op::Transfer(t) if t.from == me => Some(t.clone()),
                _ => None,
            })
            .collect();
        let Some(original) = applied.choose(&mut self.rng).cloned() else {
            self.malicious_payment(a, m);
            return;
        };
        let Some(to) = self.pick_payee(&me, true) else {
            return;
        };
        let backdate = self.rng.gen_bool(0.5);
        let back = self.rng.gen_range(1..=50);
        let amount = self.rng.gen_range(1..=self.config.max_payment);
        let now = self.cluster.node_now(a);
        let Some(core) = self.core(a) else { return };
        let timestamp_ms = if backdate {
            original.timestamp_ms.saturating_sub(back)
        } else {
            core.next_timestamp(now, original.seq)
        };
        let op = Op::Transfer(Transfer {
            to,
            amount,
            timestamp_ms,
            memo: format!("replay {backdate}"),
            ..original
        })
        .sign(m);
        self.count(Cheat::Replay);
        self.submit(
            a,
            op,
            Cheat::Replay,
            |o| matches!(o, InsertOutcome::Inserted { op, .. } if op.equivocation),
        );
    }

    /// `m` pays an honest account within its headroom, through `validate_local`.
    fn malicious_payment(&mut self, a: NodeIdx, m: &Keypair) {
        let me = m.did();
        let (Some(code), Some(to)) = (self.pick_currency(a), self.pick_payee(&me, true)) else {
            return;
        };
        let pick = self.rng.gen_range(1..=self.config.max_payment);
        let now = self.cluster.node_now(a);
        let Some(core) = self.core(a) else { return };
        let room = headroom(core, &code, &me);
        let Ok(room) = u64::try_from(room) else {
            return;
        };
        if room == 0 {
            return;
        }
        let op = Op::Transfer(transfer(core, &code, me, to, pick.min(room), now));
        if core.validate_local(&op, &me, now).is_ok() {
            let op = op.sign(m);
            self.report.malicious_payments += 1;
            if !matches!(
                self.insert_local(a, op.clone()),
                Some(Ok(InsertOutcome::Inserted { .. }))
            ) {
                self.violation(format!("node {a}: a valid malicious payment was not held"));
            }
            self.publish(a, &op);
        }
    }

    /// A valid transfer by `m` timestamped about the clock-skew bound ahead of node `a`'s
    /// clock; published whether or not `a` refuses it.
    fn future(&mut self, a: NodeIdx, m: &Keypair) {
        let me = m.did();
        let (Some(code), Some(to)) = (self.pick_currency(a), self.pick_payee(&me, true)) else {
            return;
        };
        let skew = self.config.ledger.max_clock_skew_ms;
        let ahead = skew + self.rng.gen_range(0..=4_000) - 2_000;
        let now = self.cluster.node_now(a);
        let Some(core) = self.core(a) else { return };
        let mut t = transfer(core, &code, me, to, 1, now);
        t.timestamp_ms = now + ahead;
        t.memo = "future".to_owned();
        let op = Op::Transfer(t).sign(m);
        self.count(Cheat::FutureTimestamp);
        match self.insert_local(a, op.clone()) {
            Some(Ok(_)) if ahead <= skew => {}
            Some(Err(e)) if ahead > skew && e.kind() == RejectKind::FutureTimestamp => {}
            other => {
                self.violation(format!(
                    "node {a}: unexpected outcome of a future op: {other:?}"
                ));
                return;
            }
        }
        self.publish(a, &op);
    }

    /// A transfer from an honest victim to `m`, signed by `m`: with the victim as author (the
    /// signature does not verify) or with `m` as author (the signer is not the payer). Node
    /// `a` must refuse it; it publishes it anyway, and every other node must refuse it too.
    fn forge(&mut self, a: NodeIdx, m: &Keypair) {
        let me = m.did();
        let Some(victim) = self.pick_payee(&me, true) else {
            return;
        };
        let Some(code) = self.pick_currency(a) else {
            return;
        };
        let amount = self.rng.gen_range(1..=self.config.max_payment);
        let impersonate = self.rng.gen_bool(0.5);
        let now = self.cluster.node_now(a);
        let Some(core) = self.core(a) else { return };
        let mut t = transfer(core, &code, victim, me, amount, now);
        t.memo = "forged".to_owned();
        let mut op = Op::Transfer(t).sign(m);
        if impersonate {
            op.author = victim;
        }
        let kind = if impersonate {
            RejectKind::BadSignature
        } else {
            RejectKind::AuthorMismatch
        };
        self.forged.insert(op.id());
        match self.insert_local(a, op.clone()) {
            Some(Err(e)) if e.kind() == kind => {}
            other => {
                self.violation(format!("node {a}: a forged op was not refused: {other:?}"));
                return;
            }
        }
        self.count(Cheat::ForgedSignature);
        self.publish(a, &op);
    }

    /// Two transfers by `m` with one seq, to different payees, through node `a` and another
    /// up node (one on the other side of the partition, if there is one).
    fn equivocate(&mut self, a: NodeIdx, m: &Keypair, up: &[NodeIdx]) {
        let side = |k: NodeIdx| {
            self.cluster
                .partition
                .as_ref()
                .and_then(|p| p.get(k).copied())
        };
        let across: Vec<NodeIdx> = up
            .iter()
            .copied()
            .filter(|b| *b != a && side(*b) != side(a))
            .collect();
        let others: Vec<NodeIdx> = up.iter().copied().filter(|b| *b != a).collect();
        let pool = if across.is_empty() { others } else { across };
        let Some(&b) = pool.choose(&mut self.rng) else {
            return;
        };
        let me = m.did();
        let Some(code) = self.pick_currency(a) else {
            return;
        };
        let (Some(to_a), Some(to_b)) = (self.pick_payee(&me, true), self.pick_payee(&me, true))
        else {
            return;
        };
        let Some(seq) = self.core(a).map(|c| c.next_seq(&me)) else {
            return;
        };
        let mut ops = Vec::new();
        for (node, to) in [(a, to_a), (b, to_b)] {
            let now = self.cluster.node_now(node);
            let Some(core) = self.core(node) else { return };
            let room = u64::try_from(headroom(core, &code, &me)).unwrap_or(0);
            let mut t = transfer(core, &code, me, to, room.max(1), now);
            t.seq = seq;
            t.memo = format!("equivocation via {node}");
            ops.push((node, Op::Transfer(t).sign(m)));
        }
        self.count(Cheat::Equivocation);
        for (node, op) in ops {
            self.submit(node, op, Cheat::Equivocation, |o| {
                matches!(o, InsertOutcome::Inserted { .. })
            });
        }
    }
}
