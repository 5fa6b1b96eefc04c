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

/// A real Prometheus server on a free loopback port, killed on drop.
pub struct Prometheus {
    child: Child,
    /// Where its API answers.
    pub addr: std::net::SocketAddr,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts `prometheus` with `config` written to `prometheus.yml` and `files` (name, text)
    /// beside it, so that relative `rule_files` resolve.
    pub fn start(program: &std::path::Path, config: &str, files: &[(&str, &str)]) -> Self {
        Self::start_with_args(program, config, files, &["--storage.tsdb.path={dir}/data"])
    }

    /// [`Self::start`] with the storage arguments given (`--storage.tsdb.path=...` or, in agent
    /// mode, `--storage.agent.path=...`); `{dir}` in them is replaced by the server's own
    /// directory.
    pub fn start_with_args(
        program: &std::path::Path,
        config: &str,
        files: &[(&str, &str)],
        args: &[&str],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        // Prometheus' own default port is 9090, like ours: always give it another free one.
        let addr = free_loopback_addr().unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(program)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--web.listen-address={addr}"))
            .args(
                args.iter()
                    .map(|a| a.replace("{dir}", &dir.path().display().to_string())),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Self { child, addr, dir }
    }

    /// Everything Prometheus logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The answer of `GET /api/v1/<path>` with `params` (Null when the server does not answer).
    pub async fn api(&self, path: &str, params: &[(&str, &str)]) -> serde_json::Value {
        let url = format!("http://{}/api/v1/{path}", self.addr);
        match reqwest::Client::new().get(url).query(params).send().await {
            Ok(response) => response.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        }
    }

    /// The result vector of an instant query (empty when the server does not answer).
    pub async fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let answer = self.api("query", &[("query", promql)]).await;
        answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until `promql` returns at least one series, or panics with Prometheus' log.
    pub async fn wait_for_series(&self, timeout: Duration, promql: &str) {
        wait_until(
            timeout,
            &format!("Prometheus to answer {promql}"),
            || async { !self.query(promql).await.is_empty() },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\nprometheus log:\n{}", self.log()));
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn real_prometheus_scrapes_the_node() {
    let Some(program) = require_program("prometheus").unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let node = IcndProcess::start(icnd(), &dir.path().join("n1"), &[]).unwrap();
    let target = node.metrics_addr().unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: icnd\n    static_configs:\n      - targets: ['{target}']\n"
    );
    let prom = Prometheus::start(&program, &config, &[]);
    prom.wait_for_series(Duration::from_secs(60), "up{job=\"icnd\"} == 1")
        .await;
    let uptime = prom.query("icn_system_uptime_seconds{job=\"icnd\"}").await;
    let seconds: f64 = uptime[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(seconds >= 0.0, "{uptime:?}");
    let amount = prom
        .query("icn_ledger_transaction_amount_bucket{le=\"+Inf\"}")
        .await;
    assert_eq!(amount.len(), 1, "{amount:?}");
    drop(node);
}
