//! A simulated network: messages between numbered nodes over links that go up and down, with
//! random latency (hence reordering), loss and duplication, all drawn from a seeded RNG.
//!
//! Links model connections: a message is only delivered if the link it was sent on is still
//! the same connection when it arrives (a link that went down and up again in between is a
//! new connection, and the old one's messages are lost), as with QUIC.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Node number in a simulation.
pub type NodeIdx = usize;

/// How links behave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// Smallest one-way latency in virtual ms (at least 1).
    pub min_latency_ms: u64,
    /// Largest one-way latency in virtual ms.
    pub max_latency_ms: u64,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a message is delivered twice (with independent latencies).
    pub duplicate: f64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            min_latency_ms: 5,
            max_latency_ms: 150,
            loss: 0.02,
            duplicate: 0.02,
        }
    }
}

/// Counters of what the network did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Messages handed to [`SimNetwork::send`].
    pub sent: u64,
    /// Messages (copies included) delivered.
    pub delivered: u64,
    /// Messages lost at random.
    pub lost: u64,
    /// Extra copies scheduled.
    pub duplicated: u64,
    /// Messages dropped because their link was down when sent or had changed on arrival.
    pub cut: u64,
}

/// A message arriving.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery<M> {
    /// Virtual time of arrival.
    pub at_ms: u64,
    /// Sender.
    pub from: NodeIdx,
    /// Recipient.
    pub to: NodeIdx,
    /// The message.
    pub msg: M,
}

/// One message in flight, ordered by (arrival, sequence) so ties replay deterministically.
struct InFlight<M> {
    at_ms: u64,
    seq: u64,
    from: NodeIdx,
    to: NodeIdx,
    /// Connection the message was sent on.
    epoch: u64,
    msg: M,
}

impl<M> PartialEq for InFlight<M> {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ms, self.seq) == (other.at_ms, other.seq)
    }
}
impl<M> Eq for InFlight<M> {}
impl<M> PartialOrd for InFlight<M> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<M> Ord for InFlight<M> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at_ms, self.seq).cmp(&(other.at_ms, other.seq))
    }
}

/// The network: an event queue of messages in flight plus the state of every link.
pub struct SimNetwork<M> {
    config: LinkConfig,
    rng: ChaCha8Rng,
    queue: BinaryHeap<Reverse<InFlight<M>>>,
    seq: u64,
    /// Links that are up, by unordered pair, with their connection number.
    links: BTreeMap<(NodeIdx, NodeIdx), u64>,
    next_epoch: u64,
    stats: NetStats,
}

fn pair(a: NodeIdx, b: NodeIdx) -> (NodeIdx, NodeIdx) {
    (a.min(b), a.max(b))
}

impl<M: Clone> SimNetwork<M> {
    /// An empty network (every link down) whose randomness comes from `seed`.
    pub fn new(config: LinkConfig, seed: u64) -> SimNetwork<M> {
        SimNetwork {
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            queue: BinaryHeap::new(),
            seq: 0,
            links: BTreeMap::new(),
            next_epoch: 0,
            stats: NetStats::default(),
        }
    }

    /// Whether `a` and `b` are connected.
    pub fn is_up(&self, a: NodeIdx, b: NodeIdx) -> bool {
        self.links.contains_key(&pair(a, b))
    }

    /// Connects or disconnects `a` and `b`; returns whether that changed anything. Bringing a
    /// link up makes a new connection: messages of the previous one are never delivered.
    pub fn set_link(&mut self, a: NodeIdx, b: NodeIdx, up: bool) -> bool {
        let key = pair(a, b);
        if up == self.links.contains_key(&key) {
            return false;
        }
        if up {
            self.links.insert(key, self.next_epoch);
            self.next_epoch += 1;
        } else {
            self.links.remove(&key);
        }
        true
    }

    /// Sends `msg` at virtual time `now_ms`: lost, delivered once or twice, each copy after
    /// its own random latency.
    pub fn send(&mut self, now_ms: u64, from: NodeIdx, to: NodeIdx, msg: M) {
        self.stats.sent += 1;
        let Some(&epoch) = self.links.get(&pair(from, to)) else {
            self.stats.cut += 1;
            return;
        };
        if self.rng.gen_bool(self.config.loss) {
            self.stats.lost += 1;
            return;
        }
        if self.rng.gen_bool(self.config.duplicate) {
            self.stats.duplicated += 1;
            let copy = msg.clone();
            self.schedule(now_ms, from, to, epoch, copy);
        }
        self.schedule(now_ms, from, to, epoch, msg);
    }

    fn schedule(&mut self, now_ms: u64, from: NodeIdx, to: NodeIdx, epoch: u64, msg: M) {
        let min = self.config.min_latency_ms.max(1);
        let latency = self
            .rng
            .gen_range(min..=self.config.max_latency_ms.max(min));
        self.seq += 1;
        self.queue.push(Reverse(InFlight {
            at_ms: now_ms + latency,
            seq: self.seq,
            from,
            to,
            epoch,
            msg,
        }));
    }

    /// Arrival time of the next message in flight.
    pub fn next_at(&self) -> Option<u64> {
        self.queue.peek().map(|Reverse(m)| m.at_ms)
    }

    /// The next message arriving at or before `now_ms` on a connection that still exists.
    pub fn pop_due(&mut self, now_ms: u64) -> Option<Delivery<M>> {
        while self
            .queue
            .peek()
            .is_some_and(|Reverse(m)| m.at_ms <= now_ms)
        {
            let Reverse(m) = self.queue.pop()?;
            if self.links.get(&pair(m.from, m.to)) != Some(&m.epoch) {
                self.stats.cut += 1;
                continue;
            }
            self.stats.delivered += 1;
            return Some(Delivery {
                at_ms: m.at_ms,
                from: m.from,
                to: m.to,
                msg: m.msg,
            });
        }
        None
    }

    /// Messages in flight (some may be dropped on arrival).
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// What the network did so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_in_time_order_only_on_live_connections() {
        let config = LinkConfig {
            min_latency_ms: 1,
            max_latency_ms: 100,
            loss: 0.0,
            duplicate: 0.0,
        };
        let mut net = SimNetwork::new(config, 1);
        net.send(0, 0, 1, 0u32);
        assert_eq!(net.stats().cut, 1);
        net.set_link(0, 1, true);
        for i in 0..50 {
            net.send(0, 0, 1, i);
        }
        let mut last = 0;
        let mut got = 0;
        while let Some(d) = net.pop_due(1_000) {
            assert!(d.at_ms >= last);
            last = d.at_ms;
            got += 1;
        }
        assert_eq!(got, 50);
        // A message sent before a reconnect is lost.
        net.send(0, 1, 0, 99);
        net.set_link(0, 1, false);
        net.set_link(1, 0, true);
        assert_eq!(net.pop_due(1_000), None);
        assert_eq!(net.stats().cut, 2);
    }
}
