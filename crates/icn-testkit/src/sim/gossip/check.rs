//! The properties of a gossip run: what may be stored, and when the nodes have converged.

use std::collections::BTreeSet;

use icn_gossip::proto::Source;
use icn_gossip::{Entry, EntryId, Topic};

use super::GossipSim;
use crate::sim::net::NodeIdx;

impl GossipSim {
    /// Records a store write after checking that the entry deserves it: a local entry must
    /// verify; a received one must be, byte for byte, an entry an honest node published.
    pub(super) fn store(&mut self, i: NodeIdx, id: EntryId, entry: Entry, source: Source) {
        let limits = self.config.gossip.entry_limits;
        let node = &self.cluster.nodes[i];
        let problem = if !node.subscribed.contains(&entry.topic) {
            Some("is on a topic the node does not follow")
        } else if node.store.contains_key(&id) {
            Some("was stored twice")
        } else if source == Source::Local {
            (entry.verify(&limits, self.cluster.node_now(i)) != Ok(id)).then_some("does not verify")
        } else if self.originals.get(&id) != Some(&entry) {
            Some("is not an entry an honest node published")
        } else {
            None
        };
        if let Some(problem) = problem {
            self.cluster.violations.push(format!(
                "node {i} stored {id:?} from {source:?}, which {problem}"
            ));
            return;
        }
        if source == Source::Local {
            self.valid
                .entry(entry.topic.clone())
                .or_default()
                .insert(id);
            self.originals.insert(id, entry.clone());
        }
        self.cluster.nodes[i].store.insert(id, entry);
    }

    /// Per node and topic: (held, expected) when they differ.
    fn differences(&self) -> Vec<(NodeIdx, &Topic, BTreeSet<EntryId>, BTreeSet<EntryId>)> {
        let empty = BTreeSet::new();
        let mut out = Vec::new();
        for (i, node) in self.cluster.nodes.iter().enumerate() {
            for topic in &self.cluster.topics {
                let held: BTreeSet<EntryId> = node
                    .store
                    .iter()
                    .filter(|(_, e)| e.topic == *topic)
                    .map(|(id, _)| *id)
                    .collect();
                let expected = if node.subscribed.contains(topic) {
                    self.valid.get(topic).unwrap_or(&empty).clone()
                } else {
                    BTreeSet::new()
                };
                let core_view: Option<BTreeSet<EntryId>> =
                    node.core.as_ref().map(|c| c.ids(topic).collect());
                if held != expected || core_view.as_ref() != Some(&held) {
                    out.push((i, topic, held, expected));
                }
            }
        }
        out
    }

    pub(super) fn converged(&self) -> bool {
        self.differences().is_empty()
    }

    pub(super) fn divergence(&self) -> String {
        self.differences()
            .iter()
            .map(|(i, topic, held, expected)| {
                format!(
                    "node {i} {topic}: holds {}, expected {} ({} missing, {} extra)",
                    held.len(),
                    expected.len(),
                    expected.difference(held).count(),
                    held.difference(expected).count()
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}
