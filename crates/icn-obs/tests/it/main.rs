//! Integration tests of the per-node registry and its rendering.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design; helpers here are test code.

mod exposition;

use icn_obs::NodeMetrics;
use icn_obs::catalogue::{CATALOGUE, MetricKind};
use icn_obs::labels::Actor;

/// Value of the first sample line that starts with `series ` (exact series text).
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn fresh_registry_describes_and_shows_every_metric() {
    let metrics = NodeMetrics::new().unwrap();
    let page = metrics.render();
    for def in CATALOGUE {
        assert!(
            page.contains(&format!("# HELP {} {}", def.name, def.help)),
            "no HELP for {}\n{page}",
            def.name
        );
        assert!(
            page.contains(&format!("# TYPE {} {}", def.name, def.kind.as_str())),
            "no/incorrect TYPE for {}",
            def.name
        );
        match def.kind {
            MetricKind::Histogram if def.labels.is_empty() => {
                for le in def.buckets {
                    let series = format!("{}_bucket{{le=\"{le}\"}}", def.name);
                    assert_eq!(sample(&page, &series), Some(0.0), "{series}");
                }
                assert_eq!(
                    sample(&page, &format!("{}_bucket{{le=\"+Inf\"}}", def.name)),
                    Some(0.0)
                );
                assert_eq!(sample(&page, &format!("{}_count", def.name)), Some(0.0));
                assert_eq!(sample(&page, &format!("{}_sum", def.name)), Some(0.0));
            }
            _ if def.labels.is_empty() => {
                assert_eq!(
                    sample(&page, def.name),
                    Some(0.0),
                    "{} not at zero",
                    def.name
                );
            }
            _ => {}
        }
    }
    assert!(
        !page.contains("quantile="),
        "histograms must not render as summaries"
    );
    for method in ["status", "peers", "dial", "unknown"] {
        let series = format!("icn_rpc_request_duration_seconds_count{{method=\"{method}\"}}");
        assert_eq!(sample(&page, &series), Some(0.0), "{series}");
        for status in ["ok", "client_error", "unauthorized", "server_error"] {
            let series =
                format!("icn_rpc_requests_total{{method=\"{method}\",status=\"{status}\"}}");
            assert_eq!(sample(&page, &series), Some(0.0), "{series}");
        }
    }
    for actor in ["network", "gossip", "ledger", "rpc", "storage"] {
        let series = format!("icn_system_actor_restarts_total{{actor=\"{actor}\"}}");
        assert_eq!(sample(&page, &series), Some(0.0), "{series}");
    }
    let build_info = page
        .lines()
        .find(|l| l.starts_with("icn_build_info{"))
        .expect("icn_build_info present");
    assert!(build_info.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))));
    assert!(build_info.contains("git_sha=\""));
    assert!(build_info.ends_with(" 1"));
}

#[test]
fn two_nodes_have_independent_registries() {
    let a = NodeMetrics::new().unwrap();
    let b = NodeMetrics::new().unwrap();
    a.network().messages_sent.increment(7);
    a.system().actor_restarts.inc(Actor::Gossip);
    a.ledger().transaction_amount.record(42.0);
    let page_a = a.render();
    let page_b = b.render();
    assert_eq!(
        sample(&page_a, "icn_network_messages_sent_total"),
        Some(7.0)
    );
    assert_eq!(
        sample(&page_b, "icn_network_messages_sent_total"),
        Some(0.0)
    );
    assert_eq!(
        sample(&page_a, "icn_system_actor_restarts_total{actor=\"gossip\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&page_b, "icn_system_actor_restarts_total{actor=\"gossip\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(&page_a, "icn_ledger_transaction_amount_bucket{le=\"25\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(&page_a, "icn_ledger_transaction_amount_bucket{le=\"50\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&page_a, "icn_ledger_transaction_amount_sum"),
        Some(42.0)
    );
    assert_eq!(
        sample(&page_b, "icn_ledger_transaction_amount_count"),
        Some(0.0)
    );
    // The global recorder was never installed: macros go nowhere near either node.
    metrics::counter!("icn_network_messages_sent_total").increment(100);
    assert_eq!(
        sample(&a.render(), "icn_network_messages_sent_total"),
        Some(7.0)
    );
}

#[test]
fn local_recorder_routes_macros_to_one_node() {
    let a = NodeMetrics::new().unwrap();
    let b = NodeMetrics::new().unwrap();
    a.with_local_recorder(|| metrics::counter!("icn_network_messages_sent_total").increment(3));
    assert_eq!(
        sample(&a.render(), "icn_network_messages_sent_total"),
        Some(3.0)
    );
    assert_eq!(
        sample(&b.render(), "icn_network_messages_sent_total"),
        Some(0.0)
    );
}

/// Resident set size of this process in bytes (test-only; nextest runs each test in its own
/// process, so the number belongs to this test).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn record_million(metrics: &NodeMetrics, upkeep: bool) -> (u64, u64) {
    let histogram = &metrics.ledger().transaction_amount;
    let mut after_first_tenth = 0;
    for batch in 0..100u32 {
        for i in 0..10_000u32 {
            histogram.record(f64::from(i % 2000));
        }
        if upkeep {
            metrics.run_upkeep();
        }
        if batch == 9 {
            after_first_tenth = rss_bytes();
        }
    }
    (after_first_tenth, rss_bytes())
}

/// Runs the memory measurement in a child process of its own (this test binary, filtered to
/// `upkeep_memory_child`), so no concurrently running test can move the RSS being measured.
#[test]
fn upkeep_keeps_histogram_memory_flat_and_its_absence_does_not() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "upkeep_memory_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ICN_OBS_MEMORY_CHILD", "1")
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("1 passed"),
        "child did not run the measurement:\n{log}"
    );
}

/// The measurement itself; does nothing unless started by the test above.
#[test]
fn upkeep_memory_child() {
    if std::env::var_os("ICN_OBS_MEMORY_CHILD").is_none() {
        return;
    }
    let with_upkeep = NodeMetrics::new().unwrap();
    let (early, late) = record_million(&with_upkeep, true);
    let growth = late.saturating_sub(early);
    assert!(
        growth < 2 * 1024 * 1024,
        "RSS grew {growth} bytes over 900k samples despite upkeep"
    );
    let page = with_upkeep.render();
    assert_eq!(
        sample(&page, "icn_ledger_transaction_amount_count"),
        Some(1_000_000.0)
    );

    // The control: without upkeep the same load grows memory, so the check above can fail.
    let without_upkeep = NodeMetrics::new().unwrap();
    let (early, late) = record_million(&without_upkeep, false);
    let growth = late.saturating_sub(early);
    assert!(
        growth > 5 * 1024 * 1024,
        "expected unbounded sample buffers without upkeep, RSS grew only {growth} bytes"
    );
}

#[test]
fn docs_metrics_md_is_up_to_date() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/metrics.md");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == icn_obs::reference::markdown(),
        "docs/metrics.md is out of date: run `cargo run -p icnd -- metrics --markdown > docs/metrics.md`"
    );
}
