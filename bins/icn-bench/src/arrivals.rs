//! Watching entries arrive at many nodes: one task per node forwards each new entry of a topic
//! with its arrival time, so a scenario can tell when every node holds an entry.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use icn_gossip::{EntryId, SubscriptionEvent, Topic};
use icn_testkit::Cluster;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// One entry (or a batch of missed ones) seen by one node.
#[derive(Debug)]
enum Arrival {
    Entry {
        node: usize,
        id: EntryId,
        at: Instant,
    },
    Missed {
        node: usize,
        count: u64,
    },
}

/// Arrivals at a set of nodes; the watcher tasks stop when this is dropped.
pub struct Arrivals {
    rx: mpsc::UnboundedReceiver<Arrival>,
    /// Arrivals of entries not waited for yet, by id.
    early: HashMap<EntryId, Vec<Instant>>,
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
                            id: entry.id(),
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
            Arrival::Entry { node, id, at } => {
                self.counts[node] += 1;
                self.last = at;
                self.early.entry(id).or_default().push(at);
            }
            Arrival::Missed { node, count } => {
                self.counts[node] += count;
                self.last = Instant::now();
            }
        }
        Ok(())
    }

    /// Waits until `receivers` nodes hold `id`; returns the time of the last arrival.
    ///
    /// # Errors
    /// When that does not happen within `timeout`.
    pub async fn all_hold(
        &mut self,
        id: &EntryId,
        receivers: usize,
        timeout: Duration,
    ) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(times) = self.early.get(id)
                && times.len() >= receivers
                && let Some(last) = times.iter().max().copied()
            {
                self.early.remove(id);
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
