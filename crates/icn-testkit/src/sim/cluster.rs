//! [`GossipCluster`]: honest gossip cores with simulated stores over a [`SimNetwork`], shared
//! by the gossip and ledger simulators.
//!
//! The cluster owns what every simulated gossip node needs and nothing protocol-specific:
//! keys, clocks, entry stores that survive restarts, cores that come and go, links kept in line
//! with liveness and the current partition, and the sending side of a core's outputs. What a
//! stored entry means (and whether it deserved storing) is the simulator's business: it gets
//! every other output back from [`GossipCluster::perform`].

use std::collections::{BTreeMap, BTreeSet};

use icn_gossip::message::{MAX_FRAME_BYTES, pack_entries, pack_push};
use icn_gossip::proto::{GossipConfig, GossipCore, Input, Output};
use icn_gossip::{Did, Entry, EntryId, GossipMessage, Keypair, Topic};

use super::net::{NodeIdx, SimNetwork};

/// A simulated honest gossip node.
pub(crate) struct GossipNode {
    pub(crate) key: Keypair,
    /// How far the node's clock is ahead of virtual time.
    pub(crate) clock_offset_ms: u64,
    pub(crate) subscribed: BTreeSet<Topic>,
    /// Survives restarts.
    pub(crate) store: BTreeMap<EntryId, Entry>,
    /// `None` while the node is down.
    pub(crate) core: Option<GossipCore>,
    /// Starts so far; part of each core's RNG seed.
    pub(crate) incarnation: u64,
}

impl GossipNode {
    /// A node that is down and has stored nothing.
    pub(crate) fn new(key: Keypair, clock_offset_ms: u64, subscribed: BTreeSet<Topic>) -> Self {
        GossipNode {
            key,
            clock_offset_ms,
            subscribed,
            store: BTreeMap::new(),
            core: None,
            incarnation: 0,
        }
    }
}

/// Honest gossip nodes, plus scripted peers that run no core (numbered after the nodes), over
/// one network.
pub(crate) struct GossipCluster {
    config: GossipConfig,
    seed: u64,
    /// Virtual time.
    pub(crate) now_ms: u64,
    pub(crate) net: SimNetwork<GossipMessage>,
    pub(crate) nodes: Vec<GossipNode>,
    /// Every node's DID, then every scripted peer's.
    pub(crate) dids: Vec<Did>,
    by_did: BTreeMap<Did, NodeIdx>,
    /// Every topic of the run (what a scripted peer claims to follow).
    pub(crate) topics: Vec<Topic>,
    /// Side of each node while partitioned; scripted peers sit on both sides.
    pub(crate) partition: Option<Vec<bool>>,
    /// Properties found violated, first first.
    pub(crate) violations: Vec<String>,
}

impl GossipCluster {
    /// A cluster whose nodes are all down; `peers` are the scripted peers' DIDs.
    pub(crate) fn new(
        config: GossipConfig,
        seed: u64,
        nodes: Vec<GossipNode>,
        peers: impl IntoIterator<Item = Did>,
        topics: Vec<Topic>,
        net: SimNetwork<GossipMessage>,
    ) -> GossipCluster {
        let mut dids: Vec<Did> = nodes.iter().map(|n| n.key.did()).collect();
        dids.extend(peers);
        let by_did = dids.iter().enumerate().map(|(i, d)| (*d, i)).collect();
        GossipCluster {
            config,
            seed,
            now_ms: 0,
            net,
            nodes,
            dids,
            by_did,
            topics,
            partition: None,
            violations: Vec::new(),
        }
    }

    /// Node `i`'s clock.
    pub(crate) fn node_now(&self, i: NodeIdx) -> u64 {
        self.now_ms + self.nodes[i].clock_offset_ms
    }

    /// Whether `i` and `j` should be connected now.
    fn linked(&self, i: NodeIdx, j: NodeIdx) -> bool {
        let alive = |k: NodeIdx| self.nodes.get(k).is_none_or(|n| n.core.is_some());
        let side = |k: NodeIdx| self.partition.as_ref().and_then(|p| p.get(k).copied());
        let same_side = match (side(i), side(j)) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        alive(i) && alive(j) && same_side
    }

    /// Brings links in line with node liveness and the partition, telling the cores. Their
    /// sends go out at once (before the next link changes); whatever else they output is
    /// returned, by node, for the caller.
    #[must_use]
    pub(crate) fn refresh_links(&mut self) -> Vec<(NodeIdx, Output)> {
        let n = self.dids.len();
        let mut rest = Vec::new();
        for i in 0..n {
            for j in i + 1..n {
                let up = self.linked(i, j);
                if self.net.set_link(i, j, up) {
                    self.link_changed(i, j, up, &mut rest);
                    self.link_changed(j, i, up, &mut rest);
                }
            }
        }
        rest
    }

