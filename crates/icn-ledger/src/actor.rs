//! [`LedgerActor`]: the ledger core fed by the gossip topic `icn/ledger`, with durable storage.
//!
//! Remote ops arrive as gossip entries; the actor drains what is buffered, inserts it as one
//! batch (at most one replay), stores the newly held ops in one transaction and updates the
//! metrics. A local op (currency, credit limit, payment) is checked against the current state
//! first (an overspend is refused with the balance and the limit), applied, stored, then
//! published with a sync before any peer hears of it; the caller is answered once the gossip
//! store holds it on the disk (see `local.rs`).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use icn_gossip::{GossipHandle, Subscription, SubscriptionEvent, Topic};
use icn_identity::{Did, Keypair};
use icn_obs::LedgerMetrics;
use icn_obs::labels::LedgerRejectReason;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

mod handle;
mod local;
mod publish;
mod sign;

pub use self::handle::{BalanceRow, DigestInfo, HistoryRow, LedgerError, LedgerHandle};
use self::handle::{Command, code, now_ms};

use crate::payload::{decode_payload, pack};
use crate::store::LedgerStore;
use crate::{
    BatchItem, CurrencyCode, LedgerConfig, LedgerCore, LedgerStats, Op, OpError, OpId, OpStatus,
    RejectKind, SignedOp,
};

/// The gossip topic ledger ops travel on.
pub const LEDGER_TOPIC: &str = "icn/ledger";
/// Buffered remote ops folded per batch.
const BATCH: usize = 512;
const COMMAND_CAPACITY: usize = 1024;
/// Local ops validated, applied and stored together (one store commit), at most.
const LOCAL_BATCH: usize = 256;
/// Future-dated ops kept for a later retry; beyond this they are dropped (the gossip store still
/// has them, and the next start offers them again).
const MAX_DEFERRED: usize = 4096;
/// How often `icn_ledger_state_digest_prefix` is recomputed when the state changed.
const DIGEST_GAUGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The actor; build with [`LedgerActor::start`], run with [`LedgerActor::run`].
pub struct LedgerActor {
    core: LedgerCore,
    keypair: Arc<Keypair>,
    store: LedgerStore,
    gossip: GossipHandle,
    topic: Topic,
    subscription: Subscription,
    commands: mpsc::Receiver<Command>,
    metrics: LedgerMetrics,
    last: LedgerStats,
    /// The state changed since `icn_ledger_state_digest_prefix` was last computed.
    digest_dirty: bool,
    /// Ops refused only because their timestamp is ahead of our clock: offered again once it is
    /// not (the gossip store keeps them, so dropping them would make this node diverge).
    deferred: BTreeMap<(u64, OpId), SignedOp>,
    /// Own ops applied and stored whose publishing failed (say, gossip's disk was full):
    /// published again at every tick until gossip holds them.
    unpublished: Arc<Mutex<Vec<SignedOp>>>,
    /// The store refused a batch of local ops the core held, and could not be read back to
    /// rebuild the core: local ops are refused until a reload succeeds.
    reload_pending: bool,
    /// Ops from peers were written to the store without a sync since the last durable write
    /// (synced at the next tick and at shutdown).
    unsynced: bool,
}

/// Where a local op's caller waits for `(id, seq)`.
type LocalReply = oneshot::Sender<Result<(OpId, u64), LedgerError>>;

fn label(kind: RejectKind) -> LedgerRejectReason {
    use LedgerRejectReason as L;
    match kind {
        RejectKind::TooLarge => L::TooLarge,
        RejectKind::Malformed => L::Malformed,
        RejectKind::BadSignature => L::BadSignature,
        RejectKind::AuthorMismatch => L::AuthorMismatch,
        RejectKind::ZeroAmount => L::ZeroAmount,
        RejectKind::ZeroSeq => L::ZeroSeq,
        RejectKind::SelfTransfer => L::SelfTransfer,
        RejectKind::MemoTooLong => L::MemoTooLong,
        RejectKind::InvalidCode => L::InvalidCode,
        RejectKind::FutureTimestamp => L::FutureTimestamp,
        RejectKind::UnknownCurrency => L::UnknownCurrency,
        RejectKind::DuplicateCurrency => L::DuplicateCurrency,
        RejectKind::NotIssuer => L::NotIssuer,
        RejectKind::LimitBelowBalance => L::LimitBelowBalance,
        RejectKind::BadSeq => L::BadSeq,
        RejectKind::Equivocation => L::Equivocation,
        RejectKind::OverLimit => L::OverLimit,
        RejectKind::Overflow => L::Overflow,
    }
}

