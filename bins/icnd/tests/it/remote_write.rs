//! docs/operations.md's remote_write setup, tried: a Prometheus in agent mode with the documented
//! configuration scrapes a node and forwards to a Prometheus that accepts remote writes (standing
//! in for a managed service).

use std::path::Path;
use std::time::Duration;

use icn_testkit::process::IcndProcess;
use icn_testkit::tools::require_program;

use crate::icnd;
use crate::prometheus::Prometheus;

/// The YAML block of docs/operations.md that starts with `first_line`.
fn documented_block(first_line: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operations.md");
    let text = std::fs::read_to_string(path).unwrap();
    let start = text
        .find(&format!("```yaml\n{first_line}\n"))
        .unwrap_or_else(|| panic!("no yaml block starting with {first_line} in operations.md"));
    let body = &text[start + "```yaml\n".len()..];
    body[..body.find("```").unwrap()].to_owned()
}

#[tokio::test]
async fn documented_agent_config_forwards_node_metrics() {
    let Some(program) = require_program("prometheus").unwrap() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let node = IcndProcess::start(icnd(), &root.path().join("n1"), &[]).unwrap();
    let target = node.metrics_addr().unwrap();

    let receiver = Prometheus::start_with_args(
        &program,
        "global:\n  scrape_interval: 1m\n",
        &[],
        &[
            "--storage.tsdb.path={dir}/data",
            "--web.enable-remote-write-receiver",
        ],
    );

    let documented = documented_block("# prometheus-agent.yml");
    let mut config = documented.clone();
    for (from, to) in [
        ("scrape_interval: 15s", "scrape_interval: 1s".to_owned()),
        ("127.0.0.1:9090", target.to_string()),
        (
            "https://prometheus.example.net/api/v1/write",
            format!("http://{}/api/v1/write", receiver.addr),
        ),
        ("/etc/prometheus/", "./".to_owned()),
    ] {
        assert!(config.contains(from), "{from} is not in:\n{documented}");
        config = config.replace(from, &to);
    }
    let agent = Prometheus::start_with_args(
        &program,
        &config,
        &[("remote-write.password", "secret\n")],
        &["--enable-feature=agent", "--storage.agent.path={dir}/agent"],
    );
    // `password_file: ./...` resolves against the config file's directory.
    receiver
        .wait_for_series(
            Duration::from_secs(60),
            "icn_system_uptime_seconds{job=\"icnd\"} > 0",
        )
        .await;
    // Histograms arrive whole (every bucket), like in a scrape.
    receiver
        .wait_for_series(
            Duration::from_secs(30),
            "count(icn_network_rtt_seconds_bucket{job=\"icnd\"}) == 15",
        )
        .await;
    drop(agent);
    drop(node);
}
