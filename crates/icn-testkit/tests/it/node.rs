//! One node in-process: metrics listener, first scrape, refresh, health, isolation, errors.

use std::time::Duration;

use icn_core::{Node, NodeConfig};
use icn_obs::catalogue::{CATALOGUE, MetricKind};
use icn_testkit::{scrape, wait_until};

/// The harness's test config (loopback, port 0) with a 100 ms gauge refresh.
fn config(dir: &tempfile::TempDir) -> NodeConfig {
    let mut config = icn_testkit::cluster::test_config(dir.path().join("data")).unwrap();
    config.metrics.refresh_interval = Duration::from_millis(100);
    config
}

#[tokio::test]
async fn first_scrape_shows_every_catalogue_metric() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(config(&dir), None).await.unwrap();
    let page = scrape(node.metrics_addr().unwrap()).await.unwrap();
    for def in CATALOGUE {
        assert_eq!(page.help(def.name), Some(def.help), "HELP of {}", def.name);
        assert_eq!(
            page.type_of(def.name),
            Some(def.kind.as_str()),
            "TYPE of {}",
            def.name
        );
        assert!(
            page.names().contains(def.name),
            "{} has no sample",
            def.name
        );
        if def.kind == MetricKind::Histogram && def.labels.is_empty() {
            let h = page.histogram(def.name).unwrap();
            assert_eq!(h.buckets.len(), def.buckets.len() + 1, "{}", def.name);
            assert_eq!(h.count, 0.0);
        }
    }
    // No actors run without an identity; the gauge says so rather than a constant.
    assert_eq!(page.value("icn_system_actors_active"), Some(0.0));
    assert_eq!(
        page.value_with(
            "icn_build_info",
            &[
                ("version", "0.1.0"),
                ("git_sha", icn_obs::registry::BUILD_GIT_SHA)
            ]
        ),
        Some(1.0)
    );
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn uptime_increases_between_scrapes_and_refresh_task_runs() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(config(&dir), None).await.unwrap();
    let addr = node.metrics_addr().unwrap();
    let first = scrape(addr)
        .await
        .unwrap()
        .value("icn_system_uptime_seconds")
        .unwrap();
    wait_until(Duration::from_secs(5), "uptime to grow", || async {
        let second = scrape(addr)
            .await
            .unwrap()
            .value("icn_system_uptime_seconds")
            .unwrap();
        second > first + 0.2
    })
    .await
    .unwrap();

    // The refresh task alone (no scrape) moves the gauge too.
    let handle = node.metrics().clone();
    let read_uptime = move || {
        icn_testkit::Metrics::parse(&handle.render_without_refresh())
            .unwrap()
            .value("icn_system_uptime_seconds")
            .unwrap()
    };
    let before = read_uptime();
    wait_until(
        Duration::from_secs(5),
        "refresh task to update uptime",
        || {
            let now = read_uptime();
            async move { now > before }
        },
    )
    .await
    .unwrap();
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn health_and_ready_report_the_missing_identity() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(config(&dir), None).await.unwrap();
    let addr = node.metrics_addr().unwrap();
    let health: serde_json::Value = reqwest::get(format!("http://{addr}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["uptime_seconds"].as_f64().unwrap() >= 0.0);
    assert!(health["did"].is_null());
    assert_eq!(health["actors"]["active"], 0);
    assert_eq!(health["actors"]["expected"], 0);
    let reason = health["reasons"][0].as_str().unwrap();
    assert!(
        reason.contains("identity.key") && reason.contains("icnd init"),
        "{reason}"
    );

    let ready = reqwest::get(format!("http://{addr}/ready")).await.unwrap();
    assert_eq!(ready.status(), 503);
    let missing = reqwest::get(format!("http://{addr}/nope")).await.unwrap();
    assert_eq!(missing.status(), 404);
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(
        metrics.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn two_nodes_in_one_process_have_separate_pages() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Node::start(config(&dir_a), None).await.unwrap();
    let b = Node::start(config(&dir_b), None).await.unwrap();
    a.metrics().network().messages_sent.increment(5);
    a.metrics().gossip().entries_published.increment(2);
    let page_a = scrape(a.metrics_addr().unwrap()).await.unwrap();
    let page_b = scrape(b.metrics_addr().unwrap()).await.unwrap();
    assert_eq!(page_a.value("icn_network_messages_sent_total"), Some(5.0));
    assert_eq!(
        page_a.value("icn_gossip_entries_published_total"),
        Some(2.0)
    );
    assert_eq!(page_b.value("icn_network_messages_sent_total"), Some(0.0));
    assert_eq!(
        page_b.value("icn_gossip_entries_published_total"),
        Some(0.0)
    );
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn custom_path_and_disabled_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir);
    cfg.metrics.path = "/custom".into();
    let node = Node::start(cfg, None).await.unwrap();
    let addr = node.metrics_addr().unwrap();
    let page = icn_testkit::scrape::scrape_path(addr, "/custom")
        .await
        .unwrap();
    assert_eq!(page.value("icn_system_actors_active"), Some(0.0));
    let old = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(old.status(), 404);
    node.shutdown().await.unwrap();

    let mut cfg = config(&dir);
    cfg.metrics.enabled = false;
    let node = Node::start(cfg, None).await.unwrap();
    assert!(node.metrics_addr().is_none());
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn port_in_use_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let first = Node::start(config(&dir), None).await.unwrap();
    let taken = first.metrics_addr().unwrap();
    let mut cfg = config(&dir);
    cfg.metrics.addr = taken;
    let err = Node::start(cfg, None)
        .await
        .err()
        .expect("second bind must fail");
    // The message names the address; its cause says why, once.
    let message = format!("{:#}", anyhow::Error::from(err));
    assert!(message.contains(&taken.to_string()), "{message}");
    assert_eq!(message.matches("in use").count(), 1, "{message}");
    first.shutdown().await.unwrap();
}

#[tokio::test]
async fn process_metrics_and_liveness() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(config(&dir), None).await.unwrap();
    let addr = node.metrics_addr().unwrap();
    let page = scrape(addr).await.unwrap();
    let rss = page.get("process_resident_memory_bytes");
    assert!(rss > 1_000_000.0, "resident memory {rss}");
    assert!(page.get("process_threads") >= 2.0);
    assert!(page.get("process_open_fds") >= 3.0);
    assert!(page.get("process_max_fds") >= page.get("process_open_fds"));
    let start = page.get("process_start_time_seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        start > now - 3600.0 && start <= now + 1.0,
        "start time {start}"
    );
    assert_eq!(page.type_of("process_cpu_seconds_total"), Some("counter"));
    let live = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    node.shutdown().await.unwrap();
}
