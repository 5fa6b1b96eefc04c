//! Anti-entropy: periodic reconciliation of each subscribed topic with one peer.

use icn_identity::Did;
use rand::Rng;

use super::budget::Spend;
use super::{DropReason, GossipCore, Output};
use crate::entry::EntryId;
use crate::message::GossipMessage;
use crate::reconcile::{self, ReconcileMessage};
use crate::topic::Topic;

impl GossipCore {
    /// Opens a reconciliation of `topic` with `peer`, unless one is open or the cap is hit.
    pub(super) fn start_session(&mut self, peer: Did, topic: Topic) {
        let key = (peer, topic);
        if self.sessions.contains_key(&key) {
            return;
        }
        if self.sessions.len() >= self.config.max_reconcile_sessions {
            self.stats.drop_n(DropReason::SessionLimit, 1);
            return;
        }
        let Some(ids) = self.topics.get(&key.1) else {
            return;
        };
        let msg = reconcile::initiate(ids);
        let topic = key.1.clone();
        self.sessions.insert(key, self.now_ms);
        self.stats.anti_entropy_rounds += 1;
        self.out.push(Output::AntiEntropyStarted {
            peer,
            topic: topic.clone(),
        });
        self.send(
            peer,
            GossipMessage::Reconcile {
                topic,
                msg: Some(msg),
                have: Vec::new(),
            },
        );
    }

    /// On a tick: starts a round when one is due (the first tick only picks a random phase,
    /// so nodes started together do not reconcile in lockstep).
    pub(super) fn maybe_anti_entropy(&mut self) {
        let now = self.now_ms;
        let interval = self.config.anti_entropy_interval_ms;
        let Some(due) = self.next_anti_entropy_ms else {
            let phase = self.rng.gen_range(0..=interval);
            self.next_anti_entropy_ms = Some(now.saturating_add(phase));
            return;
        };
        if due > now {
            return;
        }
        self.next_anti_entropy_ms = Some(now.saturating_add(interval));
        let topics: Vec<Topic> = self.topics.keys().cloned().collect();
        for topic in topics {
            // A peer that never answers (down, or hostile) only holds up its own session.
            let candidates: Vec<Did> = self
                .peers_sharing(&topic)
                .into_iter()
                .filter(|p| !self.sessions.contains_key(&(*p, topic.clone())))
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let peer = candidates[self.rng.gen_range(0..candidates.len())];
            self.start_session(peer, topic);
        }
    }

    /// Forgets sessions whose peer stopped answering (or ended them without telling us).
    pub(super) fn expire_sessions(&mut self) {
        let now = self.now_ms;
        let timeout = self.config.reconcile_timeout_ms;
        let before = self.sessions.len();
        self.sessions
            .retain(|_, last| last.saturating_add(timeout) > now);
        self.stats
            .drop_n(DropReason::SessionTimeout, before - self.sessions.len());
    }

    /// Answers one reconciliation step from `from`.
    pub(super) fn on_reconcile(
        &mut self,
        from: Did,
        topic: Topic,
        msg: Option<ReconcileMessage>,
        have: Vec<EntryId>,
    ) {
        if !self.topics.contains_key(&topic) {
            self.stats.drop_n(DropReason::NotSubscribed, 1);
            return;
        }
        if self.spend(from, Spend::Reconcile, 1) == 0 {
            return;
        }
        let key = (from, topic);
        let initiated = match self.sessions.get_mut(&key) {
            Some(last) => {
                *last = self.now_ms;
                true
            }
            None => false,
        };
        if !have.is_empty() {
            self.want(from, &key.1, have, true);
        }
        let Some(msg) = msg else {
            self.sessions.remove(&key);
            return;
        };
        let Some(ids) = self.topics.get(&key.1) else {
            return;
        };
        let step = match reconcile::respond(ids, &msg, &self.config.reconcile_limits) {
            Ok(step) => step,
            Err(_) => {
                self.stats.drop_n(DropReason::BadReconcile, 1);
                self.sessions.remove(&key);
                return;
            }
        };
        if !step.need.is_empty() {
            let need = step.need.into_iter().map(EntryId::from_bytes).collect();
            self.want(from, &key.1, need, true);
        }
        // The difference can be large (a new peer lacks everything): send a bounded part,
        // later rounds send the rest.
        let max = self.config.max_ids_per_message;
        self.stats
            .drop_n(DropReason::TooManyIds, step.have.len().saturating_sub(max));
        let have: Vec<EntryId> = step
            .have
            .into_iter()
            .take(max)
            .map(EntryId::from_bytes)
            .collect();
        let done = step.reply.is_none();
        if done {
            self.sessions.remove(&key);
        }
        // A final empty message still tells an initiator its session is over.
        if !done || !have.is_empty() || !initiated {
            self.send(
                from,
                GossipMessage::Reconcile {
                    topic: key.1,
                    msg: step.reply,
                    have,
                },
            );
        }
    }
}
