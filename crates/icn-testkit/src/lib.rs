//! Test harness for ICN: in-process nodes and clusters, metrics scraping and parsing, waiting on
//! conditions, and (later) the deterministic simulator.
//!
//! # Layout
//! - [`cluster`]: in-process clusters of full nodes (real QUIC on loopback), link cuts, restarts.
//! - [`process`]: real `icnd` processes (signals, exit codes, external tools).
//! - [`netns`]: network namespaces joined by a bridge, for real partitions and mDNS.
//! - [`process_cluster`]: clusters of real `icnd` processes (kill -9, SIGTERM, restarts).
//! - [`mod@scrape`]: fetch a node's `/metrics` and query the parsed page with typed accessors.
//! - [`sim`]: the deterministic simulator (gossip and ledger cores over a simulated network, seeded).
//! - [`wait`]: `wait_until`, the only way tests wait (no fixed sleeps).
//! - [`pki`]: a throw-away CA and server certificate for TLS endpoint tests.
//! - [`tools`]: locating external programs tests need (promtool, prometheus) and free ports.

pub mod cluster;
pub mod netns;
pub mod pki;
pub mod process;
pub mod process_cluster;
pub mod scrape;
pub mod sim;
pub mod tools;
pub mod wait;

pub use cluster::{Cluster, MetricsMode, Topology};
pub use process_cluster::ProcessCluster;
pub use scrape::{Histogram, Metrics, scrape};
pub use wait::wait_until;
