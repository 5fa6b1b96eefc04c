//! The actor's write pipeline: inputs accumulate in an open [`Batch`] while the previous batch is
//! being written (one transaction for all its entries), so a slow disk makes batches larger
//! instead of stalling the actor. At most one batch is written at a time, and a batch's effects
//! are performed only after every earlier write, in order.
//!
//! A batch's pushes (its own new entries, and small ones relayed) carry their entries and need
//! nothing from the store: they go out as its write starts, which takes the commit off the
//! path of every hop. The rest waits for the write, which has two steps. First the entries are
//! committed without a sync: from then on readers see them, so the batch's announces,
//! responses and local deliveries go out at once. Then, for a batch that acknowledges local
//! publishes, a sync makes them durable, and only then do the publishers hear back: an
//! acknowledged publish is always on the disk, while peers may already hold an entry whose
//! publisher has not been answered yet, or was told that its write failed (as with any call
//! that has not returned, the outcome is unknown until it does).
//!
//! A publish can ask for more (`GossipHandle::publish_synced`): its batch's effects, pushes
//! included, wait for the sync, so no peer hears of the entry before it is on this node's
//! disk. The ledger uses it for its own ops, whose loss after peers saw them would make the
//! node reuse a seq.
//!
//! A batch that needs no sync and carries at most [`INLINE_WRITE_BYTES`] of payload is
//! committed in the actor itself, once the actor has yielded its thread so that the writers
//! of the batch's pushes, if it has any, send them first. Such a commit touches no disk (redb
//! keeps the pages in its write buffer; at most it writes out a few evicted pages), and it
//! costs less than the two thread hand-offs of a blocking task. Larger batches, and every batch that syncs, are
//! written on a blocking thread.
//!
//! A batch of entries relayed from peers only is not synced (no fsync on the relay path): the
//! author holds its own entries durably, so a crash loses only what this node fetches again by
//! anti-entropy. Deferred writes are made durable by the next sync, at most
//! [`RELAYED_SYNC_INTERVAL`] later.
//!
//! A batch's messages go out merged: one `Push` set per set of recipients (encoded once for
//! all of them), one `Announce` per peer and topic, and one store read and `Response` set per
//! requesting peer, whatever the number of publishes and requests the batch took in. Requests
//! for entries we lack wait for no write: they go out once the actor has taken in what was
//! waiting, one `Request` per peer.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use icn_identity::Did;

use icn_obs::labels::StorageErrorReason;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{GossipActor, GossipError, now_ms};
use crate::db_file::DbFailure;
use crate::entry::{Entry, EntryId};
use crate::message::{self, GossipMessage};
use crate::proto::{Input, Output};
use crate::store::{GossipStore, StoreError, WriteMode};
use crate::topic::Topic;

/// Longest time a relayed entry stays written but not synced to the disk.
pub const RELAYED_SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// Largest payload total of a batch written in the actor itself when it needs no sync (a
/// commit of a few small entries costs less than handing it to a blocking thread and back).
pub const INLINE_WRITE_BYTES: usize = 16 * 1024;

/// Entries the open batch may hold before the actor stops taking inputs until the write under
/// way finishes (backpressure through the bounded channels).
pub const MAX_OPEN_ENTRIES: usize = 4096;
/// Payload bytes the open batch may hold before the actor stops taking inputs.
pub const MAX_OPEN_BYTES: usize = 16 * 1024 * 1024;

/// Where a publisher hears back.
pub(super) type PublishReply = oneshot::Sender<Result<EntryId, GossipError>>;

