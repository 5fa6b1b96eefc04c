//! Local ops (currency, credit limit, payment) in batches: each op is checked against the state
//! the ops before it in the batch left (seq, timestamp, balance), signed (on every core, see
//! `sign.rs`) and applied, and the whole batch is stored in one commit before it is
//! published. One commit per batch instead of one per op is what lets many concurrent callers
//! through.
//!
//! The ledger store's commit is not synced: the op is published with
//! `GossipHandle::publish_synced`, which syncs it to the gossip store before any peer hears of
//! it, and its caller is answered after that sync. So an op a peer may hold is always on this
//! node's disk (at start the ledger catches up from the gossip store), and a restarted node
//! never reuses a seq peers have seen. The ledger store is synced at the next tick.
//!
//! Durable before it counts: when the store refuses the batch (a full disk), the core, which
//! already holds the batch, is rebuilt from what is durable, so no refused op leaves a trace (a
//! refused transfer that kept its seq would make every later one wait forever at every peer).

use super::publish::Waiter;
use super::{LedgerActor, LedgerError, LocalReply, now_ms};
use crate::payload::decode_payload;
use crate::{LedgerCore, Op, SignedOp};

impl LedgerActor {
    /// Validates, applies, stores (one commit) and publishes a batch of local ops; every caller
    /// gets its own answer.
    pub(super) async fn local_batch(&mut self, batch: Vec<(Op, LocalReply)>) {
        self.retry_reload().await;
        if self.reload_pending {
            for (_, reply) in batch {
                let _ = reply.send(Err(LedgerError::StoreUnavailable));
            }
            return;
        }
        let me = self.keypair.did();
        let (ops, waiters) = self.apply_batch(batch, &me, now_ms()).await;
        if ops.is_empty() {
            return;
        }
        let store = self.store.clone();
        // Encoded once, off the actor: the same bytes are stored and published.
        let write = move || {
            let encoded: Vec<Vec<u8>> = ops.iter().map(SignedOp::encode).collect();
            store
                .put_encoded_with(&ops, &encoded, icn_gossip::WriteMode::Deferred)
                .map(|()| (ops, encoded))
        };
        let stored = match tokio::task::spawn_blocking(write).await {
            Ok(result) => result.map_err(LedgerError::Store),
            Err(e) => Err(LedgerError::Gossip(e.to_string())),
        };
        let (ops, encoded) = match stored {
            Ok(stored) => stored,
            Err(error) => return self.refused(waiters, error).await,
        };
        // Synced at the next tick; what peers may hold is synced by gossip before they hear.
        self.unsynced = true;
        for op in &ops {
            self.record_amount(op);
        }
        self.update_metrics();
        // Published (one entry for the batch, unless it is large) without holding up the actor.
        self.publish_encoded(ops, &encoded, waiters);
    }

    /// The store refused a batch the core already held: rebuild the core from what is
    /// durable and tell every caller.
    async fn refused(&mut self, waiters: Vec<Waiter>, error: LedgerError) {
        self.forget_undurable().await;
        for (reply, _) in waiters.into_iter().flatten() {
            let answer = match &error {
                LedgerError::Store(e) => LedgerError::Store(e.clone()),
                other => LedgerError::Gossip(other.to_string()),
            };
            let _ = reply.send(Err(answer));
        }
    }

    /// Rebuilds the core from the ledger store and the ledger ops the gossip store holds: what
    /// is durable. Used after the store refused a batch the core already held.
    async fn forget_undurable(&mut self) {
        let store = self.store.clone();
        let loaded = tokio::task::spawn_blocking(move || store.load_all()).await;
        let stored = match loaded {
            Ok(Ok(stored)) => stored,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot reload the ledger store after a failed write");
                return self.forget_undurable_later();
            }
            Err(e) => {
                tracing::error!(error = %e, "ledger store task failed");
                return self.forget_undurable_later();
            }
        };
        let (mut core, _) = LedgerCore::restore(self.core.config().clone(), stored);
        let max = core.config().max_op_bytes;
        if let Ok(entries) = self.gossip.entries(&self.topic, usize::MAX) {
            let now = now_ms();
            for entry in entries {
                for op in decode_payload(&entry.payload, max).unwrap_or_default() {
                    if !core.contains(&op.id()) {
                        let _ = core.insert(op, now);
                    }
                }
            }
        }
        self.core = core;
        self.reload_pending = false;
        // The rebuilt state is the one to count from; nothing refused is counted.
        self.last = self.core.stats();
        self.digest_dirty = true;
        self.update_gauges();
    }

    /// The store could not even be read: refuse local ops until a later reload succeeds.
    fn forget_undurable_later(&mut self) {
        self.reload_pending = true;
    }

    /// Retries a reload the store refused (at every tick).
    pub(super) async fn retry_reload(&mut self) {
        if self.reload_pending {
            self.forget_undurable().await;
        }
    }
}
