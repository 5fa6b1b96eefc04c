//! The node against Debian's real `promtool` and `prometheus`.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use icn_obs::catalogue::LEGACY_TOTAL_GAUGES;
use icn_testkit::process::IcndProcess;
use icn_testkit::tools::{free_loopback_addr, require_program};
use icn_testkit::wait_until;

use crate::icnd;

#[tokio::test]
async fn promtool_accepts_a_live_scrape() {
    let Some(promtool) = require_program("promtool").unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let node = IcndProcess::start(icnd(), &dir.path().join("n1"), &[]).unwrap();
    let addr = node.metrics_addr().unwrap();
    let page = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let problems: Vec<&str> = report
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| {
            // The four legacy gauges named *_total are the only accepted findings.
            !LEGACY_TOTAL_GAUGES.iter().any(|name| {
                l.starts_with(&format!("{name} "))
                    && l.contains("non-counter metrics should not have \"_total\" suffix")
            })
        })
        .collect();
    assert!(
        problems.is_empty(),
        "promtool found problems:\n{}",
        problems.join("\n")
    );
    // The legacy findings are really there: promtool did lint the page.
    for name in LEGACY_TOTAL_GAUGES {
        assert!(
            report.contains(name),
            "promtool did not report {name}:\n{report}"
        );
    }
}

/// A Prometheus server killed on drop.
struct Prometheus {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn query(prom: std::net::SocketAddr, promql: &str) -> serde_json::Value {
    let url = format!("http://{prom}/api/v1/query");
    match reqwest::Client::new()
        .get(url)
        .query(&[("query", promql)])
        .send()
        .await
    {
        Ok(response) => response.json().await.unwrap_or_default(),
        Err(_) => serde_json::Value::Null,
    }
}

#[tokio::test]
async fn real_prometheus_scrapes_the_node() {
    let Some(prometheus) = require_program("prometheus").unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let node = IcndProcess::start(icnd(), &dir.path().join("n1"), &[]).unwrap();
    let target = node.metrics_addr().unwrap();

    let prom_dir = tempfile::tempdir().unwrap();
    let config = prom_dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: icnd\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    // Prometheus' own default port is 9090, like ours: always give it another free one.
    let prom_addr = free_loopback_addr().unwrap();
    let log = std::fs::File::create(prom_dir.path().join("prometheus.log")).unwrap();
    let child = Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            prom_dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={prom_addr}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let prom = Prometheus {
        child,
        _dir: prom_dir,
    };

    wait_until(
        Duration::from_secs(60),
        "Prometheus to report up{job=\"icnd\"} == 1",
        || async {
            let answer = query(prom_addr, "up{job=\"icnd\"}").await;
            answer["data"]["result"][0]["value"][1] == "1"
        },
    )
    .await
    .unwrap_or_else(|e| {
        let log =
            std::fs::read_to_string(prom._dir.path().join("prometheus.log")).unwrap_or_default();
        panic!("{e}\nprometheus log:\n{log}")
    });
    let uptime = query(prom_addr, "icn_system_uptime_seconds{job=\"icnd\"}").await;
    let sample = &uptime["data"]["result"][0]["value"][1];
    let seconds: f64 = sample.as_str().unwrap().parse().unwrap();
    assert!(seconds >= 0.0, "{uptime}");
    let amount = query(
        prom_addr,
        "icn_ledger_transaction_amount_bucket{le=\"+Inf\"}",
    )
    .await;
    assert_eq!(
        amount["data"]["result"].as_array().map(Vec::len),
        Some(1),
        "{amount}"
    );
    drop(node);
}
