//! Integration tests of the control API: a real server on 127.0.0.1:0 with a scripted backend,
//! driven by the typed client and by raw HTTP.

#![allow(clippy::unwrap_used)]

mod api;
mod backend;
mod gossip;
mod harness;
mod ledger;
mod lifecycle;
mod metrics;
mod watch;
