//! Latency summaries from hdrhistogram, shared by every measurement.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Duration;

/// A histogram of durations in nanoseconds, 1 ns to 100 s, 3 significant digits.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("static bounds are valid")
}

pub(crate) fn record(h: &mut Histogram<u64>, d: Duration) {
    h.saturating_record((d.as_nanos() as u64).max(1));
}

/// Percentiles in microseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    /// Values recorded.
    pub samples: u64,
    /// The smallest, in µs.
    pub min_us: f64,
    /// The median, in µs.
    pub p50_us: f64,
    /// The 90th percentile, in µs.
    pub p90_us: f64,
    /// The 99th percentile, in µs.
    pub p99_us: f64,
    /// The 99.9th percentile, in µs.
    pub p999_us: f64,
    /// The largest, in µs.
    pub max_us: f64,
    /// The mean, in µs.
    pub mean_us: f64,
}

impl Latency {
    /// Percentiles of a histogram of nanoseconds; `None` if it is empty.
    pub fn from_histogram(h: &Histogram<u64>) -> Option<Latency> {
        if h.is_empty() {
            return None;
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Some(Latency {
            samples: h.len(),
            min_us: us(h.min()),
            p50_us: us(h.value_at_quantile(0.5)),
            p90_us: us(h.value_at_quantile(0.9)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            mean_us: h.mean() / 1000.0,
        })
    }
}

/// (latency µs, cumulative fraction) points of a CDF, for plotting.
pub(crate) fn cdf(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    let total = h.len().max(1) as f64;
    let mut seen = 0u64;
    h.iter_recorded()
        .map(|v| {
            seen += v.count_at_value();
            (v.value_iterated_to() as f64 / 1000.0, seen as f64 / total)
        })
        .collect()
}
