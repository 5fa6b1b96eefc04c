//! What a `handle` call batched, sent when it ends: our own new entries pushed to the
//! followers of their topic, relayed small entries pushed on, announces per peer and topic,
//! and requests per peer.

use std::collections::BTreeMap;

use icn_identity::Did;

use super::{GossipCore, Output};
use crate::entry::{Entry, EntryId};
use crate::message::{self, GossipMessage};

impl GossipCore {
    /// Sends the pushes, announces and requests batched during this call.
    pub(super) fn flush(&mut self) {
        for (topic, entries) in std::mem::take(&mut self.push_batch) {
            let to = self.peers_sharing(&topic);
            if !to.is_empty() {
                let pushed_to = to.clone();
                self.out.push(Output::Push {
                    to,
                    entries,
                    pushed_to,
                });
            }
        }
        self.flush_relayed();
        let max = self.config.max_ids_per_message;
        for (topic, items) in std::mem::take(&mut self.announce_batch) {
            for (peer, state) in &self.peers {
                if !state.topics.contains(&topic) {
                    continue;
                }
                let ids: Vec<EntryId> = items
                    .iter()
                    .filter(|(_, holders)| !holders.contains(peer))
                    .map(|(id, _)| *id)
                    .collect();
                for ids in message::id_chunks(ids, max) {
                    self.out.push(Output::Send {
                        to: *peer,
                        msg: GossipMessage::Announce {
                            topic: topic.clone(),
                            ids,
                        },
                    });
                }
            }
        }
        for (peer, ids) in std::mem::take(&mut self.request_batch) {
            for ids in message::id_chunks(ids, max) {
                self.out.push(Output::Send {
                    to: peer,
                    msg: GossipMessage::Request { ids },
                });
            }
        }
    }

    /// Pushes the relayed entries on, one `Push` per set of recipients: each entry to the
    /// followers of its topic not known to hold it, naming those and its holders.
    fn flush_relayed(&mut self) {
        for (topic, items) in std::mem::take(&mut self.relay_batch) {
            let followers = self.peers_sharing(&topic);
            let mut groups: BTreeMap<(Vec<Did>, Vec<Did>), Vec<Entry>> = BTreeMap::new();
            for (entry, holders) in items {
                let to: Vec<Did> = followers
                    .iter()
                    .filter(|peer| !holders.contains(peer))
                    .copied()
                    .collect();
                if to.is_empty() {
                    continue;
                }
                let mut pushed_to = holders;
                pushed_to.extend_from_slice(&to);
                pushed_to.sort();
                pushed_to.dedup();
                groups.entry((to, pushed_to)).or_default().push(entry);
            }
            for ((to, pushed_to), entries) in groups {
                self.out.push(Output::Push {
                    to,
                    entries,
                    pushed_to,
                });
            }
        }
    }
}
