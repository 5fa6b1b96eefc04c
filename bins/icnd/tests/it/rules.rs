//! The shipped Prometheus config, alert rules and Grafana dashboard (`docs/prometheus/`,
//! `docs/grafana/`): checked by Debian's `promtool` and against the metric catalogue.

use std::path::{Path, PathBuf};
use std::process::Command;

use icn_obs::{MetricKind, catalogue};
use icn_testkit::tools::require_program;

/// Metric names the shipped files may use before the node exports them; remove a name here as
/// soon as it is in the catalogue (`pending_names_are_still_pending` fails then). Empty: the
/// three names the files were written ahead of (`icn_ledger_state_digest_prefix`,
/// `process_resident_memory_bytes`, `process_cpu_seconds_total`) are in the catalogue now.
const PENDING: &[&str] = &[];

/// Catalogue metrics without a dashboard panel, each with the reason
/// (`dashboard_shows_every_catalogue_metric`).
const NOT_ON_DASHBOARD: &[(&str, &str)] = &[
    (
        "process_start_time_seconds",
        "the Uptime panel (icn_system_uptime_seconds) shows the same",
    ),
    (
        "process_virtual_memory_max_bytes",
        "usually unlimited; the Virtual memory panel shows the size",
    ),
    // Being added while the dashboard was written: give each a panel, then remove it here.
    ("icn_network_rtt_seconds", "new"),
    ("icn_network_lost_packets_total", "new"),
    ("icn_network_congestion_events_total", "new"),
    ("icn_system_mailbox_depth", "new"),
    ("icn_system_mailbox_full_total", "new"),
    ("icn_log_messages_total", "new"),
    ("icn_obs_scrape_duration_seconds", "new"),
    ("icn_network_inbound_throttled_total", "new"),
    ("icn_gossip_dropped_total", "new"),
];

/// Prefixes of the metric names the shipped files are scanned for.
const METRIC_PREFIXES: &[&str] = &["icn_", "process_"];

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

fn read(relative: &str) -> String {
    let path = docs().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn dashboard() -> serde_json::Value {
    serde_json::from_str(&read("grafana/icn-node.json")).unwrap()
}

/// Every string of a JSON document, one per line (so that escapes such as `\"` are decoded).
fn json_strings(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| json_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| json_strings(v, out)),
        _ => {}
    }
}

/// The text of a shipped file to scan for metric names: YAML as is, JSON as its strings.
fn scan_text(relative: &str) -> String {
    let text = read(relative);
    if relative.ends_with(".json") {
        let mut strings = String::new();
        json_strings(&serde_json::from_str(&text).unwrap(), &mut strings);
        strings
    } else {
        text
    }
}

/// Runs promtool and fails the test, showing its output, unless it succeeds.
fn run_promtool(promtool: &Path, args: &[&str]) -> String {
    let output = Command::new(promtool).args(args).output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "promtool {} failed ({}):\n{report}",
        args.join(" "),
        output.status
    );
    report
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Every metric-like identifier (starting with one of [`METRIC_PREFIXES`]) in `text`, with the
/// byte offset just after it.
fn metric_names(text: &str) -> Vec<(&str, usize)> {
    let mut found = Vec::new();
    let mut rest = 0;
    while rest < text.len() {
        let Some(start) = text[rest..].find(is_name_char).map(|i| rest + i) else {
            break;
        };
        let end = text[start..]
            .find(|c: char| !is_name_char(c))
            .map_or(text.len(), |i| start + i);
        let word = &text[start..end];
        if METRIC_PREFIXES.iter().any(|p| word.starts_with(p)) {
            found.push((word, end));
        }
        rest = end;
    }
    found
}

/// The catalogue entry a series name belongs to (`_bucket`, `_sum` and `_count` of a histogram
/// belong to the histogram).
fn catalogue_entry(name: &str) -> Option<&'static icn_obs::MetricDef> {
    catalogue::find(name).or_else(|| {
        ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            let base = name.strip_suffix(suffix)?;
            catalogue::find(base).filter(|def| def.kind == MetricKind::Histogram)
        })
    })
}

/// The files scanned for metric names.
const SHIPPED: &[&str] = &[
    "prometheus/prometheus.yml",
    "prometheus/alerts.yml",
    "prometheus/alerts_test.yml",
    "grafana/icn-node.json",
];

#[test]
fn every_metric_name_used_exists() {
    let mut unknown = Vec::new();
    let mut count = 0;
    for file in SHIPPED {
        let text = scan_text(file);
        for (name, _) in metric_names(&text) {
            count += 1;
            if catalogue_entry(name).is_none() && !PENDING.contains(&name) {
                unknown.push(format!("{file}: {name}"));
            }
        }
    }
    assert!(
        count > 50,
        "only {count} metric names found: is the scan broken?"
    );
    unknown.sort();
    unknown.dedup();
    assert!(
        unknown.is_empty(),
        "names that are neither in icn_obs::CATALOGUE (docs/metrics.md) nor PENDING:\n{}",
        unknown.join("\n")
    );
}

