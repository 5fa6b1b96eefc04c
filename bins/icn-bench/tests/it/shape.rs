//! Shape of the report of a tiny run.

use std::path::Path;

use icn_bench::{Progress, Settings};
use serde_json::Value;

/// `value[path]` as a finite positive number.
fn positive(value: &Value, path: &str) -> f64 {
    let mut at = value;
    for key in path.split('.') {
        at = &at[key];
    }
    let n = at
        .as_f64()
        .unwrap_or_else(|| panic!("{path} is not a number: {at}"));
    assert!(n.is_finite() && n > 0.0, "{path} = {n}");
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_run_reports_every_scenario() {
    let exe = Path::new(env!("CARGO_BIN_EXE_icn-bench"));
    let report = icn_bench::run("tiny", &Settings::tiny(), exe, &Progress::hidden())
        .await
        .expect("tiny run");
    let json = serde_json::to_value(&report).expect("serialises");

    let propagation = json["propagation"].as_array().expect("propagation list");
    assert_eq!(propagation.len(), Settings::tiny().propagation.len());
    for p in propagation {
        assert!(p["nodes"].as_u64().is_some_and(|n| n >= 3), "{p}");
        assert!(p["topology"].is_string(), "{p}");
        let (p50, p99) = (positive(p, "p50_ms"), positive(p, "p99_ms"));
        assert!(p50 <= p99 && p99 <= positive(p, "max_ms"), "{p}");
        assert_eq!(p["samples"], Settings::tiny().propagation_entries);
    }
    assert_eq!(propagation[0]["topology"], "mesh");

    let throughput = json["throughput"].as_array().expect("throughput list");
    let sizes: Vec<u64> = throughput
        .iter()
        .filter_map(|t| t["entry_bytes"].as_u64())
        .collect();
    assert_eq!(sizes, [1024, 65536]);
    for t in throughput {
        for key in ["mb_per_s", "quinn_mb_per_s", "ratio", "entries_per_s"] {
            positive(t, key);
        }
        // A tiny transfer may use less than one clock tick of CPU: then 0 cores and no ratio.
        for key in ["cpu_cores", "quinn_cpu_cores"] {
            let cores = t[key].as_f64().expect(key);
            assert!(cores.is_finite() && cores >= 0.0, "{key} = {cores}");
        }
        for key in ["cpu_per_byte_vs_quinn", "of_floor"] {
            let value = &t[key];
            assert!(
                value.is_null() || value.as_f64().is_some_and(|r| r.is_finite() && r > 0.0),
                "{key} = {value}"
            );
        }
        // The floor's costs are CPU times of short loops: 0 when under one clock tick.
        for key in ["sign_us", "verify_us", "store_us", "transport_us"] {
            let cost = t["floor"][key].as_f64().expect(key);
            assert!(cost.is_finite() && cost >= 0.0, "floor.{key} = {cost}");
        }
        for key in ["disk_mb_per_s", "disk_ratio"] {
            positive(&t["floor"], key);
        }
        let bound = &t["floor"]["ratio"];
        assert!(
            bound.is_null() || bound.as_f64().is_some_and(|r| r > 0.0 && r <= 1.0),
            "floor.ratio = {bound}"
        );
    }

    for key in [
        "ledger.single_node_tps",
        "ledger.cluster_tps",
        "ledger.cluster_catch_up_ms",
        "ledger.callers",
        "ledger.single_node_latency.p50_ms",
        "ledger.single_node_latency.p99_ms",
        "metrics.counter_ns_cached",
        "metrics.counter_ns_macro",
        "metrics.render_ms_1k",
        "metrics.render_ms_10k",
        "metrics.entries_per_s_on",
        "metrics.entries_per_s_noop",
        "metrics.scrape_latency_ratio",
        "metrics.scrape_latency_ratio_p99",
        "footprint.idle_rss_mb",
        "footprint.crowd_rss_mb",
        "footprint.crowd_start_s",
        "footprint.crowd_p50_ms",
    ] {
        positive(&json, key);
    }
    // Overhead ratios are differences of noisy runs: any finite sign is a valid measurement
    // (the CPU one is null when a tiny run used too little CPU to measure).
    let ratio = json["metrics"]["overhead_ratio"]
        .as_f64()
        .expect("overhead_ratio");
    assert!(
        ratio.is_finite() && ratio > -1.0,
        "overhead_ratio = {ratio}"
    );
    let cpu_ratio = &json["metrics"]["overhead_cpu_ratio"];
    assert!(
        cpu_ratio.is_null()
            || cpu_ratio
                .as_f64()
                .is_some_and(|r| r.is_finite() && r > -1.0),
        "overhead_cpu_ratio = {cpu_ratio}"
    );
    for key in ["cpu_us_per_entry_on", "cpu_us_per_entry_noop"] {
        let cpu = json["metrics"][key].as_f64().expect(key);
        assert!(cpu.is_finite() && cpu >= 0.0, "{key} = {cpu}");
    }
    assert_eq!(
        json["metrics"]["overhead_runs"],
        Settings::tiny().overhead_runs
    );
    // An idle node may use no measurable CPU at all in a short window.
    let cpu = json["footprint"]["idle_cpu_percent"]
        .as_f64()
        .expect("idle cpu");
    assert!(cpu.is_finite() && cpu >= 0.0, "idle cpu {cpu}");
    assert!(report.table().contains("propagation"));
    libp2p_shape(&json, &report.table());
}

/// Without the `libp2p` feature the report has no libp2p section.
#[cfg(not(feature = "libp2p"))]
fn libp2p_shape(json: &Value, table: &str) {
    assert!(json.get("libp2p").is_none(), "{json}");
    assert!(!table.contains("libp2p"));
}

/// With it, the section mirrors scenarios 1 and 2 and carries a ratio for every case.
#[cfg(feature = "libp2p")]
fn libp2p_shape(json: &Value, table: &str) {
    let peer = &json["libp2p"];
    let propagation = peer["propagation"].as_array().expect("libp2p propagation");
    assert_eq!(propagation.len(), Settings::tiny().propagation.len());
    for p in propagation {
        let (p50, p99) = (positive(p, "p50_ms"), positive(p, "p99_ms"));
        assert!(p50 <= p99 && p99 <= positive(p, "max_ms"), "{p}");
        assert!(p["topology"].is_string(), "{p}");
    }
    let throughput = peer["throughput"].as_array().expect("libp2p throughput");
    let sizes: Vec<u64> = throughput
        .iter()
        .filter_map(|t| t["entry_bytes"].as_u64())
        .collect();
    assert_eq!(sizes, [1024, 65536]);
    for t in throughput {
        positive(t, "entries_per_s");
        positive(t, "mb_per_s");
        assert!(positive(t, "delivered_fraction") <= 1.0, "{t}");
    }
    let ratios = &peer["ratios"];
    assert_eq!(ratios["throughput"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        ratios["propagation"].as_array().map(Vec::len),
        Some(propagation.len())
    );
    positive(&ratios["throughput"][0], "entries_per_s");
    positive(&ratios["propagation"][0], "p99");
    assert!(table.contains("libp2p gossipsub"));
}
