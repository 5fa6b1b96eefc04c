//! The properties of a ledger run: what every insert must leave behind, what a node may
//! store, when the nodes have converged, and the final agreement checks.

use std::collections::{BTreeMap, BTreeSet};

use icn_gossip::proto::Source;
use icn_gossip::{Did, Entry, EntryId};
use icn_ledger::{BatchItem, InsertOutcome, LedgerCore, Op, OpError, OpId, RejectKind, SignedOp};
use rand::seq::SliceRandom;

use super::LedgerSim;
use crate::sim::net::NodeIdx;

/// The ledger invariants, through `check_invariants` and again through the public API only
/// (so a bug in the core's own check cannot hide one in its state): Σ balances per currency
/// = 0; no balance below −limit; each payer's applied transfers, in fold order, have seqs
/// 1..n and `last_seq` is n.
///
/// # Errors
/// The first violation found.
pub(crate) fn check_ledger(core: &LedgerCore) -> Result<(), String> {
    core.check_invariants()?;
    for currency in core.currencies() {
        let code = &currency.code;
        let mut sum = 0i128;
        for (did, balance) in core.balances(code) {
            sum += i128::from(balance);
            let limit = core.credit_limit(code, &did).unwrap_or(0);
            if i128::from(balance) < -i128::from(limit) {
                return Err(format!("{code}/{did}: balance {balance} below -{limit}"));
            }
        }
        if sum != 0 {
            return Err(format!("{code}: balances sum to {sum}"));
        }
    }
    let mut last: BTreeMap<Did, u64> = BTreeMap::new();
    for held in core.ops_in_order() {
        let Op::Transfer(t) = &held.op.op else {
            continue;
        };
        if !held.status.is_applied() {
            continue;
        }
        let seq = last.entry(t.from).or_default();
        if t.seq != *seq + 1 {
            return Err(format!("{}: applied seq {} after {}", t.from, t.seq, seq));
        }
        *seq = t.seq;
    }
    for (did, seq) in &last {
        if core.last_seq(did) != *seq {
            return Err(format!("{did}: last_seq {} != {seq}", core.last_seq(did)));
        }
    }
    Ok(())
}

/// One line about an op, for failure messages.
fn describe(op: &SignedOp) -> String {
    match &op.op {
        Op::CreateCurrency(c) => format!("create {} at {}", c.code, c.timestamp_ms),
        Op::SetCreditLimit(l) => format!("limit {} {} at {}", l.currency, l.limit, l.timestamp_ms),
        Op::Transfer(t) => format!(
            "transfer {} {} seq {} from {} at {} ({:?})",
            t.amount,
            t.currency,
            t.seq,
            t.from.short(),
            t.timestamp_ms,
            t.memo
        ),
    }
}

impl LedgerSim {
    /// Inserts `op` directly at node `i` (its own client's, or a cheat's); `None` if the node
    /// is down. Checks the ledger afterwards.
    pub(super) fn insert_local(
        &mut self,
        i: NodeIdx,
        op: SignedOp,
    ) -> Option<Result<InsertOutcome, OpError>> {
        let now = self.cluster.node_now(i);
        let core = self.nodes[i].core.as_mut()?;
        let result = core.insert(op.clone(), now);
        match &result {
            Ok(InsertOutcome::Inserted { .. }) => self.held(i, op, false),
            Ok(InsertOutcome::Duplicate(_)) => {}
            Err(e) => self.refused(i, &op, e),
        }
        self.check_node(i);
        Some(result)
    }

    /// Inserts ops that came through gossip at node `i` as one batch; returns how many are
    /// newly held. Checks the ledger afterwards.
    pub(super) fn insert_remote(&mut self, i: NodeIdx, ops: Vec<SignedOp>) -> u64 {
        let now = self.cluster.node_now(i);
        let Some(core) = self.nodes[i].core.as_mut() else {
            return 0;
        };
        let outcome = core.insert_batch(ops.clone(), now);
        let mut inserted = 0;
        for (op, item) in ops.into_iter().zip(outcome.items) {
            match item {
                Ok(BatchItem::Inserted(_)) => {
                    inserted += 1;
                    self.held(i, op, true);
                }
                Ok(BatchItem::Duplicate(_)) => {}
                Err(e) => self.refused(i, &op, &e),
            }
        }
        self.check_node(i);
        inserted
    }

