//! Fetching entries: which ids to request from whom, timeouts and retries, and the checks on
//! every entry a peer sends.
//!
//! An announced id we lack becomes pending. It is asked at once from its announcer when that
//! peer has a free request slot (`max_outstanding_per_peer`), and otherwise waits, oldest
//! first, until a response or a timeout frees one: a burst of announces is fetched at the
//! rate the peer answers instead of being dropped. Only ids beyond what one peer may have
//! pending (`max_pending_per_peer`), or beyond the pending cap, are dropped; anti-entropy
//! finds those later.

use std::collections::BTreeMap;

use icn_identity::Did;

use super::budget::Spend;
use super::{DropReason, GossipCore, Output, Source};
use crate::entry::{Entry, EntryId, RejectReason};
use crate::message;
use crate::topic::Topic;

/// The outcome of an entry's signature check.
type SignatureCheck = Result<(), RejectReason>;

/// An id we lack and are fetching.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    /// Topic it was announced under (the entry's own topic is checked on receipt).
    pub(super) topic: Topic,
    /// Up peers that said they hold it, first announcer first (bounded).
    pub(super) announcers: Vec<Did>,
    /// The announcer currently asked, `None` while waiting for one with spare capacity.
    pub(super) asked: Option<Did>,
    /// When the current request times out.
    pub(super) deadline_ms: u64,
    /// Failed attempts so far; also picks the next announcer, round-robin.
    pub(super) tries: u32,
    /// Reported by a reconciliation rather than an announce (for accounting).
    pub(super) anti_entropy: bool,
    /// The peer whose announce made it pending, while that peer is up (counted in its
    /// `introduced`).
    pub(super) introduced_by: Option<Did>,
    /// Arrival number: waiting ids are asked for in this order.
    pub(super) arrival: u64,
}

impl GossipCore {
    /// `from` holds `ids` of `topic`: request those we neither hold nor already fetch.
    pub(super) fn want(&mut self, from: Did, topic: &Topic, ids: Vec<EntryId>, anti_entropy: bool) {
        if !self.topics.contains_key(topic) {
            self.stats.drop_n(DropReason::NotSubscribed, ids.len());
            return;
        }
        let max = self.config.max_ids_per_message;
        self.stats
            .drop_n(DropReason::TooManyIds, ids.len().saturating_sub(max));
        let granted = self.spend(from, Spend::Announced, ids.len().min(max));
        let now = self.now_ms;
        for id in ids.into_iter().take(granted) {
            if self.index.contains_key(&id) {
                continue;
            }
            if let Some(p) = self.pending.get_mut(&id) {
                if !p.announcers.contains(&from)
                    && p.announcers.len() < self.config.max_announcers_per_id
                {
                    p.announcers.push(from);
                }
                continue;
            }
            if self.pending.len() >= self.config.max_pending_requests {
                self.stats.drop_n(DropReason::PendingFull, 1);
                continue;
            }
            let Some(peer) = self.peers.get_mut(&from) else {
                return;
            };
            if peer.introduced >= self.config.max_pending_per_peer {
                self.stats.drop_n(DropReason::PeerBusy, 1);
                continue;
            }
            peer.introduced += 1;
            let asked = (peer.outstanding < self.config.max_outstanding_per_peer).then(|| {
                peer.outstanding += 1;
                self.request_batch.entry(from).or_default().push(id);
                from
            });
            self.pending.insert(
                id,
                Pending {
                    topic: topic.clone(),
                    announcers: vec![from],
                    asked,
                    deadline_ms: now.saturating_add(self.config.request_timeout_ms),
                    tries: 0,
                    anti_entropy,
                    introduced_by: Some(from),
                    arrival: self.next_arrival,
                },
            );
            self.next_arrival += 1;
        }
    }

    pub(super) fn on_request(&mut self, from: Did, ids: Vec<EntryId>) {
        let max = self.config.max_ids_per_message;
        self.stats
            .drop_n(DropReason::TooManyIds, ids.len().saturating_sub(max));
        let granted = self.spend(from, Spend::Requested, ids.len().min(max));
        let mut found: Vec<EntryId> = ids
            .into_iter()
            .take(granted)
            .filter(|id| self.index.contains_key(id))
            .collect();
        found.sort_unstable();
        found.dedup();
        if !found.is_empty() {
            self.out.push(Output::SendEntries {
                to: from,
                ids: found,
            });
        }
    }

