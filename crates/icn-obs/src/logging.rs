//! Logging setup: tracing-subscriber writing to stderr, pretty or JSON.

use std::io::IsTerminal;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| ObsError::Logging(e.to_string()))
}