    /// Node `i` newly holds `op`: store it (a forged op must never get here).
    fn held(&mut self, i: NodeIdx, op: SignedOp, remote: bool) {
        let id = op.id();
        if self.forged.contains(&id) {
            self.violation(format!("node {i} holds the forged op {id}"));
        }
        self.nodes[i].store.push((op.clone(), remote));
        self.held_anywhere.entry(id).or_insert(op);
    }

    /// Node `i` refused `op`: only forged ops may be refused, and ops too far in the future
    /// (deferred, as the actor does; convergence shows whether they are held in the end).
    fn refused(&mut self, i: NodeIdx, op: &SignedOp, e: &OpError) {
        let id = op.id();
        if self.forged.contains(&id) {
            *self.report.refused.entry(e.kind()).or_default() += 1;
            self.refused_by.insert((i, id));
        } else if e.kind() == RejectKind::FutureTimestamp {
            *self.report.refused.entry(e.kind()).or_default() += 1;
            self.refused_future.insert((i, id));
            let key = (op.op.timestamp_ms(), id);
            self.nodes[i].deferred.insert(key, op.clone());
        } else {
            self.violation(format!("node {i} refused the valid op {id}: {e}"));
        }
    }

    /// Checks node `i`'s ledger (if up): [`check_ledger`].
    pub(super) fn check_node(&mut self, i: NodeIdx) {
        let Some(core) = self.nodes[i].core.as_ref() else {
            return;
        };
        if let Err(e) = check_ledger(core) {
            let ops = core.op_count();
            self.violation(format!("node {i} holding {ops} ops, after an insert: {e}"));
        }
    }

    /// Records a gossip store write after checking that the entry deserves it (a ledger
    /// entry some node published, byte for byte, stored once); returns its op (the payload
    /// decoded when published).
    pub(super) fn store_entry(
        &mut self,
        i: NodeIdx,
        id: EntryId,
        entry: Entry,
        source: Source,
    ) -> Option<SignedOp> {
        let node = &self.cluster.nodes[i];
        let published = self.published.get(&id);
        let problem = if entry.topic != self.topic {
            Some("is not on the ledger topic")
        } else if node.store.contains_key(&id) {
            Some("was stored twice")
        } else if published.map(|(e, _)| e) != Some(&entry) {
            Some("is not an entry a node published")
        } else {
            None
        };
        if let Some(problem) = problem {
            self.violation(format!(
                "node {i} stored {id:?} from {source:?}, which {problem}"
            ));
            return None;
        }
        let op = published.map(|(_, op)| op.clone());
        self.cluster.nodes[i].store.insert(id, entry);
        op
    }

