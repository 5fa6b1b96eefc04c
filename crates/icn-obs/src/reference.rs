//! The metric reference (docs/metrics.md), generated from the catalogue.

use std::fmt::Write;

use crate::catalogue::{CATALOGUE, LEGACY_TOTAL_GAUGES, MetricKind};

/// Renders the reference table of every metric as Markdown.
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str("# Metrics reference\n\n");
    out.push_str(
        "Generated from the catalogue in `crates/icn-obs/src/catalogue/` by \
         `icnd metrics --markdown`; a test fails when this file is out of date.\n\n",
    );
    out.push_str(
        "Every series below is present from the first scrape (labelled series with a closed \
         label set included). Histograms are Prometheus histograms (`_bucket`, `_sum`, \
         `_count`).\n\n",
    );
    out.push_str("| name | type | unit | labels | meaning | updated by |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for def in CATALOGUE {
        let unit = def.unit.map(|u| u.as_str()).unwrap_or("-");
        let labels = if def.labels.is_empty() {
            "-".to_string()
        } else {
            def.labels
                .iter()
                .map(|l| {
                    if l.values.is_empty() {
                        format!("`{}` (set at start-up)", l.name)
                    } else {
                        format!("`{}`: {}", l.name, l.values.join(", "))
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let mut meaning = def.help.to_string();
        if def.kind == MetricKind::Histogram {
            let buckets: Vec<String> = def.buckets.iter().map(f64::to_string).collect();
            let _ = write!(meaning, " Buckets: {}.", buckets.join(", "));
        }
        if LEGACY_TOTAL_GAUGES.contains(&def.name) {
            meaning.push_str(" *(Kept name of the original design.)*");
        }
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} |",
            def.name,
            def.kind.as_str(),
            unit,
            labels,
            meaning,
            def.updated_by
        );
    }
    out
}
