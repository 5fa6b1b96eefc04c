//! The shipped monitoring files proven against a live devnet: three real `icnd` processes, a
//! real Prometheus scraping them with `docs/prometheus/prometheus.yml` and `alerts.yml` (only
//! intervals, targets and `for:`/`offset` durations shortened), traffic through `icnctl`, then
//! every dashboard query answers, no alert fires while healthy, and killing a node raises
//! NodeDown and PeerCountDropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use icn_testkit::process::IcndProcess;
use icn_testkit::tools::require_program;
use icn_testkit::{scrape, wait_until};

use crate::prometheus::Prometheus;
use crate::{ctl, icnd, init};

/// `for:` of every rule in the test's copy of alerts.yml.
const FOR: &str = "3s";
/// PeerCountDropped compares with this long ago (10m in the shipped file).
const OFFSET_SECS: u64 = 15;
/// Dashboard `$__rate_interval` while Prometheus scrapes every second.
const RATE_INTERVAL: &str = "20s";

/// Node settings that make a killed peer's connection time out within seconds.
const NODE_CONFIG: &str = "[network]\nkeep_alive = \"500ms\"\nidle_timeout = \"3s\"\n\n\
                           [metrics]\nrefresh_interval = \"1s\"\n";

fn docs(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Replaces `from` with `to` in `text`, failing when `from` is not there (the shipped file
/// changed and the test must follow).
fn replace_all(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} is not in the shipped file");
    text.replace(from, to)
}

/// docs/prometheus/prometheus.yml with 1 s intervals and the devnet's targets.
fn prometheus_config(targets: &[SocketAddr]) -> String {
    let mut config = docs("prometheus/prometheus.yml");
    config = replace_all(&config, "scrape_interval: 15s", "scrape_interval: 1s");
    config = replace_all(&config, "scrape_timeout: 10s", "scrape_timeout: 1s");
    config = replace_all(
        &config,
        "evaluation_interval: 15s",
        "evaluation_interval: 1s",
    );
    let shipped: String = (1..=3)
        .map(|i| format!("          - 127.0.0.1:910{i}\n"))
        .collect();
    let ours: String = targets
        .iter()
        .map(|t| format!("          - {t}\n"))
        .collect();
    replace_all(&config, &shipped, &ours)
}

/// docs/prometheus/alerts.yml with every `for:` shortened to [`FOR`] and PeerCountDropped's
/// comparison window to [`OFFSET_SECS`].
fn alert_rules() -> String {
    let rules = docs("prometheus/alerts.yml");
    let mut shortened = 0;
    let lines: Vec<String> = rules
        .lines()
        .map(|line| match line.trim_start().strip_prefix("for: ") {
            Some(_) => {
                shortened += 1;
                let indent = &line[..line.len() - line.trim_start().len()];
                format!("{indent}for: {FOR}")
            }
            None => line.to_owned(),
        })
        .collect();
    assert!(shortened >= 10, "only {shortened} `for:` lines");
    replace_all(
        &lines.join("\n"),
        "offset 10m",
        &format!("offset {OFFSET_SECS}s"),
    )
}

/// Every PromQL query of the dashboard, with its panel title, variables substituted.
fn dashboard_queries() -> Vec<(String, String)> {
    let dashboard: serde_json::Value =
        serde_json::from_str(&docs("grafana/icn-node.json")).unwrap();
    let mut panels = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        panels.push(panel);
        panels.extend(panel["panels"].as_array().into_iter().flatten());
    }
    let mut queries = Vec::new();
    for panel in panels {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            let expr = expr
                .replace("$instance", ".*")
                .replace("$__rate_interval", RATE_INTERVAL);
            queries.push((panel["title"].as_str().unwrap().to_owned(), expr));
        }
    }
    assert!(queries.len() > 40, "{} queries", queries.len());
    queries
}

