//! Tests of the real `icnd` binary: signals, exit codes, process-level faults, promtool and a
//! live Prometheus.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design; helpers here are test code.

mod daemon;
mod devnet;
mod faults;
mod live;
mod metrics_security;
mod netns;
mod network;
mod prometheus;
mod remote_write;
mod rules;
mod secrets;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Path of the `icnd` binary cargo built for these tests.
pub fn icnd() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_icnd"))
}

/// Path of the `icnctl` binary next to `icnd` (built by the workspace test run).
pub fn icnctl() -> PathBuf {
    let path = icnd().with_file_name("icnctl");
    assert!(
        path.exists(),
        "{} is missing: run the workspace tests (cargo nextest run --workspace)",
        path.display()
    );
    path
}

/// `icnd init --data-dir DIR --password-file PASSWORD`; returns the printed DID.
pub fn init(dir: &Path, password: &Path) -> String {
    let output = Command::new(icnd())
        .args(["init", "--data-dir"])
        .arg(dir)
        .arg("--password-file")
        .arg(password)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// Runs `icnctl --json --data-dir DIR ARGS`, fails unless it succeeds, returns its JSON answer.
pub fn ctl(dir: &Path, args: &[&str]) -> serde_json::Value {
    let output = Command::new(icnctl())
        .args(["--json", "--data-dir"])
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "icnctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `icnd run` on free loopback ports with `extra` flags; returns (success, stderr).
pub fn run_expecting_exit(
    data_dir: &std::path::Path,
    extra: &[&std::ffi::OsStr],
) -> (bool, String) {
    let output = Command::new(icnd())
        .args([
            "run",
            "--metrics-addr",
            "127.0.0.1:0",
            "--rpc-addr",
            "127.0.0.1:0",
        ])
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
