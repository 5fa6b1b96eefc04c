//! The node's own `metrics` recorder: atomic storage for every series and the bookkeeping that
//! lets [`crate::exposition`] render a page without re-deriving names and labels on each scrape.
//!
//! It stores exactly what `metrics-exporter-prometheus`'s `PrometheusRecorder` stores (a
//! `metrics-util` [`Registry`] of atomic counters and gauges, histogram samples buffered in an
//! [`AtomicBucket`] until upkeep folds them into explicit buckets) and renders the same text. We
//! keep our own because the exporter's registry is private: its `render()` rebuilds every name,
//! label set and hash map on each call (~2 µs per series), while ours keeps a pre-rendered layout
//! and only rebuilds it when a series or a description is added.
//!
//! # Contract
//! - Every histogram name needs buckets, given at construction; a histogram registered under any
//!   other name gets [`DEFAULT_BUCKETS`] (never a summary).
//! - The first description of a name wins (as with the exporter).
//! - Samples recorded into a histogram wait in its bucket until [`NodeRecorder::run_upkeep`] or a
//!   render drains them: call one of them every few seconds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{Registry, Storage};
use metrics_util::storage::AtomicBucket;

use crate::ObsError;
use crate::exposition::Layout;

/// Buckets of a histogram whose name was not configured (Prometheus client libraries' default).
pub const DEFAULT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A per-node recorder with a Prometheus text renderer. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct NodeRecorder {
    shared: Arc<Shared>,
}

/// What the recorder and the renderer share.
pub(crate) struct Shared {
    pub(crate) registry: Registry<Key, CountingStorage>,
    /// HELP text by (sanitized) metric name.
    pub(crate) descriptions: RwLock<HashMap<String, SharedString>>,
    /// Bucket bounds by (sanitized) histogram name.
    pub(crate) buckets: HashMap<String, Vec<f64>>,
    /// The pre-rendered page layout; also owns the folded histogram buckets.
    layout: Mutex<Layout>,
}

/// Atomic storage (as `metrics_util::registry::AtomicStorage`) that counts what it creates, so
/// the renderer can tell cheaply whether its layout is still complete.
pub(crate) struct CountingStorage {
    /// Series created plus descriptions added since start; the layout records the value it was
    /// built at.
    pub(crate) changes: AtomicU64,
}

impl CountingStorage {
    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
    }
}

impl Storage<Key> for CountingStorage {
    type Counter = Arc<AtomicU64>;
    type Gauge = Arc<AtomicU64>;
    type Histogram = Arc<AtomicBucket<f64>>;

    fn counter(&self, _: &Key) -> Self::Counter {
        self.changed();
        Arc::new(AtomicU64::new(0))
    }

    fn gauge(&self, _: &Key) -> Self::Gauge {
        self.changed();
        Arc::new(AtomicU64::new(0))
    }

    fn histogram(&self, _: &Key) -> Self::Histogram {
        self.changed();
        Arc::new(AtomicBucket::new())
    }
}

impl std::fmt::Debug for NodeRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeRecorder").finish_non_exhaustive()
    }
}

impl NodeRecorder {
    /// A recorder whose histograms named in `buckets` use those upper bounds.
    ///
    /// # Errors
    /// [`ObsError::Build`] when a bucket list is empty or not strictly increasing.
    pub fn new<'a>(
        buckets: impl IntoIterator<Item = (&'a str, &'a [f64])>,
    ) -> Result<Self, ObsError> {
        let mut by_name = HashMap::new();
        for (name, bounds) in buckets {
            let increasing = bounds.windows(2).all(|w| w[0] < w[1]);
            if bounds.is_empty() || !increasing {
                return Err(ObsError::Build(format!(
                    "{name}: buckets must be a non-empty increasing list"
                )));
            }
            by_name.insert(sanitize_metric_name(name), bounds.to_vec());
        }
        Ok(Self {
            shared: Arc::new(Shared {
                registry: Registry::new(CountingStorage {
                    changes: AtomicU64::new(0),
                }),
                descriptions: RwLock::new(HashMap::new()),
                buckets: by_name,
                layout: Mutex::new(Layout::default()),
            }),
        })
    }

    /// Renders the Prometheus text exposition (format 0.0.4), draining pending histogram samples.
    pub fn render(&self) -> String {
        self.layout().render(&self.shared)
    }

    /// Folds pending histogram samples into their buckets, so memory stays bounded between
    /// scrapes.
    pub fn run_upkeep(&self) {
        self.layout().upkeep(&self.shared);
    }

    fn layout(&self) -> std::sync::MutexGuard<'_, Layout> {
        // A panic while rendering leaves at worst a stale layout, which the next call rebuilds.
        self.shared
            .layout
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn describe(&self, name: &KeyName, description: SharedString) {
        let name = sanitize_metric_name(name.as_str());
        if self
            .shared
            .descriptions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&name)
        {
            return;
        }
        let mut descriptions = self
            .shared
            .descriptions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let std::collections::hash_map::Entry::Vacant(slot) = descriptions.entry(name) {
            slot.insert(description);
            self.shared.registry.storage().changed();
        }
    }
}

impl Recorder for NodeRecorder {
    fn describe_counter(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(&key, description);
    }

    fn describe_gauge(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(&key, description);
    }

    fn describe_histogram(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(&key, description);
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        self.shared
            .registry
            .get_or_create_counter(key, |c| Counter::from_arc(c.clone()))
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        self.shared
            .registry
            .get_or_create_gauge(key, |g| Gauge::from_arc(g.clone()))
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        self.shared
            .registry
            .get_or_create_histogram(key, |h| Histogram::from_arc(h.clone()))
    }
}

/// A valid Prometheus metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`, any other character replaced by
/// `_` (the exporter's rule).
pub(crate) fn sanitize_metric_name(name: &str) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            let valid =
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit());
            if valid { c } else { '_' }
        })
        .collect()
}

/// A valid Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`, any other character replaced by `_`.
pub(crate) fn sanitize_label_name(name: &str) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            let valid = c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit());
            if valid { c } else { '_' }
        })
        .collect()
}
