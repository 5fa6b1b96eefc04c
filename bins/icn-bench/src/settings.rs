//! How much work each scenario does: the `--quick` run, the full run, and the tiny run of the
//! tests. Only sample counts and durations differ, never what is measured.

use std::time::Duration;

use crate::topology::Graph;

/// One propagation case: cluster size and shape.
#[derive(Clone, Copy, Debug)]
pub struct PropagationCase {
    /// Number of nodes.
    pub nodes: usize,
    /// How they are connected.
    pub graph: Graph,
}

/// Sample counts and durations of every scenario.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Propagation cases, run in order.
    pub propagation: Vec<PropagationCase>,
    /// Entries published one after the other per propagation case.
    pub propagation_entries: usize,
    /// Payload bytes of a propagation entry.
    pub propagation_payload: usize,
    /// Entry sizes of the throughput scenario.
    pub throughput_sizes: Vec<usize>,
    /// Payload bytes published per throughput size (entries = bytes / size, at least
    /// `throughput_min_entries`).
    pub throughput_bytes: usize,
    /// Lower bound on the entries of one throughput run.
    pub throughput_min_entries: usize,
    /// Nodes of the throughput cluster (one publisher, the rest receive).
    pub throughput_nodes: usize,
    /// Bytes sent over the raw quinn stream of the baseline.
    pub quinn_bytes: usize,
    /// How long each cost of the throughput floor is timed ([`crate::floor`]).
    pub floor_budget: Duration,
    /// Bytes written and synced to measure the disk's bound ([`crate::floor`]).
    pub floor_disk_bytes: usize,
    /// How long transfers are submitted in each ledger scenario.
    pub ledger_duration: Duration,
    /// Concurrent callers paying on each node of the ledger scenarios (as many clients as a
    /// busy node serves: group commit needs callers waiting together).
    pub ledger_callers: usize,
    /// Nodes of the ledger cluster scenario.
    pub ledger_nodes: usize,
    /// Increments timed per counter-cost sample.
    pub counter_iterations: u64,
    /// Renders timed per registry size (the median is reported).
    pub render_repeats: usize,
    /// Runs of each mode (live metrics, no-op handles) of the instrumentation-overhead
    /// throughput comparison, alternated.
    pub overhead_runs: usize,
    /// 1 KiB entries published per run of that comparison.
    pub overhead_throughput_entries: usize,
    /// Nodes of the scrape-overhead scenario.
    pub overhead_nodes: usize,
    /// Entries per half of the scrape-overhead scenario.
    pub overhead_entries: usize,
    /// Scrapes per second per node in the loaded half.
    pub scrapes_per_second: u32,
    /// How long an idle node is watched for its RSS and CPU.
    pub idle_window: Duration,
    /// Nodes started in one process for the crowd footprint.
    pub crowd_nodes: usize,
}

impl Settings {
    /// Entries published in one throughput run of `size`-byte entries.
    pub fn throughput_entries(&self, size: usize) -> usize {
        (self.throughput_bytes / size.max(1)).max(self.throughput_min_entries)
    }

    /// `--quick`: every scenario with few samples; under 3 minutes on a 2-core machine.
    pub fn quick() -> Self {
        Self {
            propagation: vec![
                PropagationCase {
                    nodes: 3,
                    graph: Graph::Mesh,
                },
                PropagationCase {
                    nodes: 10,
                    graph: Graph::Mesh,
                },
                PropagationCase {
                    nodes: 10,
                    graph: Graph::Random { degree: 4 },
                },
                PropagationCase {
                    nodes: 25,
                    graph: Graph::Random { degree: 4 },
                },
            ],
            propagation_entries: 200,
            propagation_payload: 256,
            throughput_sizes: vec![1024, 64 * 1024],
            throughput_bytes: 2 * 1024 * 1024,
            throughput_min_entries: 500,
            throughput_nodes: 4,
            quinn_bytes: 256 * 1024 * 1024,
            floor_budget: Duration::from_millis(200),
            floor_disk_bytes: 512 * 1024 * 1024,
            ledger_duration: Duration::from_secs(3),
            ledger_callers: 256,
            ledger_nodes: 4,
            counter_iterations: 5_000_000,
            render_repeats: 5,
            overhead_runs: 5,
            overhead_throughput_entries: 300,
            overhead_nodes: 10,
            overhead_entries: 200,
            scrapes_per_second: 10,
            idle_window: Duration::from_secs(5),
            crowd_nodes: 50,
        }
    }

    /// The full run: every case of the issue with at least 1000 samples each.
    pub fn full() -> Self {
        let mut cases = Vec::new();
        for nodes in [3, 10, 25] {
            cases.push(PropagationCase {
                nodes,
                graph: Graph::Mesh,
            });
            cases.push(PropagationCase {
                nodes,
                graph: Graph::Random { degree: 4 },
            });
        }
        Self {
            propagation: cases,
            propagation_entries: 1000,
            throughput_bytes: 128 * 1024 * 1024,
            throughput_min_entries: 10_000,
            quinn_bytes: 1024 * 1024 * 1024,
            floor_budget: Duration::from_secs(1),
            floor_disk_bytes: 2048 * 1024 * 1024,
            ledger_duration: Duration::from_secs(10),
            ledger_callers: 256,
            counter_iterations: 50_000_000,
            render_repeats: 20,
            overhead_runs: 9,
            overhead_throughput_entries: 1500,
            overhead_entries: 1000,
            idle_window: Duration::from_secs(20),
            ..Self::quick()
        }
    }

    /// A few samples of everything, for the shape test (seconds, not minutes).
    pub fn tiny() -> Self {
        Self {
            propagation: vec![
                PropagationCase {
                    nodes: 3,
                    graph: Graph::Mesh,
                },
                PropagationCase {
                    nodes: 6,
                    graph: Graph::Random { degree: 4 },
                },
            ],
            propagation_entries: 10,
            throughput_sizes: vec![1024, 64 * 1024],
            throughput_bytes: 256 * 1024,
            throughput_min_entries: 20,
            throughput_nodes: 3,
            quinn_bytes: 4 * 1024 * 1024,
            floor_budget: Duration::from_millis(10),
            floor_disk_bytes: 4 * 1024 * 1024,
            ledger_duration: Duration::from_millis(300),
            ledger_callers: 16,
            ledger_nodes: 2,
            counter_iterations: 10_000,
            render_repeats: 1,
            overhead_runs: 1,
            overhead_throughput_entries: 20,
            overhead_nodes: 3,
            overhead_entries: 5,
            idle_window: Duration::from_millis(500),
            crowd_nodes: 4,
            ..Self::quick()
        }
    }
}