/// Runs promtool with `args` and fails unless it succeeds.
fn promtool(program: &Path, args: &[&str]) {
    let output = Command::new(program).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The alerts in `state` (pending or firing) as (alertname, instance).
async fn alerts(prom: &Prometheus, state: &str) -> Vec<(String, String)> {
    let answer = prom.api("alerts", &[]).await;
    answer["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["state"] == state)
        .map(|a| {
            let labels = &a["labels"];
            let name = labels["alertname"].as_str().unwrap_or_default().to_owned();
            let instance = labels["instance"].as_str().unwrap_or_default().to_owned();
            (name, instance)
        })
        .collect()
}

struct Devnet {
    nodes: Vec<IcndProcess>,
    dirs: Vec<PathBuf>,
    metrics: Vec<SocketAddr>,
}

/// Three nodes: node 1 first, nodes 2 and 3 bootstrapping from it (peer exchange makes a mesh).
fn start_devnet(root: &Path) -> Devnet {
    let config = root.join("node.toml");
    std::fs::write(&config, NODE_CONFIG).unwrap();
    let config = config.to_str().unwrap().to_owned();
    let password = root.join("passphrase");
    std::fs::write(&password, "live devnet\n").unwrap();
    let password = format!("--password-file={}", password.display());
    let mut devnet = Devnet {
        nodes: Vec::new(),
        dirs: Vec::new(),
        metrics: Vec::new(),
    };
    let mut bootstrap = Vec::new();
    for i in 1..=3 {
        let dir = root.join(format!("n{i}"));
        init(
            &dir,
            Path::new(password.trim_start_matches("--password-file=")),
        );
        let mut args = vec!["--config", config.as_str(), password.as_str()];
        args.extend(bootstrap.iter().map(String::as_str));
        let node = IcndProcess::start(icnd(), &dir, &args).unwrap();
        if i == 1 {
            let p2p = std::fs::read_to_string(dir.join("p2p.addr")).unwrap();
            bootstrap = vec![format!("--bootstrap={}", p2p.trim())];
        }
        devnet.metrics.push(node.metrics_addr().unwrap());
        devnet.dirs.push(dir);
        devnet.nodes.push(node);
    }
    devnet
}

/// Publishes, payments and read-only RPC calls on every node; returns when every node holds
/// every entry and the ledger digests agree.
async fn drive_traffic(devnet: &Devnet) {
    let dids: Vec<String> = devnet
        .dirs
        .iter()
        .map(|dir| ctl(dir, &["status"])["did"].as_str().unwrap().to_owned())
        .collect();
    let [d1, d2, d3] = [&devnet.dirs[0], &devnet.dirs[1], &devnet.dirs[2]];
    ctl(d1, &["currency", "create", "HOUR", "--limit", "100"]);
    // Every node sees the currency before paying in it.
    for dir in &devnet.dirs {
        wait_until(
            Duration::from_secs(20),
            "the currency everywhere",
            || async {
                let balances = ctl(dir, &["balance"]);
                balances.to_string().contains("HOUR")
            },
        )
        .await
        .unwrap();
    }
    for round in 0..5 {
        for (i, dir) in devnet.dirs.iter().enumerate() {
            ctl(
                dir,
                &["publish", "news", &format!("round {round} from n{}", i + 1)],
            );
        }
        ctl(d1, &["pay", "HOUR", &dids[1], "3"]);
        ctl(d2, &["pay", "HOUR", &dids[2], "2"]);
        ctl(d3, &["pay", "HOUR", &dids[0], "1"]);
        for dir in &devnet.dirs {
            ctl(dir, &["peers"]);
            ctl(dir, &["entries", "news"]);
        }
    }
    wait_until(
        Duration::from_secs(30),
        "entries and digests to agree",
        || async {
            let counts: Vec<usize> = devnet
                .dirs
                .iter()
                .map(|dir| {
                    ctl(dir, &["entries", "news"])
                        .as_array()
                        .map_or(0, Vec::len)
                })
                .collect();
            let digests: Vec<String> = devnet
                .dirs
                .iter()
                .map(|dir| ctl(dir, &["ledger", "digest"])["digest"].to_string())
                .collect();
            counts.iter().all(|&c| c == 15) && digests.iter().all(|d| *d == digests[0])
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn dashboard_and_alerts_work_against_a_live_devnet() {
    let (Some(prometheus), Some(promtool_bin)) = (
        require_program("prometheus").unwrap(),
        require_program("promtool").unwrap(),
    ) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let mut devnet = start_devnet(root.path());
    for addr in &devnet.metrics {
        wait_until(Duration::from_secs(30), "a full mesh", || async {
            scrape(*addr)
                .await
                .is_ok_and(|m| m.get("icn_network_connections_active") == 2.0)
        })
        .await
        .unwrap();
    }
    let meshed_at = Instant::now();

    let config = prometheus_config(&devnet.metrics);
    let rules = alert_rules();
    let check_dir = tempfile::tempdir().unwrap();
    let config_path = check_dir.path().join("prometheus.yml");
    std::fs::write(&config_path, &config).unwrap();
    std::fs::write(check_dir.path().join("alerts.yml"), &rules).unwrap();
    promtool(
        &promtool_bin,
        &["check", "config", config_path.to_str().unwrap()],
    );
    let prom = Prometheus::start(&prometheus, &config, &[("alerts.yml", &rules)]);
    prom.wait_for_series(Duration::from_secs(60), "count(up{job=\"icnd\"} == 1) == 3")
        .await;

    drive_traffic(&devnet).await;

    // Prometheus has seen the converged state.
    prom.wait_for_series(
        Duration::from_secs(30),
        "count(count_values(\"digest\", icn_ledger_state_digest_prefix{job=\"icnd\"})) == 1 \
         and on() sum(icn_ledger_transactions_total{job=\"icnd\"}) == 3 * 15",
    )
    .await;

    // Every panel's every query answers with at least one series.
    let queries = dashboard_queries();
    let mut empty = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        empty.clear();
        for (title, expr) in &queries {
            if prom.query(expr).await.is_empty() {
                empty.push(format!("{title}: {expr}"));
            }
        }
        if empty.is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        empty.is_empty(),
        "dashboard queries without a series:\n{}",
        empty.join("\n")
    );
    eprintln!(
        "{} dashboard queries answered {:?} after the mesh formed",
        queries.len(),
        meshed_at.elapsed()
    );

    // Healthy: every rule loaded and evaluating, and none firing over several `for:` windows.
    let groups = prom.api("rules", &[]).await;
    let rules_seen: Vec<&serde_json::Value> = groups["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    assert!(rules_seen.len() >= 12, "{groups}");
    for rule in &rules_seen {
        assert_eq!(rule["health"], "ok", "{rule}");
    }
    if let Err(e) = wait_until(Duration::from_secs(20), "no alert firing", || async {
        alerts(&prom, "firing").await.is_empty()
    })
    .await
    {
        panic!("{e}: {:?}", alerts(&prom, "firing").await);
    }
    let quiet_until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < quiet_until {
        let firing = alerts(&prom, "firing").await;
        assert!(firing.is_empty(), "alerts firing while healthy: {firing:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // PeerCountDropped compares with OFFSET_SECS ago: the mesh must be at least that old.
    let settled = meshed_at + Duration::from_secs(OFFSET_SECS + 2);
    tokio::time::sleep_until(settled.into()).await;

    // Kill node 3: NodeDown for it, PeerCountDropped for the survivors.
    let killed = devnet.metrics[2].to_string();
    drop(devnet.nodes.pop());
    let killed_at = Instant::now();
    let raised = wait_until(
        Duration::from_secs(60),
        "NodeDown and PeerCountDropped",
        || async {
            let mut raised = alerts(&prom, "firing").await;
            raised.extend(alerts(&prom, "pending").await);
            let node_down = raised
                .iter()
                .any(|(name, instance)| name == "NodeDown" && *instance == killed);
            let dropped = raised
                .iter()
                .filter(|(name, _)| name == "PeerCountDropped")
                .count();
            node_down && dropped == 2
        },
    )
    .await;
    if let Err(e) = raised {
        panic!("{e}: {}", prom.api("alerts", &[]).await);
    }
    eprintln!(
        "NodeDown and PeerCountDropped raised {:?} after the kill",
        killed_at.elapsed()
    );
    wait_until(Duration::from_secs(30), "NodeDown firing", || async {
        alerts(&prom, "firing")
            .await
            .iter()
            .any(|(name, instance)| name == "NodeDown" && *instance == killed)
    })
    .await
    .unwrap();
}
