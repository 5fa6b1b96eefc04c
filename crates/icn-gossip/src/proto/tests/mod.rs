//! Unit tests of the gossip core: one core driven by hand, or a few cores over an instant,
//! lossless in-memory mesh.

mod anti_entropy;
mod budgets;
mod push;
mod requests;
mod validation;

use std::collections::{BTreeMap, VecDeque};

use icn_identity::{Did, Keypair};

use super::*;
use crate::message::{MAX_FRAME_BYTES, pack_entries};

/// A plausible wall clock, so timestamps look real.
const T0: u64 = 1_800_000_000_000;

fn key(n: u8) -> Keypair {
    Keypair::from_secret_bytes(&[n; 32])
}

fn did(n: u8) -> Did {
    key(n).did()
}

fn topic(name: &str) -> Topic {
    Topic::new(name).expect("valid topic")
}

fn entry(author: u8, t: &str, n: u32) -> Entry {
    Entry::sign(&key(author), topic(t), T0, n.to_le_bytes().to_vec())
}

/// A core for node 0, subscribed to `topics`, nothing stored.
fn core_with(config: GossipConfig, topics: &[&str]) -> GossipCore {
    GossipCore::new(config, did(0), 7, [], topics.iter().map(|t| topic(t)))
}

fn core(topics: &[&str]) -> GossipCore {
    core_with(GossipConfig::default(), topics)
}

fn msg(from: u8, msg: GossipMessage) -> Input {
    Input::Message {
        from: did(from),
        msg,
    }
}

fn up(peer: u8, topics: &[&str]) -> Input {
    Input::PeerUp {
        peer: did(peer),
        topics: topics.iter().map(|t| topic(t)).collect(),
    }
}

fn announce(t: &str, ids: &[EntryId]) -> GossipMessage {
    GossipMessage::Announce {
        topic: topic(t),
        ids: ids.to_vec(),
    }
}

fn response(entries: &[Entry]) -> GossipMessage {
    GossipMessage::Response {
        entries: entries.to_vec(),
    }
}

/// The `Request`s in `out`, as (recipient, ids).
fn requests(out: &[Output]) -> Vec<(Did, Vec<EntryId>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send {
                to,
                msg: GossipMessage::Request { ids },
            } => Some((*to, ids.clone())),
            _ => None,
        })
        .collect()
}

/// The `Announce`s in `out`, as (recipient, ids).
fn announces(out: &[Output]) -> Vec<(Did, Vec<EntryId>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send {
                to,
                msg: GossipMessage::Announce { ids, .. },
            } => Some((*to, ids.clone())),
            _ => None,
        })
        .collect()
}

/// The `Push` outputs in `out`, as (recipients, ids).
fn pushes(out: &[Output]) -> Vec<(Vec<Did>, Vec<EntryId>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Push { to, entries, .. } => {
                Some((to.clone(), entries.iter().map(Entry::id).collect()))
            }
            _ => None,
        })
        .collect()
}

/// The `pushed_to` lists of the `Push` outputs in `out`.
fn pushed_to(out: &[Output]) -> Vec<Vec<Did>> {
    out.iter()
        .filter_map(|o| match o {
            Output::Push { pushed_to, .. } => Some(pushed_to.clone()),
            _ => None,
        })
        .collect()
}