    pub(super) fn on_response(&mut self, from: Did, entries: Vec<Entry>) {
        let max = self.config.max_ids_per_message;
        self.stats
            .drop_n(DropReason::TooManyIds, entries.len().saturating_sub(max));
        let checked = self.with_signatures(entries.into_iter().take(max), |core, entry, id| {
            core.pending.contains_key(id) && core.passes_cheap_checks(entry, id)
        });
        for (entry, id, signature) in checked {
            self.receive(from, entry, id, signature);
        }
        // The answered ids freed request slots: ask for waiting ids now, not at the next tick.
        self.assign_waiting();
    }

    /// Entries `from` pushed to us (and to `pushed_to`), its own or small ones it relays:
    /// each gets the checks of a fetched entry, within the peer's announce budget, and is
    /// stored without a request. It is then passed on to none of the peers that already hold
    /// it or were pushed it.
    pub(super) fn on_push(&mut self, from: Did, entries: Vec<Entry>, pushed_to: Vec<Did>) {
        let max = self.config.max_ids_per_message;
        self.stats
            .drop_n(DropReason::TooManyIds, entries.len().saturating_sub(max));
        let granted = self.spend(from, Spend::Announced, entries.len().min(max));
        // Bounded by our own peers, whatever the list's length.
        let mut holders = vec![from];
        holders.extend(
            pushed_to
                .into_iter()
                .filter(|peer| *peer != from && self.peers.contains_key(peer)),
        );
        holders.sort();
        holders.dedup();
        let checked = self.with_signatures(entries.into_iter().take(granted), |core, entry, id| {
            may_push(from, entry) && core.passes_cheap_checks(entry, id)
        });
        for (entry, id, signature) in checked {
            self.receive_pushed(from, entry, id, signature, &holders);
        }
        // A pushed entry that was pending freed its request slot.
        self.assign_waiting();
    }

    /// Each entry with its id and, for those `wanted` lets through, its signature's check:
    /// those are checked as one batch.
    fn with_signatures(
        &self,
        entries: impl Iterator<Item = Entry>,
        wanted: impl Fn(&Self, &Entry, &EntryId) -> bool,
    ) -> Vec<(Entry, EntryId, Option<SignatureCheck>)> {
        let entries: Vec<(Entry, EntryId)> = entries
            .map(|entry| {
                let id = entry.id();
                (entry, id)
            })
            .collect();
        let signatures =
            Entry::check_signatures_where(&entries, |entry, id| wanted(self, entry, id));
        entries
            .into_iter()
            .zip(signatures)
            .map(|((entry, id), signature)| (entry, id, signature))
            .collect()
    }

    /// Whether `entry` passes the checks made before its signature: size, not held yet, a
    /// subscribed topic, timestamp. The same checks as [`Self::receive`] makes, without their
    /// effects.
    fn passes_cheap_checks(&self, entry: &Entry, id: &EntryId) -> bool {
        entry.payload.len() <= self.config.entry_limits.max_payload_bytes
            && !self.index.contains_key(id)
            && self.topics.contains_key(&entry.topic)
            && entry
                .check_limits(&self.config.entry_limits, self.now_ms)
                .is_ok()
    }

    /// Checks one entry `from` pushed (whose id is `id`) and stores it; `signature` as for
    /// [`Self::receive`].
    fn receive_pushed(
        &mut self,
        from: Did,
        entry: Entry,
        id: EntryId,
        signature: Option<SignatureCheck>,
        holders: &[Did],
    ) {
        if !may_push(from, &entry) {
            // A large entry from anyone but its author must be announced and requested.
            return self.reject(Some(from), RejectReason::Unsolicited);
        }
        if !self.sized_and_new(from, &entry, &id) {
            return;
        }
        if !self.topics.contains_key(&entry.topic) {
            return self.reject(Some(from), RejectReason::NotSubscribed);
        }
        if let Err(reason) = self.timestamp_and_signature(&entry, &id, signature) {
            return self.reject(Some(from), reason);
        }
        self.store(id, entry, Source::Push { from }, holders.to_vec());
    }

