//! Signing a batch of local ops on every core.
//!
//! A signature costs about as much as everything else a local payment does. So the ops of a
//! batch are first *placed* (seq and timestamp) as if every one before them applies, signed
//! in parallel (`spawn_blocking` chunks beside the actor's own), then checked against the
//! state and applied in order. Each op is checked as placed, so a wrong guess is never
//! applied: from the first op that does not apply as placed (an overspend, say), the rest of
//! the batch is placed, checked and signed one by one, which is the answer the caller would
//! have got without the guess.

use std::num::NonZero;
use std::sync::Arc;

use icn_identity::{Did, Keypair};

use super::publish::Waiter;
use super::{LedgerActor, LedgerError, LocalReply};
use crate::{LedgerCore, Op, SignedOp};

/// Fewest ops worth a signing thread of their own.
const MIN_CHUNK: usize = 16;

impl LedgerActor {
    /// Places, signs and applies a batch of local ops in order. Returns the applied ops with
    /// their callers; refused callers are answered here.
    pub(super) async fn apply_batch(
        &mut self,
        batch: Vec<(Op, LocalReply)>,
        me: &Did,
        now: u64,
    ) -> (Vec<SignedOp>, Vec<Waiter>) {
        let placed = self.place(batch.iter().map(|(op, _)| op.clone()), me, now);
        let signed = sign_all(&self.keypair, placed).await;
        let mut ops = Vec::with_capacity(batch.len());
        let mut waiters = Vec::with_capacity(batch.len());
        let mut as_placed = true;
        for ((op, reply), guess) in batch.into_iter().zip(signed) {
            let applied = match as_placed.then(|| self.insert_placed(guess, me, now)) {
                Some(Some(applied)) => Ok(applied),
                _ => {
                    as_placed = false;
                    self.apply_local(op, me, now)
                }
            };
            match applied {
                Ok((signed, seq)) => {
                    ops.push(signed);
                    waiters.push(Some((reply, seq)));
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            }
        }
        (ops, waiters)
    }

    /// Gives `op` its seq (a transfer) and timestamp, checks it against the current state,
    /// signs it and inserts it into the core. Returns the signed op and its seq (0 for
    /// non-transfers).
    fn apply_local(&mut self, op: Op, me: &Did, now: u64) -> Result<(SignedOp, u64), LedgerError> {
        let (mut next_seq, mut head) = self.placing_from(me);
        let (op, seq) = place_op(op, &mut next_seq, &mut head, now);
        self.core.validate_local(&op, me, now)?;
        let signed = op.sign(&self.keypair);
        if let Err(e) = self.core.insert_own(signed.clone(), now) {
            // `validate_local` accepted it: a bug, reported to the caller rather than hidden.
            tracing::error!(op = %signed.id().short(), error = %e, "a validated local op did not insert");
            return Err(LedgerError::BadInput(e.to_string()));
        }
        Ok((signed, seq))
    }

    /// Gives each op the seq and timestamp it gets if every op before it applies.
    fn place(&self, ops: impl Iterator<Item = Op>, me: &Did, now: u64) -> Vec<Op> {
        let (mut next_seq, mut head) = self.placing_from(me);
        ops.map(|op| place_op(op, &mut next_seq, &mut head, now).0)
            .collect()
    }

    /// Where placing starts: this node's next seq, and the newest held op's timestamp and seq.
    fn placing_from(&self, me: &Did) -> (u64, Option<(u64, u64)>) {
        let head = self.core.head().map(|k| (k.timestamp_ms, k.seq));
        (self.core.next_seq(me), head)
    }

    /// Applies an op signed as placed if it checks against the current state; `None` if it
    /// does not (the caller then gets the answer of [`Self::apply_local`]).
    fn insert_placed(&mut self, signed: SignedOp, me: &Did, now: u64) -> Option<(SignedOp, u64)> {
        self.core.validate_local(&signed.op, me, now).ok()?;
        let seq = signed.op.seq();
        match self.core.insert_own(signed.clone(), now) {
            Ok(_) => Some((signed, seq)),
            Err(e) => {
                // `validate_local` accepted it: a bug, logged; the op is placed again.
                tracing::error!(op = %signed.id().short(), error = %e, "a validated local op did not insert");
                None
            }
        }
    }
}

/// Signs `ops` in order, in chunks of at least [`MIN_CHUNK`], one per core: the first on
/// this thread, the others on blocking threads.
async fn sign_all(keypair: &Arc<Keypair>, mut ops: Vec<Op>) -> Vec<SignedOp> {
    let cores = std::thread::available_parallelism().map_or(1, NonZero::get);
    let chunk = ops.len().div_ceil(cores).max(MIN_CHUNK);
    let rest = ops.split_off(chunk.min(ops.len()));
    let others: Vec<_> = rest
        .chunks(chunk)
        .map(|part| {
            let (part, keypair) = (part.to_vec(), keypair.clone());
            tokio::task::spawn_blocking(move || sign_each(&keypair, part))
        })
        .collect();
    let mut signed = sign_each(keypair, ops);
    for (task, part) in others.into_iter().zip(rest.chunks(chunk)) {
        match task.await {
            Ok(done) => signed.extend(done),
            // The blocking pool is shutting down: sign here.
            Err(_) => signed.extend(sign_each(keypair, part.to_vec())),
        }
    }
    signed
}

fn sign_each(keypair: &Keypair, ops: Vec<Op>) -> Vec<SignedOp> {
    ops.into_iter().map(|op| op.sign(keypair)).collect()
}

/// Places `op` after `head` ([`LedgerCore::timestamp_after`]); a transfer takes `next_seq`.
/// Advances both; returns the op and its seq (0 for non-transfers).
fn place_op(mut op: Op, next_seq: &mut u64, head: &mut Option<(u64, u64)>, now: u64) -> (Op, u64) {
    let seq = match &mut op {
        Op::Transfer(t) => {
            t.seq = *next_seq;
            *next_seq = next_seq.saturating_add(1);
            t.seq
        }
        Op::CreateCurrency(_) | Op::SetCreditLimit(_) => 0,
    };
    let timestamp = LedgerCore::timestamp_after(*head, now, seq);
    match &mut op {
        Op::CreateCurrency(c) => c.timestamp_ms = timestamp,
        Op::SetCreditLimit(s) => s.timestamp_ms = timestamp,
        Op::Transfer(t) => t.timestamp_ms = timestamp,
    }
    *head = Some((timestamp, seq));
    (op, seq)
}
