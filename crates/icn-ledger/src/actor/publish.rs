//! Publishing own ops through gossip, and publishing again those whose publish failed.

use std::sync::Mutex;

use icn_gossip::GossipError;

use super::{LedgerActor, LedgerError, LocalReply};
use crate::SignedOp;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LedgerActor {
    /// Publishes an own op through gossip in a task; `reply` gets `(id, seq)` once the gossip
    /// store holds it synced (peers hear of it only then). When publishing fails the op is
    /// kept and published again at the next tick, so peers never miss an op this node
    /// applied; the ledger store is synced before the caller hears of the failure, so the op
    /// it was told is recorded survives a crash.
    pub(super) fn publish(&self, op: SignedOp, reply: Option<(LocalReply, u64)>) {
        let gossip = self.gossip.clone();
        let topic = self.topic.clone();
        let unpublished = self.unpublished.clone();
        let store = self.store.clone();
        tokio::spawn(async move {
            let id = op.id();
            let result = match gossip.publish_synced(topic, op.encode()).await {
                Ok(_) => Ok((id, 0)),
                // Shutting down: the next start republishes own ops gossip lacks.
                Err(GossipError::Stopped) => Err(LedgerError::Stopped),
                Err(e) => {
                    tracing::warn!(op = %id.short(), error = %e, "cannot publish a ledger op; retrying");
                    lock(&unpublished).push(op);
                    match tokio::task::spawn_blocking(move || store.sync()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::error!(error = %e, "ledger store sync failed"),
                        Err(e) => tracing::error!(error = %e, "ledger store task failed"),
                    }
                    Err(LedgerError::Unpublished {
                        id,
                        message: e.to_string(),
                    })
                }
            };
            if let Some((reply, seq)) = reply {
                let _ = reply.send(result.map(|(id, _)| (id, seq)));
            }
        });
    }

    /// Publishes again the own ops whose publishing failed.
    pub(super) fn retry_unpublished(&self) {
        let ops = std::mem::take(&mut *lock(&self.unpublished));
        for op in ops {
            self.publish(op, None);
        }
    }
}