    /// The first checks of an entry from `from`: its size (else rejected), then whether we hold
    /// it already (a duplicate, counted quietly). Whether the entry goes on.
    fn sized_and_new(&mut self, from: Did, entry: &Entry, id: &EntryId) -> bool {
        if entry.payload.len() > self.config.entry_limits.max_payload_bytes {
            self.reject(Some(from), RejectReason::PayloadTooLarge);
            return false;
        }
        if self.index.contains_key(id) {
            self.stats.duplicates += 1;
            return false;
        }
        true
    }

    /// The last checks of an entry: its timestamp, then its signature (`signature` when it
    /// was checked already, in a batch).
    fn timestamp_and_signature(
        &self,
        entry: &Entry,
        id: &EntryId,
        signature: Option<SignatureCheck>,
    ) -> SignatureCheck {
        entry
            .check_limits(&self.config.entry_limits, self.now_ms)
            .and_then(|()| signature.unwrap_or_else(|| entry.check_signature(id)))
    }

    /// Checks one entry from `from` (whose id is `id`), cheapest and most selective checks
    /// first, and stores it. `signature` is the signature's check when it was made already
    /// (in a batch); otherwise it is made here.
    fn receive(&mut self, from: Did, entry: Entry, id: EntryId, signature: Option<SignatureCheck>) {
        if !self.sized_and_new(from, &entry, &id) {
            return;
        }
        let Some(pending) = self.pending.get(&id) else {
            return self.reject(Some(from), RejectReason::Unsolicited);
        };
        if !self.topics.contains_key(&entry.topic) {
            // The id itself names an unwanted topic: no other announcer can do better.
            self.remove_pending(&id);
            return self.reject(Some(from), RejectReason::NotSubscribed);
        }
        if let Err(reason) = self.timestamp_and_signature(&entry, &id, signature) {
            // A bad copy: the signature is outside the id, and a timestamp may become
            // acceptable later, so ask another announcer.
            self.answer_failed(&id, from);
            return self.reject(Some(from), reason);
        }
        let source = if pending.anti_entropy {
            Source::AntiEntropy { from }
        } else {
            Source::Push { from }
        };
        let mut holders = pending.announcers.clone();
        holders.push(from);
        self.store(id, entry, source, holders);
    }

    /// `from` answered `id` with an invalid entry: if it was the peer asked, count a failed
    /// try and stop asking it.
    fn answer_failed(&mut self, id: &EntryId, from: Did) {
        let Some(p) = self.pending.get_mut(id) else {
            return;
        };
        if p.asked != Some(from) {
            return;
        }
        p.asked = None;
        p.tries += 1;
        p.announcers.retain(|a| *a != from);
        let gave_up = p.tries >= self.config.max_request_tries;
        let no_source = p.announcers.is_empty();
        if let Some(peer) = self.peers.get_mut(&from) {
            peer.outstanding = peer.outstanding.saturating_sub(1);
        }
        if gave_up || no_source {
            self.remove_pending(id);
            let reason = if gave_up {
                DropReason::GaveUp
            } else {
                DropReason::NoSource
            };
            self.stats.drop_n(reason, 1);
        }
    }

    /// Removes a pending id, releasing the slot of the peer asked and the count of the peer
    /// that introduced it.
    pub(super) fn remove_pending(&mut self, id: &EntryId) {
        let Some(p) = self.pending.remove(id) else {
            return;
        };
        if let Some(peer) = p.asked.and_then(|asked| self.peers.get_mut(&asked)) {
            peer.outstanding = peer.outstanding.saturating_sub(1);
        }
        if let Some(peer) = p.introduced_by.and_then(|by| self.peers.get_mut(&by)) {
            peer.introduced = peer.introduced.saturating_sub(1);
        }
    }

    /// `peer` went down: it is no longer anyone's announcer.
    pub(super) fn forget_announcer(&mut self, peer: Did) {
        let mut orphans = Vec::new();
        for (id, p) in &mut self.pending {
            p.announcers.retain(|a| *a != peer);
            if p.asked == Some(peer) {
                p.asked = None;
            }
            if p.introduced_by == Some(peer) {
                p.introduced_by = None;
            }
            if p.announcers.is_empty() {
                orphans.push(*id);
            }
        }
        self.stats.drop_n(DropReason::NoSource, orphans.len());
        for id in orphans {
            self.remove_pending(&id);
        }
    }

