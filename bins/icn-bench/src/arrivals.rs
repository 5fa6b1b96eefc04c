//! Watching entries arrive at many nodes: one task per node forwards each new entry of a topic
//! with its arrival time, so a scenario can tell when every node holds an entry.
//!
//! Entries are told apart by the publish number every scenario writes in the first 8 bytes of
//! the payload ([`key_of`]), not by their id: recomputing an id hashes the whole entry (41 µs
//! for 64 KiB), work the watcher would take from the nodes it measures in the same process.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use icn_gossip::{SubscriptionEvent, Topic};
use icn_testkit::Cluster;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// One entry (or a batch of missed ones) seen by one node.
#[derive(Debug)]
enum Arrival {
    Entry { node: usize, key: u64, at: Instant },
    Missed { node: usize, count: u64 },
}

/// Arrivals at a set of nodes; the watcher tasks stop when this is dropped.
pub struct Arrivals {
    rx: mpsc::UnboundedReceiver<Arrival>,
    /// Arrivals of entries not waited for yet, by publish number.
    early: HashMap<u64, Vec<Instant>>,
    /// Entries each node has seen (including missed ones) since the watch started.
    counts: Vec<u64>,
    /// When the latest arrival was seen.
    last: Instant,
    _tasks: JoinSet<()>,
}

impl Arrivals {
    /// Starts watching `topic` at `nodes` of `cluster`.
    ///
    /// # Errors
    /// When a node's gossip is not running.
    pub async fn watch(cluster: &Cluster, nodes: &[usize], topic: &Topic) -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut tasks = JoinSet::new();
        for &node in nodes {
            let gossip = cluster
                .node(node)
                .gossip()
                .ok_or_else(|| anyhow::anyhow!("node {node} has no gossip"))?;
            let mut subscription = gossip.subscribe(topic.clone()).await?;
            let tx = tx.clone();
            tasks.spawn(async move {
                while let Some(event) = subscription.next().await {
                    let arrival = match event {
                        SubscriptionEvent::Entry(entry) => Arrival::Entry {
                            node,
                            key: key_of(&entry.payload),
                            at: Instant::now(),
                        },
                        SubscriptionEvent::Lagged(count) => Arrival::Missed { node, count },
                    };
                    if tx.send(arrival).is_err() {
                        break;
                    }
                }
            });
        }
        let counts = vec![0; cluster.len()];
        Ok(Self {
            rx,
            early: HashMap::new(),
            counts,
            last: Instant::now(),
            _tasks: tasks,
        })
    }

    async fn next(&mut self, deadline: Instant) -> anyhow::Result<()> {
        let arrival = tokio::time::timeout_at(deadline.into(), self.rx.recv())
            .await
            .map_err(|_| anyhow::anyhow!("timed out waiting for entries to arrive"))?
            .ok_or_else(|| anyhow::anyhow!("a node stopped while entries were awaited"))?;
        match arrival {
            Arrival::Entry { node, key, at } => {
                self.counts[node] += 1;
                self.last = at;
                self.early.entry(key).or_default().push(at);
            }
            Arrival::Missed { node, count } => {
                self.counts[node] += count;
                self.last = Instant::now();
            }
        }
        Ok(())
    }

    /// Waits until `receivers` nodes hold the entry whose publish number is `key`; returns the
    /// time of the last arrival.
    ///
    /// # Errors
    /// When that does not happen within `timeout`.
    pub async fn all_hold(
        &mut self,
        key: u64,
        receivers: usize,
        timeout: Duration,
    ) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(times) = self.early.get(&key)
                && times.len() >= receivers
                && let Some(last) = times.iter().max().copied()
            {
                self.early.remove(&key);
                return Ok(last);
            }
            self.next(deadline).await?;
        }
    }

    /// Waits until each watched node has seen `count` entries since the watch started;
    /// returns when the last one did.
    ///
    /// # Errors
    /// When that does not happen within `timeout`.
    pub async fn all_counted(
        &mut self,
        nodes: &[usize],
        count: u64,
        timeout: Duration,
    ) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + timeout;
        while nodes.iter().any(|&n| self.counts[n] < count) {
            self.next(deadline).await?;
        }
        self.early.clear();
        Ok(self.last)
    }
}

/// The publish number a scenario wrote in the first 8 bytes of a payload (little-endian; a
/// shorter payload is zero-padded).
pub fn key_of(payload: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = payload.len().min(8);
    bytes[..n].copy_from_slice(&payload[..n]);
    u64::from_le_bytes(bytes)
}