    /// Tells node `i` (if a node and up) that `peer` went up or down.
    fn link_changed(
        &mut self,
        i: NodeIdx,
        peer: NodeIdx,
        up: bool,
        rest: &mut Vec<(NodeIdx, Output)>,
    ) {
        let did = self.dids[peer];
        let input = if up {
            let topics = match self.nodes.get(peer) {
                Some(node) => node.subscribed.iter().cloned().collect(),
                None => self.topics.clone(),
            };
            Input::PeerUp { peer: did, topics }
        } else {
            Input::PeerDown { peer: did }
        };
        for output in self.feed(i, input) {
            if let Some(other) = self.perform(i, output) {
                rest.push((i, other));
            }
        }
    }

    /// Builds node `i`'s core from its store (the caller then refreshes links). Returns
    /// `false` if it was already up.
    pub(crate) fn start(&mut self, i: NodeIdx) -> bool {
        let node = &mut self.nodes[i];
        if node.core.is_some() {
            return false;
        }
        node.incarnation += 1;
        let stored: Vec<(EntryId, Topic, u64)> = node
            .store
            .iter()
            .map(|(id, e)| (*id, e.topic.clone(), e.timestamp_ms))
            .collect();
        let seed = self
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add((i as u64) << 32 | node.incarnation);
        node.core = Some(GossipCore::new(
            self.config.clone(),
            node.key.did(),
            seed,
            stored,
            node.subscribed.iter().cloned(),
        ));
        true
    }

    /// Takes node `i`'s core down after checking it one last time (the caller then refreshes
    /// links and may read the core's counters).
    pub(crate) fn stop(&mut self, i: NodeIdx) -> Option<GossipCore> {
        let core = self.nodes[i].core.take()?;
        if let Err(e) = core.check_invariants() {
            self.violations.push(format!("node {i}: {e}"));
        }
        Some(core)
    }

    /// Checks node `i`'s full invariants (if up).
    pub(crate) fn check(&mut self, i: NodeIdx) {
        if let Some(Err(e)) = self.nodes[i]
            .core
            .as_ref()
            .map(GossipCore::check_invariants)
        {
            self.violations.push(format!("node {i}: {e}"));
        }
    }

    /// Hands `input` to node `i`'s core (if up) at its clock; checks its caps; returns its
    /// outputs for the caller to go through [`GossipCluster::perform`], in order.
    #[must_use]
    pub(crate) fn feed(&mut self, i: NodeIdx, input: Input) -> Vec<Output> {
        let Some(node) = self.nodes.get_mut(i) else {
            return Vec::new();
        };
        let now = self.now_ms + node.clock_offset_ms;
        let Some(core) = node.core.as_mut() else {
            return Vec::new();
        };
        let outputs = core.handle(input, now);
        if let Err(e) = core.check_caps() {
            self.violations.push(format!("node {i}: {e}"));
        }
        outputs
    }

    /// Hands a delivered message to its recipient node; see [`GossipCluster::feed`].
    #[must_use]
    pub(crate) fn deliver(
        &mut self,
        from: NodeIdx,
        to: NodeIdx,
        msg: GossipMessage,
    ) -> Vec<Output> {
        let from = self.dids[from];
        self.feed(to, Input::Message { from, msg })
    }

    /// Carries out a send of node `i`'s core; hands any other output back.
    pub(crate) fn perform(&mut self, i: NodeIdx, output: Output) -> Option<Output> {
        match output {
            Output::Send { to, msg } => self.send_to(i, &to, msg),
            Output::SendEntries { to, ids } => {
                let store = &self.nodes[i].store;
                let entries: Vec<Entry> =
                    ids.iter().filter_map(|id| store.get(id).cloned()).collect();
                for msg in pack_entries(entries, MAX_FRAME_BYTES) {
                    self.send_to(i, &to, msg);
                }
            }
            Output::Push {
                to,
                entries,
                pushed_to,
            } => {
                let max = GossipConfig::default().max_ids_per_message;
                for msg in pack_push(entries, &pushed_to, MAX_FRAME_BYTES, max) {
                    for peer in &to {
                        self.send_to(i, peer, msg.clone());
                    }
                }
            }
            other => return Some(other),
        }
        None
    }

    fn send_to(&mut self, i: NodeIdx, to: &Did, msg: GossipMessage) {
        match self.by_did.get(to) {
            Some(&j) => self.net.send(self.now_ms, i, j, msg),
            None => self
                .violations
                .push(format!("node {i} sent to an unknown DID {to}")),
        }
    }
}