    /// Requests whose peer did not answer in time become waiting again, or are given up.
    pub(super) fn expire_requests(&mut self) {
        let now = self.now_ms;
        let expired: Vec<EntryId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.asked.is_some() && p.deadline_ms <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let Some(p) = self.pending.get_mut(&id) else {
                continue;
            };
            let asked = p.asked.take();
            p.tries += 1;
            let gave_up = p.tries >= self.config.max_request_tries;
            if let Some(peer) = asked.and_then(|a| self.peers.get_mut(&a)) {
                peer.outstanding = peer.outstanding.saturating_sub(1);
            }
            if gave_up {
                self.remove_pending(&id);
                self.stats.drop_n(DropReason::GaveUp, 1);
            }
        }
    }

    /// Asks an announcer with spare capacity for every waiting id, oldest first, rotating
    /// through the announcers so a retry goes to another peer when there is one.
    pub(super) fn assign_waiting(&mut self) {
        // Every asked id counts in one peer's `outstanding`: none waits when they add up.
        let asked: usize = self.peers.values().map(|p| p.outstanding).sum();
        if asked >= self.pending.len() {
            return;
        }
        let now = self.now_ms;
        let max = self.config.max_outstanding_per_peer;
        let timeout = self.config.request_timeout_ms;
        let mut waiting: Vec<(u64, EntryId)> = self
            .pending
            .iter()
            .filter(|(_, p)| p.asked.is_none())
            .map(|(id, p)| (p.arrival, *id))
            .collect();
        waiting.sort_unstable();
        for (_, id) in waiting {
            let Some(p) = self.pending.get_mut(&id) else {
                continue;
            };
            let n = p.announcers.len();
            let start = p.tries as usize;
            let choice = (0..n)
                .map(|k| p.announcers[(start + k) % n])
                .find(|a| self.peers.get(a).is_some_and(|peer| peer.outstanding < max));
            let Some(asked) = choice else {
                continue;
            };
            p.asked = Some(asked);
            p.deadline_ms = now.saturating_add(timeout);
            if let Some(peer) = self.peers.get_mut(&asked) {
                peer.outstanding += 1;
            }
            self.request_batch.entry(asked).or_default().push(id);
        }
    }
}

/// Whether `from` may push `entry` unasked: its author may, and so may a relay when the
/// payload is small.
fn may_push(from: Did, entry: &Entry) -> bool {
    entry.author == from || message::relay_pushable(entry)
}

impl GossipCore {
    /// The pending ids agree with the peers' `outstanding` and `introduced` counts, and every
    /// asked peer is a live announcer.
    pub(super) fn check_pending(&self) -> Result<(), String> {
        let mut outstanding: BTreeMap<Did, usize> = BTreeMap::new();
        let mut introduced: BTreeMap<Did, usize> = BTreeMap::new();
        for (id, p) in &self.pending {
            if self.index.contains_key(id) {
                return Err(format!("{id:?} both held and pending"));
            }
            if p.announcers.is_empty() {
                return Err(format!("{id:?} pending with no announcer"));
            }
            if let Some(asked) = p.asked {
                if !p.announcers.contains(&asked) || !self.peers.contains_key(&asked) {
                    return Err(format!(
                        "{id:?} asked from a peer that is not a live announcer"
                    ));
                }
                *outstanding.entry(asked).or_default() += 1;
            }
            if let Some(by) = p.introduced_by {
                if !self.peers.contains_key(&by) {
                    return Err(format!("{id:?} introduced by a peer that is down"));
                }
                *introduced.entry(by).or_default() += 1;
            }
        }
        for (did, peer) in &self.peers {
            let asked = outstanding.get(did).copied().unwrap_or(0);
            let pending = introduced.get(did).copied().unwrap_or(0);
            if peer.outstanding != asked || peer.introduced != pending {
                return Err(format!(
                    "peer {}: outstanding {} and introduced {}, but {asked} pending ids asked from \
                     it and {pending} introduced by it",
                    did.short(),
                    peer.outstanding,
                    peer.introduced
                ));
            }
        }
        Ok(())
    }
}
