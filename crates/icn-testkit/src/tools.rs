//! External programs and ports used by tests.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

/// Locates an external program on `PATH`.
///
/// In CI (`CI=true`) a missing program is an error: tests that need `promtool` or `prometheus`
/// must fail there, never skip. Elsewhere the caller gets `Ok(None)` and skips with a message;
/// `scripts/test.sh` installs the programs, so a developer running it never skips.
///
/// # Errors
/// When the program is missing and `CI` is set to `true`.
pub fn require_program(name: &str) -> anyhow::Result<Option<PathBuf>> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    match found {
        Some(path) => Ok(Some(path)),
        None if in_ci() => anyhow::bail!(
            "{name} is not installed and CI=true: run scripts/test.sh (it installs Debian's \
             prometheus package)"
        ),
        None => {
            eprintln!("SKIPPED: {name} not found on PATH; run scripts/test.sh to install it");
            Ok(None)
        }
    }
}

/// True when running in CI.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A loopback address with a port that was free a moment ago (for programs that cannot report
/// the port they bound, such as Prometheus).
///
/// # Errors
/// When no port can be bound.
pub fn free_loopback_addr() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}
