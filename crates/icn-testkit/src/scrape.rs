//! Scraping and querying a Prometheus text page.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use prometheus_parse::{Scrape, Value};

/// A parsed `/metrics` page.
#[derive(Debug, Clone)]
pub struct Metrics {
    raw: String,
    scrape: Scrape,
}

/// A histogram series: cumulative buckets, sample count and sum.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// `(upper bound, cumulative count)`, ascending, `+Inf` last.
    pub buckets: Vec<(f64, f64)>,
    /// `_count`.
    pub count: f64,
    /// `_sum`.
    pub sum: f64,
}

impl Metrics {
    /// Parses a text exposition.
    ///
    /// # Errors
    /// When the text cannot be parsed.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let scrape = Scrape::parse(lines)?;
        Ok(Self {
            raw: text.to_string(),
            scrape,
        })
    }

    /// The page as served.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// HELP text of a metric family.
    pub fn help(&self, name: &str) -> Option<&str> {
        self.scrape.docs.get(name).map(String::as_str)
    }

    /// `# TYPE` of a metric family, as written on the page.
    pub fn type_of(&self, name: &str) -> Option<&str> {
        let prefix = format!("# TYPE {name} ");
        self.raw
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .map(str::trim)
    }

    /// Every metric family name that has at least one sample (histograms by base name).
    pub fn names(&self) -> std::collections::BTreeSet<String> {
        self.scrape
            .samples
            .iter()
            .map(|s| s.metric.clone())
            .collect()
    }

    /// Value of the series `name` with exactly these labels (empty: the unlabelled series).
    pub fn value_with(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<&str, &str> = labels.iter().copied().collect();
        self.scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .find(|s| {
                let have: BTreeMap<&str, &str> = s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                have == want
            })
            .and_then(|s| scalar(&s.value))
    }

    /// Value of the unlabelled series `name`.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.value_with(name, &[])
    }

    /// Value of an unlabelled series, or 0 when absent (for readable assertions on counters).
    pub fn get(&self, name: &str) -> f64 {
        self.value(name).unwrap_or(0.0)
    }

    /// Sum over every series of `name`, whatever its labels.
    pub fn sum(&self, name: &str) -> f64 {
        self.scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter_map(|s| scalar(&s.value))
            .sum()
    }

    /// The histogram `name` with exactly these labels.
    pub fn histogram_with(&self, name: &str, labels: &[(&str, &str)]) -> Option<Histogram> {
        let want: BTreeMap<&str, &str> = labels.iter().copied().collect();
        let sample = self
            .scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .find(|s| {
                let have: BTreeMap<&str, &str> = s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                have == want
            })?;
        let Value::Histogram(buckets) = &sample.value else {
            return None;
        };
        let mut buckets: Vec<(f64, f64)> = buckets.iter().map(|b| (b.less_than, b.count)).collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Some(Histogram {
            buckets,
            count: self.value_with(&format!("{name}_count"), labels)?,
            sum: self.value_with(&format!("{name}_sum"), labels)?,
        })
    }

    /// The unlabelled histogram `name`.
    pub fn histogram(&self, name: &str) -> Option<Histogram> {
        self.histogram_with(name, &[])
    }
}

fn scalar(value: &Value) -> Option<f64> {
    match value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(*v),
        Value::Histogram(_) | Value::Summary(_) => None,
    }
}

/// Fetches and parses `http://addr/metrics`.
///
/// # Errors
/// On HTTP failure, a non-200 answer or an unparsable page.
pub async fn scrape(addr: SocketAddr) -> anyhow::Result<Metrics> {
    scrape_path(addr, "/metrics").await
}

/// Fetches and parses `http://addr{path}`.
///
/// # Errors
/// On HTTP failure, a non-200 answer or an unparsable page.
pub async fn scrape_path(addr: SocketAddr, path: &str) -> anyhow::Result<Metrics> {
    let response = reqwest::get(format!("http://{addr}{path}")).await?;
    anyhow::ensure!(
        response.status().is_success(),
        "scrape of {addr}{path} answered {}",
        response.status()
    );
    Metrics::parse(&response.text().await?)
}