impl LedgerActor {
    /// Restores the ledger from its store, joins the ledger topic, catches up with ledger ops the
    /// gossip store holds, and republishes own ops gossip lost (crash between the two commits).
    ///
    /// # Errors
    /// [`LedgerError`] when a store cannot be read or the topic cannot be joined.
    pub async fn start(
        config: LedgerConfig,
        keypair: Keypair,
        store: LedgerStore,
        gossip: GossipHandle,
        metrics: LedgerMetrics,
    ) -> Result<(Self, LedgerHandle), LedgerError> {
        let topic = Topic::new(LEDGER_TOPIC).map_err(|e| LedgerError::BadInput(e.to_string()))?;
        let max_op = config.max_op_bytes;
        let max_entry = config.max_entry_bytes;
        let stored = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || store.load_all())
                .await
                .map_err(|e| LedgerError::Gossip(e.to_string()))??
        };
        let (mut core, skipped) = LedgerCore::restore(config, stored.clone());
        for (id, error) in &skipped {
            tracing::warn!(op = %id.short(), %error, "a stored ledger op did not restore");
        }
        let subscription = gossip
            .subscribe(topic.clone())
            .await
            .map_err(|e| LedgerError::Gossip(e.to_string()))?;
        gossip
            .join(topic.clone())
            .await
            .map_err(|e| LedgerError::Gossip(e.to_string()))?;

        // Catch up from the gossip store, and find own ops it lacks.
        let entries = gossip
            .entries(&topic, usize::MAX)
            .map_err(|e| LedgerError::Gossip(e.to_string()))?;
        let mut in_gossip = HashSet::new();
        let mut missing = Vec::new();
        let now = now_ms();
        for entry in entries {
            for op in decode_payload(&entry.payload, max_op).unwrap_or_default() {
                in_gossip.insert(op.id());
                if !core.contains(&op.id()) && core.insert(op.clone(), now).is_ok() {
                    missing.push(op);
                }
            }
        }
        store.put_batch(&missing)?;
        let me = keypair.did();
        let lost: Vec<SignedOp> = stored
            .into_iter()
            .filter(|op| op.author == me && !in_gossip.contains(&op.id()))
            .collect();
        for (_, payload) in pack(&lost, max_entry) {
            if let Err(e) = gossip.publish_synced(topic.clone(), payload).await {
                tracing::warn!(error = %e, "cannot republish ledger ops");
            }
        }
        let (tx, commands) = mpsc::channel(COMMAND_CAPACITY);
        let last = core.stats();
        let mut actor = Self {
            core,
            keypair: Arc::new(keypair),
            store,
            gossip,
            topic,
            subscription,
            commands,
            metrics,
            last,
            digest_dirty: false,
            deferred: BTreeMap::new(),
            unpublished: Arc::new(Mutex::new(Vec::new())),
            reload_pending: false,
            unsynced: false,
        };
        actor.update_gauges();
        actor.publish_digest_prefix();
        Ok((actor, LedgerHandle { commands: tx, me }))
    }

    /// Runs until `shutdown` is cancelled or gossip stops.
    pub async fn run(mut self, shutdown: CancellationToken) {
        // The digest walks the whole state: refresh its gauge at most once per interval.
        let mut digest_tick = tokio::time::interval(DIGEST_GAUGE_INTERVAL);
        digest_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = digest_tick.tick() => {
                    self.retry_deferred().await;
                    self.retry_unpublished();
                    self.retry_reload().await;
                    self.sync_relayed().await;
                    if self.digest_dirty {
                        self.publish_digest_prefix();
                    }
                }
                command = self.commands.recv() => match command {
                    Some(command) => self.on_commands(command).await,
                    None => break,
                },
                event = self.subscription.next() => match event {
                    Some(first) => {
                        let mut batch = vec![first];
                        while batch.len() < BATCH {
                            match self.subscription.try_next() {
                                Some(event) => batch.push(event),
                                None => break,
                            }
                        }
                        self.on_entries(batch).await;
                    }
                    None => break,
                },
            }
        }
        self.sync_relayed().await;
    }

    /// Syncs the ops from peers written without a sync.
    async fn sync_relayed(&mut self) {
        if !self.unsynced {
            return;
        }
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.sync()).await {
            Ok(Ok(())) => self.unsynced = false,
            Ok(Err(e)) => tracing::error!(error = %e, "ledger store sync failed"),
            Err(e) => tracing::error!(error = %e, "ledger store task failed"),
        }
    }

    async fn on_entries(&mut self, events: Vec<SubscriptionEvent>) {
        let started = Instant::now();
        let max = self.core.config().max_op_bytes;
        let mut ops = Vec::with_capacity(events.len());
        let mut lagged = false;
        for event in events {
            match event {
                SubscriptionEvent::Entry(entry) => match decode_payload(&entry.payload, max) {
                    Ok(decoded) => ops.extend(decoded),
                    Err(e) => self.metrics.rejected.inc(label(e.kind())),
                },
                SubscriptionEvent::Lagged(missed) => {
                    // The missed entries are in the gossip store: read them back from there.
                    tracing::warn!(
                        missed,
                        "ledger fell behind gossip; catching up from the store"
                    );
                    lagged = true;
                }
            }
        }
        if lagged {
            match self.gossip.entries(&self.topic, usize::MAX) {
                Ok(entries) => ops.extend(
                    entries
                        .iter()
                        .flat_map(|e| decode_payload(&e.payload, max).unwrap_or_default())
                        .filter(|op| !self.core.contains(&op.id())),
                ),
                Err(e) => tracing::error!(error = %e, "cannot read the gossip store"),
            }
        }
        self.fold(ops).await;
        self.metrics
            .apply_duration
            .record(started.elapsed().as_secs_f64());
        self.update_metrics();
    }

    /// Offers deferred future-dated ops whose time has come.
    async fn retry_deferred(&mut self) {
        let horizon = now_ms().saturating_add(self.core.config().max_clock_skew_ms);
        let due: Vec<(u64, OpId)> = self
            .deferred
            .range(..(horizon, OpId::from_bytes([0xFF; 32])))
            .map(|(key, _)| *key)
            .collect();
        if due.is_empty() {
            return;
        }
        let ops = due
            .iter()
            .filter_map(|key| self.deferred.remove(key))
            .collect();
        self.fold(ops).await;
        self.update_metrics();
    }

    /// Inserts a batch, records amounts of newly applied transfers, defers future-dated ops
    /// and stores what became held.
    async fn fold(&mut self, ops: Vec<SignedOp>) {
        let outcome = self.core.insert_batch(ops.clone(), now_ms());
        let mut new_ops = Vec::new();
        for (op, item) in ops.into_iter().zip(outcome.items) {
            if let Err(OpError::FutureTimestamp { .. }) = item {
                if self.deferred.len() < MAX_DEFERRED {
                    self.deferred.insert((op.op.timestamp_ms(), op.id()), op);
                }
                continue;
            }
            if let Ok(BatchItem::Inserted(new)) = item {
                if new.status == OpStatus::Applied {
                    self.record_amount(&op);
                }
                new_ops.push(op);
            }
        }
        if let Some(replay) = &outcome.replay {
            for change in &replay.changed {
                if change.after == OpStatus::Applied
                    && let Some(held) = self.core.get(&change.id)
                {
                    let op = held.op.clone();
                    self.record_amount(&op);
                }
            }
        }
        self.persist(new_ops).await;
    }

    fn record_amount(&self, op: &SignedOp) {
        if let Op::Transfer(t) = &op.op {
            self.metrics.transaction_amount.record(t.amount as f64);
        }
    }

    /// Writes ops from peers without a sync: the gossip store holds them (and their authors
    /// do), so a crash before the next sync only means catching up from gossip at start.
    async fn persist(&mut self, ops: Vec<SignedOp>) {
        if ops.is_empty() {
            return;
        }
        let store = self.store.clone();
        let result = tokio::task::spawn_blocking(move || {
            store.put_batch_with(&ops, icn_gossip::WriteMode::Deferred)
        })
        .await;
        match result {
            Ok(Ok(())) => self.unsynced = true,
            Ok(Err(e)) => tracing::error!(error = %e, "ledger store write failed"),
            Err(e) => tracing::error!(error = %e, "ledger store task failed"),
        }
    }

    /// Handles `first` and the commands already waiting behind it (at most [`LOCAL_BATCH`], so
    /// gossip input and ticks are not starved): consecutive local ops are validated, applied and
    /// stored as one batch (one store commit for all), other commands one by one, in order.
    async fn on_commands(&mut self, first: Command) {
        let mut pending = Some(first);
        let mut handled = 0;
        while let Some(command) = pending.take() {
            match command {
                Command::Local { op, reply } => {
                    let mut batch = vec![(op, reply)];
                    while batch.len() < LOCAL_BATCH {
                        match self.commands.try_recv() {
                            Ok(Command::Local { op, reply }) => batch.push((op, reply)),
                            Ok(other) => {
                                pending = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    handled += batch.len();
                    self.local_batch(batch).await;
                }
                other => {
                    handled += 1;
                    self.on_command(other).await;
                }
            }
            if pending.is_none() && handled < LOCAL_BATCH {
                pending = self.commands.try_recv().ok();
            }
        }
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::Local { op, reply } => self.local_batch(vec![(op, reply)]).await,
            Command::Balances {
                currency,
                account,
                reply,
            } => {
                let account = account.unwrap_or_else(|| self.keypair.did());
                let _ = reply.send(self.balances(currency, account));
            }
            Command::History { account, reply } => {
                let account = account.unwrap_or_else(|| self.keypair.did());
                let rows = self
                    .core
                    .history(&account)
                    .into_iter()
                    .map(|h| HistoryRow {
                        id: h.op.id(),
                        op: h.op.clone(),
                        status: h.status,
                    })
                    .collect();
                let _ = reply.send(rows);
            }
            Command::Digest { reply } => {
                let _ = reply.send(DigestInfo {
                    digest: self.core.state_digest(),
                    ops: self.core.op_count() as u64,
                    applied_transfers: self.core.applied_transfers_count(),
                });
            }
            Command::NextSeq { reply } => {
                let me = self.keypair.did();
                let _ = reply.send((self.core.next_seq(&me), self.core.op_count() as u64));
            }
        }
    }

    fn balances(
        &self,
        currency: Option<String>,
        account: Did,
    ) -> Result<Vec<BalanceRow>, LedgerError> {
        let codes: Vec<CurrencyCode> = match currency {
            Some(c) => {
                let c = code(&c)?;
                if self.core.currency(&c).is_none() {
                    return Err(LedgerError::BadInput(format!(
                        "unknown currency {}",
                        c.as_str()
                    )));
                }
                vec![c]
            }
            None => self.core.currencies().into_iter().map(|c| c.code).collect(),
        };
        Ok(codes
            .into_iter()
            .map(|c| BalanceRow {
                currency: c.as_str().to_string(),
                account,
                balance: self.core.balance(&c, &account),
                limit: self.core.credit_limit(&c, &account).unwrap_or(0),
            })
            .collect())
    }

    /// Validates, applies, stores and publishes one local op.
    fn publish_digest_prefix(&mut self) {
        let digest = self.core.state_digest();
        let mut prefix = [0u8; 8];
        prefix[2..].copy_from_slice(&digest[..6]);
        // 48 bits fit an f64 exactly.
        self.metrics
            .state_digest_prefix
            .set(u64::from_be_bytes(prefix) as f64);
        self.digest_dirty = false;
    }

    fn update_metrics(&mut self) {
        self.digest_dirty = true;
        let stats = self.core.stats();
        let last = &self.last;
        self.metrics.transactions.increment(
            stats
                .applied_transfers
                .saturating_sub(last.applied_transfers),
        );
        self.metrics
            .equivocations
            .increment(stats.equivocations.saturating_sub(last.equivocations));
        self.metrics
            .replays
            .increment(stats.replays.saturating_sub(last.replays));
        for kind in RejectKind::ALL {
            let delta = stats
                .rejections_of(kind)
                .saturating_sub(last.rejections_of(kind));
            if delta > 0 {
                self.metrics.rejected.get(label(kind)).increment(delta);
            }
        }
        self.last = stats;
        self.update_gauges();
    }

    fn update_gauges(&self) {
        let stats = &self.last;
        self.metrics.accounts.set(stats.accounts as f64);
        self.metrics.currencies.set(stats.currencies as f64);
        self.metrics.pending_ops.set(stats.pending as f64);
    }
}
