//! Test harness for ICN: in-process nodes and clusters, metrics scraping and parsing, waiting on
//! conditions, and (later) the deterministic simulator.
//!
//! # Layout
//! - [`process`]: real `icnd` processes (signals, exit codes, external tools).
//! - [`scrape`]: fetch a node's `/metrics` and query the parsed page with typed accessors.
//! - [`wait`]: `wait_until`, the only way tests wait (no fixed sleeps).
//! - [`tools`]: locating external programs tests need (promtool, prometheus) and free ports.

pub mod process;
pub mod scrape;
pub mod tools;
pub mod wait;

pub use scrape::{Histogram, Metrics, scrape};
pub use wait::wait_until;
