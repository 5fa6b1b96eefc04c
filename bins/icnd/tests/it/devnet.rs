//! `scripts/devnet.sh`: starts the nodes, Prometheus and traffic, prints the URLs, and stops
//! everything it started on Ctrl-C (SIGINT).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use icn_testkit::tools::{free_loopback_addr, require_program};
use icn_testkit::{scrape, wait_until};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::icnd;

/// The `http://ADDR/metrics` addresses in the script's output.
fn metrics_addrs(lines: &[String]) -> Vec<SocketAddr> {
    lines
        .iter()
        .filter_map(|l| l.split("metrics http://").nth(1))
        .filter_map(|rest| rest.split('/').next()?.parse().ok())
        .collect()
}

#[tokio::test]
async fn devnet_script_runs_nodes_prometheus_and_traffic_then_stops_on_ctrl_c() {
    let prometheus = require_program("prometheus").unwrap();
    let root = tempfile::tempdir().unwrap();
    let prometheus_port = free_loopback_addr().unwrap().port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/devnet.sh");
    let mut child = Command::new("bash")
        .arg(&script)
        .arg("2")
        .env("ICN_BIN_DIR", icnd().parent().unwrap())
        .env("ICN_DEVNET_DIR", root.path())
        .env("ICN_DEVNET_METRICS_PORT", "0")
        .env("ICN_DEVNET_P2P_PORT", "0")
        .env("ICN_DEVNET_RPC_PORT", "0")
        .env("ICN_DEVNET_PROMETHEUS_PORT", prometheus_port.to_string())
        .env("ICN_DEVNET_TRAFFIC_INTERVAL", "0.2")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while !lines
        .iter()
        .any(|l: &String| l.starts_with("devnet: ready"))
    {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => lines.push(line),
            Err(e) => panic!("no ready line ({e}); output so far:\n{}", lines.join("\n")),
        }
    }
    let output = lines.join("\n");
    let nodes = metrics_addrs(&lines);
    assert_eq!(nodes.len(), 2, "{output}");
    let prometheus_url = format!("http://127.0.0.1:{prometheus_port}");
    assert_eq!(
        output.contains(&format!("prometheus {prometheus_url}")),
        prometheus.is_some(),
        "{output}"
    );

    // The nodes form a mesh and the traffic generator's publishes and payments reach both.
    for addr in &nodes {
        wait_until(Duration::from_secs(30), "traffic on every node", || async {
            scrape(*addr).await.is_ok_and(|m| {
                m.get("icn_network_connections_active") == 1.0
                    && m.get("icn_gossip_entries_received_total") >= 2.0
                    && m.get("icn_ledger_transactions_total") >= 2.0
            })
        })
        .await
        .unwrap();
    }
    if prometheus.is_some() {
        let url = format!("{prometheus_url}/api/v1/query");
        wait_until(
            Duration::from_secs(60),
            "Prometheus scraping both",
            || async {
                let Ok(answer) = reqwest::Client::new()
                    .get(&url)
                    .query(&[("query", "count(up{job=\"icnd\"} == 1)")])
                    .send()
                    .await
                else {
                    return false;
                };
                let answer: serde_json::Value = answer.json().await.unwrap_or_default();
                answer["data"]["result"][0]["value"][1] == "2"
            },
        )
        .await
        .unwrap();
    }

    // Ctrl-C: the script exits 0 and nothing it started answers any more.
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
    kill(pid, Signal::SIGINT).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the script still runs 20 s after SIGINT"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    for addr in &nodes {
        assert!(
            scrape(*addr).await.is_err(),
            "node {addr} still serves after Ctrl-C"
        );
    }
    if prometheus.is_some() {
        let gone = reqwest::get(format!("{prometheus_url}/-/healthy")).await;
        assert!(gone.is_err(), "Prometheus still answers after Ctrl-C");
    }
    let processes = Command::new("pgrep")
        .args(["-f", root.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        processes.stdout.is_empty(),
        "processes left running: {}",
        String::from_utf8_lossy(&processes.stdout)
    );
}
