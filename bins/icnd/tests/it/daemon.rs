//! Process-level behaviour of `icnd run`.

use std::process::Command;
use std::time::{Duration, Instant};

use icn_testkit::process::IcndProcess;
use nix::sys::signal::Signal;

use crate::icnd;

#[test]
fn sigterm_stops_gracefully_with_exit_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = IcndProcess::start(icnd(), &dir.path().join("n1"), &[]).unwrap();
    let started = Instant::now();
    node.signal(Signal::SIGTERM).unwrap();
    let status = node.wait_exit(Duration::from_secs(5)).unwrap();
    assert_eq!(status.code(), Some(0), "stderr:\n{}", node.stderr());
    assert!(started.elapsed() < Duration::from_secs(5));
    let stderr = node.stderr();
    assert!(stderr.contains("SIGTERM"), "{stderr}");
    assert!(!stderr.contains("ERROR"), "{stderr}");
}

#[test]
fn log_events_are_counted_by_level() {
    let dir = tempfile::tempdir().unwrap();
    let node = IcndProcess::start(icnd(), &dir.path().join("n1"), &[]).unwrap();
    let addr = node.metrics_addr().unwrap();
    let page = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(icn_testkit::scrape(addr))
        .unwrap();
    // What the process wrote to stderr so far, by level, is what the counter says.
    let stderr = node.stderr();
    let lines = |level: &str| stderr.lines().filter(|l| l.contains(level)).count() as f64;
    assert_eq!(
        page.value_with("icn_log_messages_total", &[("level", "warn")]),
        Some(lines(" WARN "))
    );
    assert!(
        lines(" WARN ") >= 1.0,
        "no-identity warning expected:\n{stderr}"
    );
    assert_eq!(
        page.value_with("icn_log_messages_total", &[("level", "info")]),
        Some(lines(" INFO "))
    );
    assert_eq!(
        page.value_with("icn_log_messages_total", &[("level", "error")]),
        Some(0.0)
    );
}

#[test]
fn sigint_stops_gracefully_with_exit_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = IcndProcess::start(icnd(), &dir.path().join("n1"), &[]).unwrap();
    node.signal(Signal::SIGINT).unwrap();
    let status = node.wait_exit(Duration::from_secs(5)).unwrap();
    assert_eq!(status.code(), Some(0), "stderr:\n{}", node.stderr());
}

#[test]
fn port_in_use_exits_non_zero_naming_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let first = IcndProcess::start(icnd(), &dir.path().join("n1"), &[]).unwrap();
    let taken = first.metrics_addr().unwrap().to_string();
    let output = Command::new(icnd())
        .args(["run", "--data-dir"])
        .arg(dir.path().join("n2"))
        .args(["--metrics-addr", &taken])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&taken), "{stderr}");
    // Said once: the error names the address, its cause says why.
    assert_eq!(stderr.matches("in use").count(), 1, "{stderr}");
}

#[test]
fn bad_config_key_exits_non_zero_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("icn.toml");
    std::fs::write(&config, "[metrics]\nlisten = \"127.0.0.1:1\"\n").unwrap();
    let output = Command::new(icnd())
        .args(["run", "--data-dir"])
        .arg(dir.path().join("n1"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("listen"), "{stderr}");
}

#[test]
fn env_and_flags_reach_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("n1");
    // ICN_METRICS_PATH from the environment, JSON logs from the flag.
    let child = Command::new(icnd())
        .args([
            "run",
            "--metrics-addr",
            "127.0.0.1:0",
            "--rpc-addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(&data)
        .env("ICN_METRICS_PATH", "/prom")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let addr_file = data.join("metrics.addr");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !addr_file.exists() {
        assert!(Instant::now() < deadline, "icnd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let addr = std::fs::read_to_string(&addr_file).unwrap();
    let body = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            reqwest::get(format!("http://{}/prom", addr.trim()))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
    })
    .join()
    .unwrap();
    assert!(body.contains("icn_system_uptime_seconds"));
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, Signal::SIGTERM).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first = stderr.lines().next().unwrap();
    let line: serde_json::Value = serde_json::from_str(first).expect("JSON log lines");
    assert!(line["level"].is_string(), "{first}");
}

#[test]
fn version_and_help() {
    let output = Command::new(icnd()).arg("--version").output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("icnd {}", env!("CARGO_PKG_VERSION"))
    );
    let output = Command::new(icnd())
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--metrics-addr",
        "--metrics-path",
        "--no-metrics",
        "--log-format",
        "--config",
    ] {
        assert!(help.contains(flag), "{flag} missing from help");
    }
}
