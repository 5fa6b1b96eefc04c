//! Local ops (currency, credit limit, payment) in batches: each op is checked against the state
//! the ops before it in the batch left (seq, timestamp, balance), signed and applied; the whole
//! batch is stored in one commit, then published. One commit per batch instead of one per op
//! is what lets many concurrent callers through, and the actor signs the next batch while the
//! previous one is being stored (one write under way at most, so batches stay in order).
//!
//! The ledger store's commit is not synced: the ops are published with
//! `GossipHandle::publish_synced`, which syncs them to the gossip store before any peer hears
//! of them, and their callers are answered after that sync. So an op a peer may hold is
//! always on this node's disk (at start the ledger catches up from the gossip store), and a
//! restarted node never reuses a seq peers have seen. The ledger store is synced at the next
//! tick.
//!
//! Durable before it counts: when the store refuses a batch (a full disk), the core, which
//! already holds it and maybe the next one, is rebuilt from what is durable, so no refused op
//! leaves a trace (a refused transfer that kept its seq would make every later one wait
//! forever at every peer), and the next batch, checked against the refused one, is refused
//! with it.

use tokio::task::JoinHandle;

use super::publish::Waiter;
use super::{LedgerActor, LedgerError, LocalReply, now_ms};
use crate::payload::decode_payload;
use crate::{LedgerCore, Op, SignedOp};

/// A batch of own ops being written to the ledger store while the actor signs the next one.
pub(super) struct LocalWrite {
    task: JoinHandle<Result<Vec<SignedOp>, LedgerError>>,
    waiters: Vec<Waiter>,
}

/// What a [`LocalWrite`] ends with: the stored ops, or why they are not stored.
pub(super) type Stored = Result<Vec<SignedOp>, LedgerError>;

impl LocalWrite {
    /// Waits for the write under way (cancel-safe: it stays in place until it finishes, and
    /// then the caller must hand its result to [`LedgerActor::written`]).
    pub(super) async fn done(write: &mut Option<LocalWrite>) -> Stored {
        let Some(w) = write else {
            return Err(LedgerError::Gossip("no write under way".to_owned()));
        };
        match (&mut w.task).await {
            Ok(result) => result,
            Err(e) => Err(LedgerError::Gossip(e.to_string())),
        }
    }
}

impl LedgerActor {
    /// Validates, applies and signs a batch of local ops, then stores it (one commit) while
    /// the actor goes on; it is published once stored ([`Self::finish_write`]). Batches are
    /// stored and published in order, and one is stored only after the one before it was:
    /// every caller gets its own answer.
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
        // This batch was checked against the state the previous one left: it is stored only
        // if that one was (a refused batch takes every later one with it, so no seq is left
        // out before an op that is stored or published).
        if let Err(error) = self.finish_write().await {
            return refuse(waiters, &error);
        }
        let store = self.store.clone();
        let write = move || {
            store
                .put_batch_with(&ops, icn_gossip::WriteMode::Deferred)
                .map(|()| ops)
                .map_err(LedgerError::Store)
        };
        self.writing = Some(LocalWrite {
            task: tokio::task::spawn_blocking(write),
            waiters,
        });
    }

    /// Waits for the batch being stored, if any, and hands it to [`Self::written`].
    pub(super) async fn finish_write(&mut self) -> Result<(), LedgerError> {
        if self.writing.is_none() {
            return Ok(());
        }
        let stored = LocalWrite::done(&mut self.writing).await;
        self.written(stored).await
    }

    /// A batch is stored: it is published (one entry for the batch, unless it is large)
    /// without holding up the actor. When the store refused it, the core is rebuilt from what
    /// is durable and its callers are told; the error is returned.
    pub(super) async fn written(&mut self, stored: Stored) -> Result<(), LedgerError> {
        let waiters = self.writing.take().map(|w| w.waiters).unwrap_or_default();
        match stored {
            Ok(ops) => {
                // Synced at the next tick; what peers may hold is synced by gossip before
                // they hear of it.
                self.unsynced = true;
                for op in &ops {
                    self.record_amount(op);
                }
                self.update_metrics();
                self.publish(ops, waiters);
                Ok(())
            }
            Err(error) => {
                self.forget_undurable().await;
                refuse(waiters, &error);
                Err(error)
            }
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

/// Tells every caller of a batch the store refused why.
fn refuse(waiters: Vec<Waiter>, error: &LedgerError) {
    for (reply, _) in waiters.into_iter().flatten() {
        let answer = match error {
            LedgerError::Store(e) => LedgerError::Store(e.clone()),
            other => LedgerError::Gossip(other.to_string()),
        };
        let _ = reply.send(Err(answer));
    }
}
