//! Prometheus text exposition (format 0.0.4) of a [`crate::recorder::NodeRecorder`].
//!
//! A [`Layout`] keeps, per metric family, its `# HELP` / `# TYPE` lines and, per series, the
//! text that precedes its value (`name{labels} `), built once from the registry. A render then
//! reads each atomic and appends its value, with no allocation per series. The layout is rebuilt
//! only when the registry reports a new series or description, which after start-up is rare.
//!
//! The text is what `metrics-exporter-prometheus` 0.18 writes, line for line: counters as
//! integers, gauges and sums with Rust's `f64` `Display`, cumulative histogram buckets with `le`
//! from the configured bounds and then `+Inf`, `_sum`, `_count`, and a blank line after each
//! family. Two differences, both in our favour: families and series come sorted (the exporter's
//! order is a hash map's), and a backslash in a label value or HELP text is always escaped as
//! `\\` (the exporter keeps `\\` pairs as they are).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{Key, SharedString};
use metrics_util::storage::{AtomicBucket, Histogram};

use crate::recorder::{DEFAULT_BUCKETS, Shared, sanitize_label_name, sanitize_metric_name};

/// The pre-rendered shape of a page and the folded histogram buckets.
#[derive(Default)]
pub(crate) struct Layout {
    /// The storage's change count this layout was built at (`None`: never built).
    built_at: Option<u64>,
    families: Vec<Family>,
    /// Length of the previous page, so the next one is allocated once.
    last_len: usize,
}

/// One metric family: its header lines and its series, sorted by label text.
struct Family {
    header: String,
    series: Vec<Series>,
}

enum Series {
    Counter {
        /// `name{labels} `.
        prefix: String,
        cell: Arc<AtomicU64>,
    },
    Gauge {
        /// `name{labels} `.
        prefix: String,
        /// The `f64` bits, as the `metrics` crate stores gauges.
        cell: Arc<AtomicU64>,
    },
    Histogram(Box<HistogramSeries>),
}

struct HistogramSeries {
    /// Identifies the series across layout rebuilds (its folded buckets carry over).
    key: Key,
    /// Samples recorded since the last drain.
    pending: Arc<AtomicBucket<f64>>,
    folded: Histogram,
    /// `name_bucket{labels,le="b"} ` per bound, then the `+Inf` one.
    buckets: Vec<String>,
    /// `name_sum{labels} `.
    sum: String,
    /// `name_count{labels} `.
    count: String,
}

impl Layout {
    /// Drains pending histogram samples and writes the page.
    pub(crate) fn render(&mut self, shared: &Shared) -> String {
        self.upkeep(shared);
        let mut out = String::with_capacity(self.last_len + self.last_len / 8 + 64);
        for family in &self.families {
            out.push_str(&family.header);
            for series in &family.series {
                series.write(&mut out);
            }
            out.push('\n');
        }
        self.last_len = out.len();
        out
    }

    /// Brings the layout up to date with the registry and folds pending histogram samples.
    pub(crate) fn upkeep(&mut self, shared: &Shared) {
        self.refresh(shared);
        for family in &mut self.families {
            for series in &mut family.series {
                if let Series::Histogram(h) = series {
                    let folded = &mut h.folded;
                    h.pending.clear_with(|samples| folded.record_many(samples));
                }
            }
        }
    }

    /// Rebuilds the layout when series or descriptions were added since it was built.
    fn refresh(&mut self, shared: &Shared) {
        // Read before visiting: a series added during the visit bumps the count past this value,
        // so the next call rebuilds again and picks it up.
        let changes = shared.registry.storage().changes.load(Ordering::Acquire);
        if self.built_at == Some(changes) {
            return;
        }
        let mut folded: HashMap<Key, Histogram> = HashMap::new();
        for family in self.families.drain(..) {
            for series in family.series {
                if let Series::Histogram(h) = series {
                    folded.insert(h.key, h.folded);
                }
            }
        }

        let mut counters = Families::default();
        shared.registry.visit_counters(|key, cell| {
            add_cell(&mut counters, key, cell, |prefix, cell| Series::Counter {
                prefix,
                cell,
            });
        });
        let mut gauges = Families::default();
        shared.registry.visit_gauges(|key, cell| {
            add_cell(&mut gauges, key, cell, |prefix, cell| Series::Gauge {
                prefix,
                cell,
            });
        });
        let mut histograms = Families::default();
        shared.registry.visit_histograms(|key, pending| {
            let (name, labels) = name_and_labels(key);
            let bounds = shared
                .buckets
                .get(&name)
                .map_or(DEFAULT_BUCKETS, Vec::as_slice);
            let Some(folded) = folded.remove(key).or_else(|| Histogram::new(bounds)) else {
                return; // Unreachable: bucket lists are never empty.
            };
            let mut buckets: Vec<String> = bounds
                .iter()
                .map(|le| series_prefix(&name, Some("bucket"), &labels, Some(&le.to_string())))
                .collect();
            buckets.push(series_prefix(&name, Some("bucket"), &labels, Some("+Inf")));
            let series = Series::Histogram(Box::new(HistogramSeries {
                key: key.clone(),
                pending: pending.clone(),
                folded,
                buckets,
                sum: series_prefix(&name, Some("sum"), &labels, None),
                count: series_prefix(&name, Some("count"), &labels, None),
            }));
            histograms.entry(name).or_default().push((labels, series));
        });

        let descriptions = shared
            .descriptions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (kind, families) in [
            ("counter", counters),
            ("gauge", gauges),
            ("histogram", histograms),
        ] {
            for (name, mut series) in families {
                series.sort_by(|a, b| a.0.cmp(&b.0));
                self.families.push(Family {
                    header: header(&name, kind, descriptions.get(&name)),
                    series: series.into_iter().map(|(_, s)| s).collect(),
                });
            }
        }
        self.built_at = Some(changes);
    }
}

