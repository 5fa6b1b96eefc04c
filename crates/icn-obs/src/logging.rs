//! Logging setup: tracing-subscriber writing to stderr, pretty or JSON.

use std::io::IsTerminal;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::labels::LogLevel;

/// Log events emitted so far in this process, by [`LogLevel`] index.
static LOG_COUNTS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

/// Counts every event that passes the filter, by level.
struct CountingLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountingLayer {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => LogLevel::Error,
            tracing::Level::WARN => LogLevel::Warn,
            tracing::Level::INFO => LogLevel::Info,
            tracing::Level::DEBUG => LogLevel::Debug,
            tracing::Level::TRACE => LogLevel::Trace,
        };
        LOG_COUNTS[level as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// Log events emitted by this process so far at `level` (events the filter dropped excluded).
pub fn log_count(level: LogLevel) -> u64 {
    LOG_COUNTS[level as usize].load(Ordering::Relaxed)
}

use crate::ObsError;

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pretty" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "unknown log format {other:?} (expected pretty or json)"
            )),
        }
    }
}

/// Builds the filter: an explicit level (from `--log-level` or the config) wins over `RUST_LOG`;
/// with neither, `info`.
///
/// # Errors
/// [`ObsError::Logging`] when the directive does not parse.
pub fn filter(level: Option<&str>) -> Result<EnvFilter, ObsError> {
    let directive = match level {
        Some(level) => level.to_string(),
        None => std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_string()),
    };
    EnvFilter::try_new(&directive)
        .map_err(|e| ObsError::Logging(format!("bad log level {directive:?}: {e}")))
}

/// Installs the global tracing subscriber. Call once, before anything logs, so the level applies
/// from the first line. Logs go to stderr.
///
/// # Errors
/// [`ObsError::Logging`] if the level does not parse or a subscriber is already installed.
pub fn init(format: LogFormat, level: Option<&str>) -> Result<(), ObsError> {
    let filter = filter(level)?;
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(CountingLayer);
    let result = match format {
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::stderr().is_terminal()),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    result.map_err(|e| ObsError::Logging(e.to_string()))
}
