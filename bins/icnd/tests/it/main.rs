//! Tests of the real `icnd` binary: signals, exit codes, promtool and a live Prometheus.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design; helpers here are test code.

mod daemon;
mod metrics_security;
mod network;
mod prometheus;
mod rules;
mod secrets;

use std::path::Path;

/// Path of the `icnd` binary cargo built for these tests.
pub fn icnd() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_icnd"))
}
