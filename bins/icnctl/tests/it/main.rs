//! Runs the real `icnctl` binary against a closed port and against a real RPC server with a
//! scripted backend; `top` against a real in-process cluster.

#![allow(clippy::unwrap_used)]

mod basic;
mod gossip;
mod ledger;
mod node;
mod top;