#[test]
fn label_values_used_exist() {
    // `name{label="value", ...}`: the label must be the metric's (or one Prometheus adds), and
    // its value one the catalogue lists when the catalogue fixes the values.
    let mut wrong = Vec::new();
    let mut checked = 0;
    for file in SHIPPED {
        let text = scan_text(file);
        for (name, end) in metric_names(&text) {
            let Some(def) = catalogue_entry(name) else {
                continue;
            };
            let Some(selector) = text[end..].strip_prefix('{') else {
                continue;
            };
            let Some(close) = selector.find('}') else {
                continue;
            };
            for matcher in selector[..close].split(',') {
                let Some((label, value)) = matcher.split_once('=') else {
                    continue;
                };
                let label = label.trim();
                // Only plain equality: `=~` and `!=` / `!~` are left alone.
                if label.ends_with('!') || value.starts_with('~') {
                    continue;
                }
                let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
                checked += 1;
                let Some(known) = def.labels.iter().find(|l| l.name == label) else {
                    let added_by_prometheus = label == "job"
                        || label == "instance"
                        || (label == "le" && def.kind == MetricKind::Histogram);
                    if !added_by_prometheus {
                        wrong.push(format!("{file}: {name} has no label {label}"));
                    }
                    continue;
                };
                if !known.values.is_empty() && !known.values.contains(&value) {
                    wrong.push(format!("{file}: {name}{{{label}=\"{value}\"}}"));
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} matchers found: is the scan broken?"
    );
    assert!(
        wrong.is_empty(),
        "labels or label values not in the catalogue:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn pending_names_are_still_pending() {
    for name in PENDING {
        assert!(
            catalogue::find(name).is_none(),
            "{name} is in the catalogue now: remove it from PENDING in {}",
            file!()
        );
    }
}

#[test]
fn every_alert_has_a_firing_and_a_silent_test() {
    let rules: Vec<String> = read("prometheus/alerts.yml")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert:"))
        .map(|name| name.trim().to_owned())
        .collect();
    assert!(rules.len() >= 12, "{rules:?}");
    let tests = read("prometheus/alerts_test.yml");
    let lines: Vec<&str> = tests
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut firing = Vec::new();
    let mut silent = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = line.strip_prefix("alertname:") else {
            continue;
        };
        let name = name.trim().to_owned();
        assert!(
            rules.contains(&name),
            "alerts_test.yml tests unknown {name}"
        );
        let expected = lines.get(i + 1).copied().unwrap_or_default();
        let expected = expected.split(" #").next().unwrap_or_default().trim();
        match expected {
            "exp_alerts: []" => silent.push(name),
            "exp_alerts:" => firing.push(name),
            other => panic!("alertname {name} is not followed by exp_alerts: {other}"),
        }
    }
    for rule in &rules {
        assert!(firing.contains(rule), "no test shows {rule} firing");
        assert!(silent.contains(rule), "no test shows {rule} not firing");
    }
}

#[test]
fn alert_rules_pass_promtool_check() {
    let Some(promtool) = require_program("promtool").unwrap() else {
        return;
    };
    let rules = docs().join("prometheus/alerts.yml");
    let report = run_promtool(&promtool, &["check", "rules", path_str(&rules)]);
    assert!(report.contains("SUCCESS"), "{report}");
}

#[test]
fn alert_rules_pass_their_unit_tests() {
    let Some(promtool) = require_program("promtool").unwrap() else {
        return;
    };
    let tests = docs().join("prometheus/alerts_test.yml");
    let report = run_promtool(&promtool, &["test", "rules", path_str(&tests)]);
    assert!(report.contains("SUCCESS"), "{report}");
}

/// Copies prometheus.yml (optionally with the token/TLS variant uncommented) and alerts.yml into
/// a fresh directory, so that `rule_files: [alerts.yml]` resolves as it does in docs/.
fn config_copy(token_tls: bool) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alerts.yml"), read("prometheus/alerts.yml")).unwrap();
    let mut config = read("prometheus/prometheus.yml");
    if token_tls {
        let mut inside = false;
        let mut uncommented = 0;
        let mut lines = Vec::new();
        for line in config.lines() {
            if line.contains("# >>> token/TLS variant") {
                inside = true;
            } else if line.contains("# <<< token/TLS variant") {
                inside = false;
            } else if inside {
                let indent = line.len() - line.trim_start().len();
                let body = line.trim_start().strip_prefix("# ").unwrap_or_else(|| {
                    panic!("line in the token/TLS variant is not commented: {line}")
                });
                lines.push(format!("{}{body}", &line[..indent]));
                uncommented += 1;
            } else {
                lines.push(line.to_owned());
            }
        }
        assert!(uncommented > 0, "no token/TLS variant found");
        config = lines.join("\n");
        assert!(config.contains("scheme: https"), "{config}");
        // The variant's files live under /etc/prometheus; promtool checks that they exist.
        let etc = format!("{}/", dir.path().display());
        config = config.replace("/etc/prometheus/", &etc);
        std::fs::write(dir.path().join("icn-metrics.token"), "token\n").unwrap();
        std::fs::write(dir.path().join("icn-ca.pem"), "").unwrap();
    }
    let path = dir.path().join("prometheus.yml");
    std::fs::write(&path, config).unwrap();
    (dir, path)
}

#[test]
fn prometheus_config_passes_promtool_check() {
    let Some(promtool) = require_program("promtool").unwrap() else {
        return;
    };
    for token_tls in [false, true] {
        let (_dir, config) = config_copy(token_tls);
        let report = run_promtool(&promtool, &["check", "config", path_str(&config)]);
        // The rule file was found and checked along with the config.
        assert!(report.contains("1 rule files found"), "{report}");
        assert!(report.contains("alerts.yml"), "{report}");
    }
}

/// Every panel of the dashboard, including panels nested in collapsed rows.
fn panels(dashboard: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        all.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            all.extend(nested);
        }
    }
    all
}