fn stored(out: &[Output]) -> Vec<EntryId> {
    out.iter()
        .filter_map(|o| match o {
            Output::Store { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

fn rejected(out: &[Output]) -> Vec<RejectReason> {
    out.iter()
        .filter_map(|o| match o {
            Output::Rejected { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

use crate::entry::RejectReason;

/// Cores wired together; messages are delivered in FIFO order, instantly and reliably.
struct Mesh {
    nodes: Vec<(GossipCore, BTreeMap<EntryId, Entry>)>,
    queue: VecDeque<(usize, Did, GossipMessage)>,
    now: u64,
    /// Messages sent so far.
    sent: usize,
    /// Their encoded size.
    bytes: usize,
    /// Every output of every node, in order (for determinism checks).
    log: Vec<(usize, Output)>,
}

impl Mesh {
    /// Node `i` has DID `did(i)`, subscribes to `topics[i]` and holds `stores[i]`.
    fn new(config: &GossipConfig, topics: &[&[&str]], stores: Vec<Vec<Entry>>) -> Mesh {
        let nodes = topics
            .iter()
            .zip(stores)
            .enumerate()
            .map(|(i, (subs, entries))| {
                let meta: Vec<_> = entries
                    .iter()
                    .map(|e| (e.id(), e.topic.clone(), e.timestamp_ms))
                    .collect();
                let core = GossipCore::new(
                    config.clone(),
                    did(i as u8),
                    i as u64,
                    meta,
                    subs.iter().map(|t| topic(t)),
                );
                let store = entries.into_iter().map(|e| (e.id(), e)).collect();
                (core, store)
            })
            .collect();
        Mesh {
            nodes,
            queue: VecDeque::new(),
            now: T0,
            sent: 0,
            bytes: 0,
            log: Vec::new(),
        }
    }

    fn index(&self, peer: &Did) -> usize {
        (0..self.nodes.len())
            .find(|i| did(*i as u8) == *peer)
            .expect("known did")
    }

    fn input(&mut self, i: usize, input: Input) {
        let out = self.nodes[i].0.handle(input, self.now);
        for o in out {
            match &o {
                Output::Send { to, msg } => {
                    self.sent += 1;
                    self.bytes += crate::message::encode(msg).expect("encode").len();
                    self.queue.push_back((i, *to, msg.clone()));
                }
                Output::SendEntries { to, ids } => {
                    let store = &self.nodes[i].1;
                    let entries: Vec<Entry> =
                        ids.iter().filter_map(|id| store.get(id).cloned()).collect();
                    for msg in pack_entries(entries, MAX_FRAME_BYTES) {
                        self.sent += 1;
                        self.bytes += crate::message::encode(&msg).expect("encode").len();
                        self.queue.push_back((i, *to, msg));
                    }
                }
                Output::Push {
                    to,
                    entries,
                    pushed_to,
                } => {
                    for msg in crate::message::pack_push(
                        entries.clone(),
                        pushed_to,
                        MAX_FRAME_BYTES,
                        GossipConfig::default().max_ids_per_message,
                    ) {
                        for peer in to {
                            self.sent += 1;
                            self.bytes += crate::message::encode(&msg).expect("encode").len();
                            self.queue.push_back((i, *peer, msg.clone()));
                        }
                    }
                }
                Output::Store { id, entry, .. } => {
                    self.nodes[i].1.insert(*id, entry.clone());
                }
                _ => {}
            }
            self.log.push((i, o));
        }
        self.nodes[i].0.check_invariants().expect("invariants");
    }

    fn connect_all(&mut self) {
        let n = self.nodes.len();
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    let topics = self.nodes[j].0.topics().cloned().collect();
                    self.input(
                        i,
                        Input::PeerUp {
                            peer: did(j as u8),
                            topics,
                        },
                    );
                }
            }
        }
    }

    fn deliver_all(&mut self) {
        let mut steps = 0;
        while let Some((from, to, msg)) = self.queue.pop_front() {
            steps += 1;
            assert!(steps < 1_000_000, "no quiescence");
            let to = self.index(&to);
            self.input(
                to,
                Input::Message {
                    from: did(from as u8),
                    msg,
                },
            );
        }
    }

    /// Advances time by `ms`, ticks every node and delivers everything.
    fn tick(&mut self, ms: u64) {
        self.now += ms;
        for i in 0..self.nodes.len() {
            self.input(i, Input::Tick);
        }
        self.deliver_all();
    }

    fn ids(&self, i: usize, t: &str) -> Vec<EntryId> {
        self.nodes[i].0.ids(&topic(t)).collect()
    }
}
