//! Publishing own ops through gossip, several per entry ([`crate::payload`]), and publishing
//! again those whose publish failed.

use std::sync::Mutex;

use icn_gossip::GossipError;

use super::{LedgerActor, LedgerError, LocalReply};
use crate::SignedOp;
use crate::payload::pack_encoded;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The caller waiting for an own op (with its seq), or nobody (a retry).
pub(super) type Waiter = Option<(LocalReply, u64)>;

impl LedgerActor {
    /// Publishes own ops, packed into as few entries as `max_entry_bytes` allows, each in a
    /// task; `waiters[i]` (if any) waits for `ops[i]` and gets `(id, seq)` once the gossip
    /// store holds its entry synced (peers hear of it only then). When publishing fails the
    /// ops are kept and published again at the next tick, so peers never miss an op this node
    /// applied; the ledger store is synced before the callers hear of the failure, so an op a
    /// caller was told is recorded survives a crash.
    pub(super) fn publish(&self, ops: Vec<SignedOp>, waiters: Vec<Waiter>) {
        let encoded: Vec<Vec<u8>> = ops.iter().map(SignedOp::encode).collect();
        self.publish_encoded(ops, &encoded, waiters);
    }

    /// [`Self::publish`] for ops already in their wire form (`encoded[i]` is `ops[i]`'s).
    pub(super) fn publish_encoded(
        &self,
        ops: Vec<SignedOp>,
        encoded: &[Vec<u8>],
        mut waiters: Vec<Waiter>,
    ) {
        waiters.resize_with(ops.len(), || None);
        let mut ops = ops.into_iter();
        let mut waiters = waiters.into_iter();
        let max = self.core.config().max_entry_bytes;
        for (range, payload) in pack_encoded(encoded, max) {
            let entry_ops: Vec<SignedOp> = ops.by_ref().take(range.len()).collect();
            let entry_waiters: Vec<Waiter> = waiters.by_ref().take(range.len()).collect();
            self.publish_entry(payload, entry_ops, entry_waiters);
        }
    }

    /// Publishes one packed entry of `ops` in a task and answers their waiters.
    fn publish_entry(&self, payload: Vec<u8>, ops: Vec<SignedOp>, waiters: Vec<Waiter>) {
        let gossip = self.gossip.clone();
        let topic = self.topic.clone();
        let unpublished = self.unpublished.clone();
        let store = self.store.clone();
        tokio::spawn(async move {
            let failure = match gossip.publish_synced(topic, payload).await {
                Ok(_) => None,
                // Shutting down: the next start republishes own ops gossip lacks.
                Err(GossipError::Stopped) => Some(None),
                Err(e) => {
                    tracing::warn!(ops = ops.len(), error = %e, "cannot publish ledger ops; retrying");
                    lock(&unpublished).extend(ops.iter().cloned());
                    match tokio::task::spawn_blocking(move || store.sync()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::error!(error = %e, "ledger store sync failed"),
                        Err(e) => tracing::error!(error = %e, "ledger store task failed"),
                    }
                    Some(Some(e.to_string()))
                }
            };
            for (op, waiter) in ops.iter().zip(waiters) {
                let Some((reply, seq)) = waiter else {
                    continue;
                };
                let id = op.id();
                let answer = match &failure {
                    None => Ok((id, seq)),
                    Some(None) => Err(LedgerError::Stopped),
                    Some(Some(message)) => Err(LedgerError::Unpublished {
                        id,
                        message: message.clone(),
                    }),
                };
                let _ = reply.send(answer);
            }
        });
    }

    /// Publishes again the own ops whose publishing failed.
    pub(super) fn retry_unpublished(&self) {
        let ops = std::mem::take(&mut *lock(&self.unpublished));
        if !ops.is_empty() {
            self.publish(ops, Vec::new());
        }
    }
}