    /// Why the nodes have not converged yet (empty once they have): each must be up, hold
    /// every published entry and every op any node held, and all digests must agree.
    fn differences(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut digests = BTreeSet::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let Some(core) = node.core.as_ref() else {
                out.push(format!("node {i} is down"));
                continue;
            };
            let entries = self.cluster.nodes[i].store.len();
            if entries != self.published.len() {
                out.push(format!(
                    "node {i} stores {entries} of {} entries",
                    self.published.len()
                ));
            }
            if core.op_count() != self.held_anywhere.len() {
                let missing: Vec<String> = self
                    .held_anywhere
                    .iter()
                    .filter(|(id, _)| !core.contains(id))
                    .take(3)
                    .map(|(id, op)| {
                        let refused = if self.refused_future.contains(&(i, *id)) {
                            ", refused here as future_timestamp"
                        } else {
                            ""
                        };
                        format!("{} {}{refused}", id.short(), describe(op))
                    })
                    .collect();
                out.push(format!(
                    "node {i} holds {} of {} ops (missing {})",
                    core.op_count(),
                    self.held_anywhere.len(),
                    missing.join(", ")
                ));
            }
            digests.insert(core.state_digest());
        }
        if digests.len() > 1 {
            out.push(format!("{} different state digests", digests.len()));
        }
        out
    }

    pub(super) fn converged(&self) -> bool {
        self.differences().is_empty()
    }

    pub(super) fn divergence(&self) -> String {
        self.differences().join("; ")
    }

    /// The final checks, once converged; fills in the report.
    pub(super) fn finish(mut self) -> Result<super::LedgerSimReport, String> {
        let cores: Vec<LedgerCore> = self
            .nodes
            .iter_mut()
            .filter_map(|n| n.core.take())
            .collect();
        for core in &cores {
            self.retire_ledger(core);
        }
        let Some(reference) = cores.first() else {
            return Err("no node is up at the end".to_owned());
        };
        let digest = reference.state_digest();
        let union: BTreeSet<OpId> = self.held_anywhere.keys().copied().collect();

        // Every node: the same set, the same digest, the same equivocations.
        let mut slots: BTreeMap<(Did, u64), u64> = BTreeMap::new();
        for op in self.held_anywhere.values() {
            if let Op::Transfer(t) = &op.op {
                *slots.entry((t.from, t.seq)).or_default() += 1;
            }
        }
        let equivocations: u64 = slots.values().map(|k| k - 1).sum();
        for (i, core) in cores.iter().enumerate() {
            let ids: BTreeSet<OpId> = core.ops_in_order().map(|h| h.key.id).collect();
            if ids != union {
                return Err(format!("node {i} holds another set of ops than the union"));
            }
            if core.state_digest() != digest {
                return Err(format!("node {i} has another state digest than node 0"));
            }
            if core.stats().equivocations != equivocations {
                return Err(format!(
                    "node {i} counts {} equivocations, the held set has {equivocations}",
                    core.stats().equivocations
                ));
            }
        }
        for id in &self.forged {
            if union.contains(id) {
                return Err(format!("the forged op {id} is held"));
            }
            for i in 0..self.nodes.len() {
                if !self.refused_by.contains(&(i, *id)) {
                    return Err(format!("node {i} never refused the forged op {id}"));
                }
            }
        }

        // Independent recomputation: the union, shuffled, into a fresh core; and restored.
        let now = (0..self.nodes.len())
            .map(|i| self.cluster.node_now(i))
            .max()
            .unwrap_or(0);
        let mut ops: Vec<SignedOp> = self.held_anywhere.values().cloned().collect();
        ops.shuffle(&mut self.rng);
        let mut fresh = LedgerCore::new(self.config.ledger.clone());
        for op in &ops {
            if !matches!(
                fresh.insert(op.clone(), now),
                Ok(InsertOutcome::Inserted { .. })
            ) {
                return Err(format!("a fresh core did not take op {}", op.id()));
            }
        }
        check_ledger(&fresh).map_err(|e| format!("fresh core: {e}"))?;
        if fresh.state_digest() != digest {
            return Err("a fresh core fed the union has another digest".to_owned());
        }
        ops.shuffle(&mut self.rng);
        let (restored, skipped) = LedgerCore::restore(self.config.ledger.clone(), ops);
        if !skipped.is_empty() || restored.state_digest() != digest {
            return Err("a core restored from the union has another digest".to_owned());
        }

        // Honest ops: applied, or displaced by a change to something they relied on.
        let honest = &mut self.report.honest;
        for (id, op) in &self.honest {
            let Some(held) = reference.get(id) else {
                return Err(format!("the honest op {id} is not held"));
            };
            if held.status.is_applied() {
                honest.applied += 1;
                continue;
            }
            let displaced = op.relied_on.iter().any(|(dep, was_applied)| {
                reference.get(dep).map(|d| d.status.is_applied()) != Some(*was_applied)
            });
            if !displaced {
                return Err(format!(
                    "the honest op {id} is rejected ({:?}) though nothing it relied on \
                     changed: {:?}",
                    held.status, held.op
                ));
            }
            honest.displaced += 1;
        }

        let stats = reference.stats();
        let mut report = self.report;
        report.ops = reference.op_count();
        report.currencies = reference.currencies_count();
        report.applied_transfers = stats.applied_transfers;
        for held in reference.ops_in_order() {
            if let Some(kind) = held.status.reject_kind() {
                *report.rejected.entry(kind).or_default() += 1;
            }
        }
        report.equivocations = stats.equivocations;
        report.net = self.cluster.net.stats();
        report.digest = digest;
        Ok(report)
    }
}