/// Work collected while processing inputs, performed after its entries are written.
#[derive(Default)]
pub(super) struct Batch {
    /// Newly accepted entries, written in one transaction.
    pub to_store: Vec<Entry>,
    /// Their ids (as the core computed them), in the same order.
    pub ids: Vec<EntryId>,
    /// Payload bytes of `to_store`.
    pub bytes: usize,
    /// The core's outputs, performed in order once written.
    pub after_commit: Vec<Output>,
    /// Publishers acknowledged once written.
    pub publish_replies: Vec<(EntryId, PublishReply)>,
    /// A publish asked for its entry to be synced before anyone hears of it: the batch's
    /// effects wait for the sync.
    pub effects_after_sync: bool,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.to_store.is_empty() && self.after_commit.is_empty() && self.publish_replies.is_empty()
    }

    /// Whether the batch is full enough that the actor should wait for the write under way.
    pub(super) fn is_full(&self) -> bool {
        self.to_store.len() >= MAX_OPEN_ENTRIES || self.bytes >= MAX_OPEN_BYTES
    }

    /// Adds an entry to write.
    pub(super) fn store(&mut self, id: EntryId, entry: Entry) {
        self.bytes += entry.payload.len();
        self.ids.push(id);
        self.to_store.push(entry);
    }
}

/// Deferred writes not yet synced: what a failed write may have taken with it.
#[derive(Default)]
pub(super) struct Unsynced {
    /// Ids written deferred since the last durable write.
    ids: Vec<EntryId>,
    /// When the oldest of them was written.
    since: Option<Instant>,
}

impl Unsynced {
    fn sync_due(&self) -> bool {
        self.since
            .is_some_and(|since| since.elapsed() >= RELAYED_SYNC_INTERVAL)
    }
}

/// A batch whose entries are being written (on a blocking thread, or already in the actor).
pub(super) struct InFlight {
    ids: Vec<EntryId>,
    mode: WriteMode,
    /// The batch's effects, until they are performed (when the entries are visible).
    after_commit: Option<Vec<Output>>,
    publish_replies: Vec<(EntryId, PublishReply)>,
    /// The effects wait for the sync (see [`Batch::effects_after_sync`]).
    effects_after_sync: bool,
    /// Resolves once the entries are committed (visible to readers), before the sync.
    visible: Option<oneshot::Receiver<Result<(), StoreError>>>,
    /// The whole write, sync included.
    write: Write,
}

/// Where the write of a batch runs.
pub(super) enum Write {
    /// On a blocking thread.
    Spawned(JoinHandle<Result<(), StoreError>>),
    /// In the actor (a small batch without a sync), once the tasks the batch's pushes woke
    /// had a turn: the entries until written.
    Inline {
        /// The entries, taken when written.
        entries: Vec<Entry>,
        /// Whether the actor yielded its thread once already (or need not: no push queued).
        yielded: bool,
    },
}

/// Progress of the write under way.
pub(super) enum WriteStep {
    /// The entries are committed (or the commit failed); the sync may still run.
    Visible(Result<(), StoreError>),
    /// The write is over.
    Done(Result<Result<(), StoreError>, tokio::task::JoinError>),
}

/// Waits for the next step of the write under way (making it, for a write in the actor);
/// never resolves when there is none.
pub(super) async fn written(in_flight: &mut Option<InFlight>, store: &GossipStore) -> WriteStep {
    let Some(batch) = in_flight else {
        return std::future::pending().await;
    };
    if let Some(visible) = &mut batch.visible {
        // A dropped sender means the task ended: its result says how.
        if let Ok(result) = visible.await {
            return WriteStep::Visible(result);
        }
        batch.visible = None;
    }
    match &mut batch.write {
        Write::Spawned(handle) => WriteStep::Done(handle.await),
        Write::Inline { entries, yielded } => {
            if !*yielded {
                // The writers of the pushes just queued wait behind this task on its thread
                // (tokio's LIFO slot cannot be stolen): let them send first.
                *yielded = true;
                tokio::task::yield_now().await;
            }
            let entries = std::mem::take(entries);
            WriteStep::Done(Ok(commit_inline(store, &entries, &batch.ids)))
        }
    }
}

/// Commits `entries` (whose ids are `ids`) without a sync, in the actor. A panic in the store
/// fails the write, as it does on a blocking thread, instead of the actor.
fn commit_inline(
    store: &GossipStore,
    entries: &[Entry],
    ids: &[EntryId],
) -> Result<(), StoreError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.put_identified(entries, ids, WriteMode::Deferred)
    }))
    .unwrap_or_else(|_| Err(unfinished("the store panicked")))
}

