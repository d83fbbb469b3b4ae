//! The round-trip part's intervals: round trips answered, lost and late, their median
//! and maximum, and the jitter of the round-trip times (RFC 3550's estimator applied to
//! successive round trips), collected by an [`RttWindow`] that the loop empties at
//! each interval's end.

use crate::measure::latency;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Duration;

/// Round trips in one interval.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct RttInterval {
    /// Round trips answered in time.
    pub round_trips: u64,
    /// Round trips with no reply in time.
    pub lost: u64,
    /// Replies that came after their round trip had timed out (UDP) or were skipped.
    pub late: u64,
    /// Median round trip, in µs.
    pub p50_us: Option<f64>,
    /// Longest round trip, in µs.
    pub max_us: Option<f64>,
    /// Jitter of successive round trips at the end of the interval, in µs.
    pub jitter_us: f64,
}

/// What the loop has seen since the last interval's end.
#[derive(Debug)]
pub struct RttWindow {
    hist: Histogram<u64>,
    answered: u64,
    lost: u64,
    late_before: u64,
    last_ns: Option<f64>,
    jitter_ns: f64,
}

impl Default for RttWindow {
    fn default() -> Self {
        RttWindow {
            hist: latency::histogram(),
            answered: 0,
            lost: 0,
            late_before: 0,
            last_ns: None,
            jitter_ns: 0.0,
        }
    }
}

impl RttWindow {
    /// A round trip answered after `rtt`.
    pub fn answered(&mut self, rtt: Duration) {
        latency::record(&mut self.hist, rtt);
        self.answered += 1;
        let ns = rtt.as_nanos() as f64;
        if let Some(prev) = self.last_ns {
            self.jitter_ns += ((ns - prev).abs() - self.jitter_ns) / 16.0;
        }
        self.last_ns = Some(ns);
    }

    /// A round trip with no reply in time.
    pub fn lost(&mut self) {
        self.lost += 1;
    }

    /// The interval that ends now; `late_total` is the pinger's running count of late
    /// replies. The window starts over (the jitter carries on).
    pub fn take(&mut self, late_total: u64) -> RttInterval {
        let us = |ns: u64| ns as f64 / 1000.0;
        let empty = self.hist.is_empty();
        let iv = RttInterval {
            round_trips: self.answered,
            lost: self.lost,
            late: late_total.saturating_sub(self.late_before),
            p50_us: (!empty).then(|| us(self.hist.value_at_quantile(0.5))),
            max_us: (!empty).then(|| us(self.hist.max())),
            jitter_us: self.jitter_ns / 1000.0,
        };
        self.hist.reset();
        self.answered = 0;
        self.lost = 0;
        self.late_before = late_total;
        iv
    }
}
