//! A scripted malicious peer: it claims every topic, announces and serves entries that must
//! never be stored, pushes unsolicited ones, floods announces and sends malformed
//! reconciliation messages. It runs no gossip core.

use std::collections::BTreeMap;

use icn_gossip::message::{MAX_FRAME_BYTES, pack_entries};
use icn_gossip::reconcile::ReconcileMessage;
use icn_gossip::{Entry, EntryId, GossipMessage, Keypair, Topic};
use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;

use super::net::NodeIdx;

/// One kind of misbehaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Attack {
    /// Announce and serve an entry whose signature is not the author's.
    BadSignature,
    /// Announce and serve a correctly signed entry whose payload is over the limit.
    Oversized,
    /// Announce and serve a correctly signed entry from far in the future.
    FutureTimestamp,
    /// Announce a random id and answer its request with some other valid entry.
    ForgedId,
    /// Push a valid entry nobody asked for.
    Unsolicited,
    /// Announce far more random ids than a message may carry.
    JunkFlood,
    /// Announce, under a topic the target follows, an entry of a topic nobody follows.
    WrongTopic,
    /// Send a malformed reconciliation message with random `have` ids.
    BadReconcile,
}

impl Attack {
    /// Every attack.
    pub const ALL: [Attack; 8] = [
        Attack::BadSignature,
        Attack::Oversized,
        Attack::FutureTimestamp,
        Attack::ForgedId,
        Attack::Unsolicited,
        Attack::JunkFlood,
        Attack::WrongTopic,
        Attack::BadReconcile,
    ];
}

/// Topic no honest node follows.
pub(crate) const EVIL_TOPIC: &str = "evil";

/// State of the malicious peer.
pub(crate) struct Hostile {
    key: Keypair,
    /// Signs the bad signatures.
    other: Keypair,
    /// What it answers to a request for each id it announced.
    answers: BTreeMap<EntryId, Entry>,
    max_payload_bytes: usize,
    max_ids_per_message: usize,
}

impl Hostile {
    pub(crate) fn new(rng: &mut ChaCha8Rng, max_payload_bytes: usize, max_ids: usize) -> Hostile {
        Hostile {
            key: Keypair::from_secret_bytes(&rng.r#gen()),
            other: Keypair::from_secret_bytes(&rng.r#gen()),
            answers: BTreeMap::new(),
            max_payload_bytes,
            max_ids_per_message: max_ids,
        }
    }

    pub(crate) fn key(&self) -> &Keypair {
        &self.key
    }

    fn random_id(rng: &mut ChaCha8Rng) -> EntryId {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        EntryId::from_bytes(bytes)
    }

    fn valid(&self, rng: &mut ChaCha8Rng, topic: &Topic, now_ms: u64) -> Entry {
        let mut payload = vec![0u8; rng.gen_range(1..32)];
        rng.fill_bytes(&mut payload);
        Entry::sign(&self.key, topic.clone(), now_ms, payload)
    }

    /// Performs `attack` on `targets` using `topic` (one they follow); returns the sends.
    pub(crate) fn attack(
        &mut self,
        attack: Attack,
        rng: &mut ChaCha8Rng,
        topic: &Topic,
        now_ms: u64,
        targets: &[NodeIdx],
    ) -> Vec<(NodeIdx, GossipMessage)> {
        let msg = match attack {
            Attack::BadSignature => {
                let mut e = self.valid(rng, topic, now_ms);
                e.signature = self.other.sign(b"not the author");
                self.serve(e)
            }
            Attack::Oversized => {
                let payload = vec![0xee; self.max_payload_bytes + 1];
                self.serve(Entry::sign(&self.key, topic.clone(), now_ms, payload))
            }
            Attack::FutureTimestamp => {
                let e = self.valid(rng, topic, now_ms + 10_000_000_000);
                self.serve(e)
            }
            Attack::ForgedId => {
                let forged = Hostile::random_id(rng);
                let e = self.valid(rng, topic, now_ms);
                self.answers.insert(forged, e);
                announce(topic, vec![forged])
            }
            Attack::Unsolicited => GossipMessage::Response {
                entries: vec![self.valid(rng, topic, now_ms)],
            },
            Attack::JunkFlood => {
                let n = 3 * self.max_ids_per_message;
                announce(topic, (0..n).map(|_| Hostile::random_id(rng)).collect())
            }
            Attack::WrongTopic => {
                let evil = Topic::new(EVIL_TOPIC).unwrap_or_else(|_| topic.clone());
                let e = self.valid(rng, &evil, now_ms);
                let id = e.id();
                self.answers.insert(id, e);
                announce(topic, vec![id])
            }
            Attack::BadReconcile => GossipMessage::Reconcile {
                topic: topic.clone(),
                msg: Some(ReconcileMessage { ranges: vec![] }),
                have: (0..5).map(|_| Hostile::random_id(rng)).collect(),
            },
        };
        targets.iter().map(|t| (*t, msg.clone())).collect()
    }

    /// Remembers `e` under its real id and announces it.
    fn serve(&mut self, e: Entry) -> GossipMessage {
        let id = e.id();
        let topic = e.topic.clone();
        self.answers.insert(id, e);
        announce(&topic, vec![id])
    }

    /// Answers requests for what it announced; ignores everything else.
    pub(crate) fn receive(
        &self,
        from: NodeIdx,
        msg: GossipMessage,
    ) -> Vec<(NodeIdx, GossipMessage)> {
        let GossipMessage::Request { ids } = msg else {
            return Vec::new();
        };
        let entries: Vec<Entry> = ids
            .iter()
            .filter_map(|id| self.answers.get(id).cloned())
            .collect();
        pack_entries(entries, MAX_FRAME_BYTES)
            .into_iter()
            .map(|m| (from, m))
            .collect()
    }
}

fn announce(topic: &Topic, ids: Vec<EntryId>) -> GossipMessage {
    GossipMessage::Announce {
        topic: topic.clone(),
        ids,
    }
}