/// The failure of a write that did not run to its end (its task failed, or the store panicked).
fn unfinished(why: impl Into<String>) -> StoreError {
    StoreError::Failed {
        path: Default::default(),
        failure: DbFailure::new(StorageErrorReason::Other, why),
    }
}

/// Commits `entries` (whose ids are `ids`) without a sync, reports that on `visible`, then syncs
/// when `mode` says so.
fn write(
    store: &GossipStore,
    entries: &[Entry],
    ids: &[EntryId],
    mode: WriteMode,
    visible: oneshot::Sender<Result<(), StoreError>>,
) -> Result<(), StoreError> {
    let committed = store.put_identified(entries, ids, WriteMode::Deferred);
    let _ = visible.send(committed.clone());
    committed?;
    match mode {
        WriteMode::Durable => store.sync(),
        WriteMode::Deferred => Ok(()),
    }
}

impl GossipActor {
    /// Starts writing the open batch when no write is under way. A batch with nothing to write
    /// is performed at once (nothing earlier is pending, so order holds).
    pub(super) fn start_write(&mut self) {
        if self.in_flight.is_some() {
            return;
        }
        let sync_due = self.unsynced.sync_due();
        if self.open.is_empty() && !sync_due {
            return;
        }
        let Batch {
            to_store,
            ids,
            bytes,
            after_commit,
            publish_replies,
            effects_after_sync,
        } = std::mem::take(&mut self.open);
        if to_store.is_empty() && !sync_due {
            self.perform_all(after_commit, publish_replies);
            return;
        }
        // Pushes carry their entries and need nothing from the store: they go out now, while
        // the batch is written, unless the batch waits for its sync.
        let mut pushed = false;
        let after_commit = if effects_after_sync {
            after_commit
        } else {
            let (pushes, rest): (Vec<Output>, Vec<Output>) = after_commit
                .into_iter()
                .partition(|output| matches!(output, Output::Push { .. }));
            pushed = !pushes.is_empty();
            self.perform_effects(pushes);
            rest
        };
        let mode = if sync_due || !publish_replies.is_empty() {
            WriteMode::Durable
        } else {
            WriteMode::Deferred
        };
        let (write, visible) = if mode == WriteMode::Deferred && bytes <= INLINE_WRITE_BYTES {
            // A commit without a sync touches no disk: two thread hand-offs would cost more
            // than the commit, on every relay hop of a small entry.
            // With no push queued, nothing waits behind the actor: no need to yield.
            let write = Write::Inline {
                entries: to_store,
                yielded: !pushed,
            };
            (write, None)
        } else {
            let store = self.store.clone();
            let (visible_tx, visible) = oneshot::channel();
            let written_ids = ids.clone();
            let handle = tokio::task::spawn_blocking(move || {
                write(&store, &to_store, &written_ids, mode, visible_tx)
            });
            (Write::Spawned(handle), Some(visible))
        };
        self.in_flight = Some(InFlight {
            ids,
            mode,
            after_commit: Some(after_commit),
            publish_replies,
            effects_after_sync,
            visible,
            write,
        });
    }

    /// Handles a step of the write under way.
    pub(super) fn on_write_step(&mut self, step: WriteStep) {
        match step {
            WriteStep::Visible(result) => {
                let Some(batch) = self.in_flight.as_mut() else {
                    return;
                };
                batch.visible = None;
                // On failure the effects are dropped when the write ends (with its error).
                if result.is_ok()
                    && !batch.effects_after_sync
                    && let Some(effects) = batch.after_commit.take()
                {
                    self.perform_effects(effects);
                }
            }
            WriteStep::Done(result) => self.finish_write(result),
        }
    }