/// Every query of the dashboard, with its panel's title.
fn queries(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    let mut all = Vec::new();
    for panel in panels(dashboard) {
        let title = panel["title"].as_str().unwrap_or_default().to_owned();
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("panel {title}: target without a PromQL expr: {target}"));
            all.push((title.clone(), expr.to_owned()));
        }
    }
    all
}

#[test]
fn dashboard_has_the_variables_rows_and_queries_expected() {
    let dashboard = dashboard();
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 36);
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let variable = |name: &str| {
        variables
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no variable {name}"))
    };
    let datasource = variable("datasource");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");
    let instance = variable("instance");
    assert_eq!(instance["type"], "query");
    assert_eq!(
        instance["query"],
        "label_values(icn_system_uptime_seconds, instance)"
    );
    assert_eq!(instance["multi"], true);
    assert_eq!(instance["includeAll"], true);

    let rows: Vec<&str> = panels(&dashboard)
        .iter()
        .filter(|p| p["type"] == "row")
        .filter_map(|p| p["title"].as_str())
        .collect();
    for row in ["Network", "Gossip", "Ledger", "RPC", "System"] {
        assert!(
            rows.iter().any(|r| r.starts_with(row)),
            "no {row} row in {rows:?}"
        );
    }

    let mut ids = std::collections::HashSet::new();
    for panel in panels(&dashboard) {
        let title = &panel["title"];
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "duplicate id: {title}"
        );
        assert!(
            panel["gridPos"]["w"].as_u64().is_some(),
            "no gridPos: {title}"
        );
        if panel["type"] != "row" {
            assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
            assert!(
                panel["targets"].as_array().is_some_and(|t| !t.is_empty()),
                "no query: {title}"
            );
        }
    }

    for (title, expr) in queries(&dashboard) {
        // Only the variables the live-Prometheus check substitutes.
        for (i, _) in expr.match_indices('$') {
            let rest = &expr[i + 1..];
            assert!(
                rest.starts_with("instance") || rest.starts_with("__rate_interval"),
                "panel {title}: unexpected variable in {expr}"
            );
        }
        // Every series selector is limited to the selected instances.
        let names = metric_names(&expr);
        assert!(!names.is_empty(), "panel {title}: no metric in {expr}");
        for (name, end) in names {
            let selector = expr[end..]
                .strip_prefix('{')
                .and_then(|s| s.split_once('}'))
                .map(|(inside, _)| inside)
                .unwrap_or_default();
            assert!(
                selector.contains("instance=~\"$instance\""),
                "panel {title}: {name} is not filtered by instance=~\"$instance\" in {expr}"
            );
        }
    }
}

#[test]
fn dashboard_shows_every_catalogue_metric() {
    let dashboard = dashboard();
    let used: Vec<String> = queries(&dashboard)
        .iter()
        .flat_map(|(_, expr)| {
            metric_names(expr)
                .into_iter()
                .filter_map(|(name, _)| catalogue_entry(name).map(|def| def.name.to_owned()))
                .collect::<Vec<_>>()
        })
        .collect();
    let missing: Vec<&str> = icn_obs::CATALOGUE
        .iter()
        .map(|def| def.name)
        .filter(|name| {
            !used.iter().any(|u| u == name) && !NOT_ON_DASHBOARD.iter().any(|(n, _)| n == name)
        })
        .collect();
    assert!(missing.is_empty(), "metrics without a panel: {missing:?}");
}

#[test]
fn dashboard_queries_are_valid_promql() {
    let Some(promtool) = require_program("promtool").unwrap() else {
        return;
    };
    // promtool has no offline query parser; recording rules get their expr parsed by
    // `check rules`. Variables are substituted as the live check does.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in queries(&dashboard()).iter().enumerate() {
        let expr = expr
            .replace("$instance", ".*")
            .replace("$__rate_interval", "1m");
        let quoted = serde_json::to_string(&expr).unwrap(); // a valid YAML double-quoted string
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {quoted}\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dashboard_queries.yml");
    std::fs::write(&path, &rules).unwrap();
    let report = run_promtool(&promtool, &["check", "rules", path_str(&path)]);
    assert!(report.contains("SUCCESS"), "{report}\n{rules}");
}
