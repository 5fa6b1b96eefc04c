//! Summaries of latency samples.

use std::time::Duration;

use serde::Serialize;

/// Percentiles of a set of latency samples, in milliseconds.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile (nearest rank).
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
    /// Number of samples.
    pub samples: usize,
}

impl Latency {
    /// Summarises `samples`; `None` when there are none.
    pub fn of(samples: &[Duration]) -> Option<Self> {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let max_ms = *ms.last()?;
        Some(Self {
            p50_ms: percentile(&ms, 50.0),
            p99_ms: percentile(&ms, 99.0),
            max_ms,
            samples: ms.len(),
        })
    }
}

/// Nearest-rank percentile of sorted, non-empty `sorted`.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of `values` (sorted in place); 0 for none.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    percentile(values, 50.0)
}

/// CPU time all threads of this process have used so far, seconds, from the kernel's
/// per-process CPU clock (`CLOCK_PROCESS_CPUTIME_ID`: nanoseconds, where `/proc`'s
/// utime + stime counts 10 ms ticks).
///
/// # Errors
/// When the clock cannot be read.
pub fn process_cpu_seconds() -> anyhow::Result<f64> {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)?;
    Ok(now.tv_sec() as f64 + now.tv_nsec() as f64 / 1e9)
}

/// Megabytes (10^6 bytes) per second.
pub fn mb_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of(&samples).expect("samples");
        assert_eq!((l.p50_ms, l.p99_ms, l.max_ms), (50.0, 99.0, 100.0));
        assert!(Latency::of(&[]).is_none());
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
    }
}