    /// Completes the write under way: performs its effects, or, when it failed, forgets its
    /// entries and tells its publishers.
    fn finish_write(&mut self, result: Result<Result<(), StoreError>, tokio::task::JoinError>) {
        let Some(batch) = self.in_flight.take() else {
            return;
        };
        let result = result.unwrap_or_else(|e| Err(unfinished(e.to_string())));
        if let Err(e) = result {
            // Not durable: acknowledge, announce and deliver nothing, and let the core forget
            // the entries so that anti-entropy fetches them again (and a publish can be
            // retried) instead of the core claiming entries the store does not hold. A failed
            // write may close the store, which then reopens at its last durable write: the
            // deferred writes since are forgotten too.
            let mut lost = batch.ids;
            lost.append(&mut self.unsynced.ids);
            self.unsynced.since = None;
            tracing::error!(error = %e, entries = lost.len(), "gossip store write failed");
            self.core.handle(Input::StoreFailed(lost), now_ms());
            for (_, reply) in batch.publish_replies {
                let _ = reply.send(Err(GossipError::Store(e.clone())));
            }
            self.update_gauges();
            return;
        }
        match batch.mode {
            WriteMode::Durable => self.unsynced = Unsynced::default(),
            WriteMode::Deferred => {
                self.unsynced.ids.extend_from_slice(&batch.ids);
                self.unsynced.since.get_or_insert_with(Instant::now);
            }
        }
        if let Some(effects) = batch.after_commit {
            self.perform_effects(effects);
        }
        for (id, reply) in batch.publish_replies {
            let _ = reply.send(Ok(id));
        }
        self.update_gauges();
    }

    /// Waits for the write under way, then writes what is still open: nothing accepted is left
    /// unwritten or unanswered at shutdown.
    pub(super) async fn flush_all(&mut self) {
        for _ in 0..2 {
            while self.in_flight.is_some() {
                let step = written(&mut self.in_flight, &self.store).await;
                self.on_write_step(step);
            }
            self.start_write();
        }
        if self.unsynced.since.is_some() {
            let store = self.store.clone();
            match tokio::task::spawn_blocking(move || store.sync()).await {
                Ok(Ok(())) => self.unsynced = Unsynced::default(),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "cannot sync relayed entries at shutdown")
                }
                Err(e) => tracing::error!(error = %e, "gossip store task failed at shutdown"),
            }
        }
    }

    fn perform_all(
        &mut self,
        after_commit: Vec<Output>,
        publish_replies: Vec<(EntryId, PublishReply)>,
    ) {
        self.perform_effects(after_commit);
        for (id, reply) in publish_replies {
            let _ = reply.send(Ok(id));
        }
        self.update_gauges();
    }

    /// Performs a batch's effects, merging its pushes per set of recipients, its announces per
    /// peer and topic, and the entries each peer requested (chunks of `max_ids_per_message`).
    fn perform_effects(&mut self, effects: Vec<Output>) {
        let now = now_ms();
        let mut announces: BTreeMap<(Did, Topic), Vec<EntryId>> = BTreeMap::new();
        let mut requested: BTreeMap<Did, Vec<EntryId>> = BTreeMap::new();
        let mut pushes: BTreeMap<(Vec<Did>, Vec<Did>), Vec<Entry>> = BTreeMap::new();
        for output in effects {
            match output {
                Output::Push {
                    to,
                    entries,
                    pushed_to,
                } => pushes.entry((to, pushed_to)).or_default().extend(entries),
                Output::Send {
                    to,
                    msg: GossipMessage::Announce { topic, ids },
                } => announces.entry((to, topic)).or_default().extend(ids),
                Output::SendEntries { to, ids } => requested.entry(to).or_default().extend(ids),
                other => self.perform(other, now),
            }
        }
        for ((to, pushed_to), entries) in pushes {
            let push = Output::Push {
                to,
                entries,
                pushed_to,
            };
            self.perform(push, now);
        }
        let max = self.core.config().max_ids_per_message;
        for ((to, topic), ids) in announces {
            for ids in message::id_chunks(ids, max) {
                let topic = topic.clone();
                self.send(to, &GossipMessage::Announce { topic, ids });
            }
        }
        for (to, ids) in requested {
            for ids in message::id_chunks(ids, max) {
                self.perform(Output::SendEntries { to, ids }, now);
            }
        }
    }

    /// Sends the requests the inputs taken in so far produced, one message per peer.
    pub(super) fn send_requests(&mut self) {
        let max = self.core.config().max_ids_per_message;
        for (to, ids) in std::mem::take(&mut self.requests) {
            for ids in message::id_chunks(ids, max) {
                self.send(to, &GossipMessage::Request { ids });
            }
        }
    }
}
