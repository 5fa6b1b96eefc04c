//! Integration tests across crates, on real in-process nodes.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design; helpers here are test code.

mod cluster;
mod flood;
mod gossip;
mod ledger;
mod metrics_security;
mod node;
mod sim_gossip;
mod sim_ledger;