/// Series by family name, each with its label text (the sort key within the family).
type Families = BTreeMap<String, Vec<(String, Series)>>;

/// Files the counter or gauge series of `key` (`make` picks which) under its family.
fn add_cell(
    families: &mut Families,
    key: &Key,
    cell: &Arc<AtomicU64>,
    make: fn(String, Arc<AtomicU64>) -> Series,
) {
    let (name, labels) = name_and_labels(key);
    let prefix = series_prefix(&name, None, &labels, None);
    families
        .entry(name)
        .or_default()
        .push((labels, make(prefix, cell.clone())));
}

impl Series {
    fn write(&self, out: &mut String) {
        // Writing to a `String` cannot fail.
        match self {
            Series::Counter { prefix, cell } => {
                out.push_str(prefix);
                let _ = writeln!(out, "{}", cell.load(Ordering::Acquire));
            }
            Series::Gauge { prefix, cell } => {
                out.push_str(prefix);
                let _ = writeln!(out, "{}", f64::from_bits(cell.load(Ordering::Acquire)));
            }
            Series::Histogram(h) => {
                let cumulative = h.folded.buckets();
                let counts = cumulative.iter().map(|(_, n)| *n);
                for (prefix, n) in h.buckets.iter().zip(counts.chain([h.folded.count()])) {
                    out.push_str(prefix);
                    let _ = writeln!(out, "{n}");
                }
                out.push_str(&h.sum);
                let _ = writeln!(out, "{}", h.folded.sum());
                out.push_str(&h.count);
                let _ = writeln!(out, "{}", h.folded.count());
            }
        }
    }
}

/// The sanitized metric name and the label text `k="v",...` of a key (a repeated label name
/// keeps its first position and its last value, as the exporter does).
fn name_and_labels(key: &Key) -> (String, String) {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for label in key.labels() {
        match pairs.iter_mut().find(|(k, _)| *k == label.key()) {
            Some(pair) => pair.1 = label.value(),
            None => pairs.push((label.key(), label.value())),
        }
    }
    let mut labels = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            labels.push(',');
        }
        labels.push_str(&sanitize_label_name(k));
        labels.push_str("=\"");
        escape_into(&mut labels, v, true);
        labels.push('"');
    }
    (sanitize_metric_name(key.name()), labels)
}

/// `name[_suffix][{labels[,le="extra"]}] `: everything of a sample line before its value.
fn series_prefix(name: &str, suffix: Option<&str>, labels: &str, le: Option<&str>) -> String {
    let mut out = String::with_capacity(name.len() + labels.len() + 24);
    out.push_str(name);
    if let Some(suffix) = suffix {
        out.push('_');
        out.push_str(suffix);
    }
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        out.push_str(labels);
        if let Some(le) = le {
            if !labels.is_empty() {
                out.push(',');
            }
            out.push_str("le=\"");
            out.push_str(le);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out
}

/// `# HELP` (when described) and `# TYPE` lines of a family.
fn header(name: &str, kind: &str, help: Option<&SharedString>) -> String {
    let mut out = String::new();
    if let Some(help) = help {
        out.push_str("# HELP ");
        out.push_str(name);
        out.push(' ');
        escape_into(&mut out, help, false);
        out.push('\n');
    }
    let _ = writeln!(out, "# TYPE {name} {kind}");
    out
}

/// Escapes `\` and line feeds (and `"` in label values), as the text format requires.
fn escape_into(out: &mut String, text: &str, label_value: bool) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if label_value => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_escapes() {
        assert_eq!(series_prefix("a", None, "", None), "a ");
        assert_eq!(
            series_prefix("a", Some("bucket"), "x=\"1\"", Some("0.5")),
            "a_bucket{x=\"1\",le=\"0.5\"} "
        );
        assert_eq!(series_prefix("a", Some("sum"), "", None), "a_sum ");
        let key = Key::from_parts("my.metric", vec![metrics::Label::new("k-1", "a\"b\\c\nd")]);
        let (name, labels) = name_and_labels(&key);
        assert_eq!(name, "my_metric");
        assert_eq!(labels, r#"k_1="a\"b\\c\nd""#);
        assert_eq!(
            header("m", "gauge", Some(&"say \"hi\"\n".into())),
            "# HELP m say \"hi\"\\n\n# TYPE m gauge\n"
        );
    }
}
