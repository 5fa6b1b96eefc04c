//! Our renderer against `metrics-exporter-prometheus` on the same activity: one fan-out recorder
//! feeds both, and both pages must hold the same lines (in any order) and parse to the same
//! samples.

use std::collections::BTreeMap;

use icn_obs::catalogue::{CATALOGUE, MetricKind, names};
use icn_obs::registry::register_catalogue;
use icn_obs::{NodeMetrics, NodeRecorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::layers::{Fanout, FanoutBuilder};

/// A histogram outside the catalogue, with buckets of its own.
const EXTRA_HISTOGRAM: &str = "icn_test_extra_seconds";
const EXTRA_BUCKETS: &[f64] = &[0.001, 0.1, 1.0, 10.0];

fn recorders() -> (NodeRecorder, PrometheusHandle, Fanout) {
    let buckets: Vec<(&str, &[f64])> = CATALOGUE
        .iter()
        .filter(|d| d.kind == MetricKind::Histogram)
        .map(|d| (d.name, d.buckets))
        .chain([(EXTRA_HISTOGRAM, EXTRA_BUCKETS)])
        .collect();
    let ours = NodeRecorder::new(buckets.iter().copied()).unwrap();
    let mut builder = PrometheusBuilder::new();
    for (name, bounds) in &buckets {
        builder = builder
            .set_buckets_for_metric(Matcher::Full((*name).to_owned()), bounds)
            .unwrap();
    }
    let theirs = builder.build_recorder();
    let handle = theirs.handle();
    let fanout = FanoutBuilder::default()
        .add_recorder(ours.clone())
        .add_recorder(theirs)
        .build();
    (ours, handle, fanout)
}

/// Counters, gauges, labelled vectors and histograms of the catalogue, plus series registered
/// at run time (as `metrics` macros in other crates would), varied by `round`.
fn activity(round: u32) {
    let r = f64::from(round);
    metrics::counter!(names::NETWORK_MESSAGES_SENT_TOTAL).increment(42);
    metrics::counter!(names::NETWORK_BYTES_SENT_TOTAL).absolute(1 << 40);
    metrics::counter!(names::GOSSIP_ENTRIES_REJECTED_TOTAL, "reason" => "malformed").increment(3);
    metrics::counter!(names::RPC_REQUESTS_TOTAL, "method" => "peers", "status" => "ok")
        .increment(2);
    metrics::gauge!(names::NETWORK_CONNECTIONS_ACTIVE).set(3.0 + r);
    metrics::gauge!(names::GOSSIP_ENTRIES_TOTAL).increment(0.1);
    metrics::gauge!(names::GOSSIP_ENTRIES_TOTAL).increment(0.2);
    metrics::gauge!(names::LEDGER_STATE_DIGEST_PREFIX).set(2.0_f64.powi(47) + 5.0);
    metrics::gauge!(names::SYSTEM_MAILBOX_DEPTH, "actor" => "gossip").decrement(1.5);
    for v in [0.0, 1.0, 42.0, 1e9, 7.5 * r] {
        metrics::histogram!(names::LEDGER_TRANSACTION_AMOUNT).record(v);
    }
    metrics::histogram!(names::RPC_REQUEST_DURATION_SECONDS, "method" => "status").record(0.003);
    metrics::histogram!(names::GOSSIP_PROPAGATION_DELAY_SECONDS).record(0.25);
    metrics::histogram!(EXTRA_HISTOGRAM, "peer" => "a").record(0.05);
    metrics::describe_counter!("icn_test_dynamic_total", "Series made at run time.");
    for i in 0..(20 * (round + 1)) {
        metrics::counter!("icn_test_dynamic_total", "peer" => format!("p{i}"), "dir" => "in")
            .increment(u64::from(i));
    }
    metrics::gauge!("icn_test_undescribed", "kind" => "x\"y").set(-0.5);
}

fn sorted_lines(page: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = page.lines().collect();
    lines.sort_unstable();
    lines
}

/// Every sample as `(name, labels, value)` text, sorted, plus the HELP texts.
fn parsed(page: &str) -> (Vec<String>, BTreeMap<String, String>) {
    let scrape = prometheus_parse::Scrape::parse(page.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let mut samples: Vec<String> = scrape
        .samples
        .iter()
        .map(|s| {
            let labels: BTreeMap<&String, &String> = s.labels.iter().collect();
            format!("{} {labels:?} {:?}", s.metric, s.value)
        })
        .collect();
    samples.sort_unstable();
    (samples, scrape.docs.into_iter().collect())
}

fn assert_same(ours: &str, theirs: &str) {
    assert_eq!(sorted_lines(ours), sorted_lines(theirs));
    assert_eq!(parsed(ours), parsed(theirs));
}

#[test]
fn renders_the_exporters_page() {
    let (ours, theirs, fanout) = recorders();
    register_catalogue(&fanout);
    assert_same(&ours.render(), &theirs.render());

    metrics::with_local_recorder(&fanout, || activity(0));
    let first = ours.render();
    assert_same(&first, &theirs.render());
    assert!(first.contains("icn_test_dynamic_total{peer=\"p7\",dir=\"in\"} 7\n"));
    assert!(first.contains("icn_ledger_transaction_amount_count 5\n"));

    // More activity on known series (the layout is reused), then new series (it is rebuilt).
    metrics::with_local_recorder(&fanout, || activity(1));
    ours.run_upkeep();
    theirs.run_upkeep();
    assert_same(&ours.render(), &theirs.render());
}

#[test]
fn node_page_has_the_exporters_headers_and_series() {
    let (_, theirs, fanout) = recorders();
    register_catalogue(&fanout);
    let reference = theirs.render();
    let node = NodeMetrics::new().unwrap();
    node.network().messages_sent.increment(5);
    node.gossip()
        .entries_rejected
        .inc(icn_obs::labels::GossipRejectReason::Malformed);
    node.ledger().transaction_amount.record(12.0);
    let page = node.render();
    // Same families, series and label sets as the exporter's page of the same catalogue.
    let shape = |p: &str| -> Vec<String> {
        let mut lines: Vec<String> = p
            .lines()
            .map(|l| match l.rsplit_once(' ') {
                Some((series, _)) if !l.starts_with('#') => series.to_owned(),
                _ => l.to_owned(),
            })
            .collect();
        lines.sort_unstable();
        lines
    };
    assert_eq!(shape(&page), shape(&reference));
}

#[test]
fn noop_registry_takes_every_update_and_renders_nothing() {
    let node = NodeMetrics::noop();
    assert!(node.is_noop());
    node.network().messages_sent.increment(1);
    node.gossip().entries.set(3.0);
    node.ledger().transaction_amount.record(1.0);
    node.system()
        .actor_restarts
        .inc(icn_obs::labels::Actor::Gossip);
    node.collect_process();
    node.with_local_recorder(|| metrics::counter!("icn_test_dynamic_total").increment(1));
    node.run_upkeep();
    assert_eq!(node.render(), "");
    assert!(!NodeMetrics::new().unwrap().is_noop());
}
