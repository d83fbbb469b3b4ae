//! What a chat client measures from the sequence numbers and send times on relayed
//! messages: per-sender gaps (loss), reorders and duplicates, and delivery latency.
//! Over TCP all three counts stay at zero; over UDP they show what the network did.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

pub(super) use crate::measure::seq::{Anomaly, SeqTracker};

/// Everything a client measured.
pub struct ClientStats {
    senders: HashMap<String, SeqTracker>,
    /// What the senders who have left were counted for (their trackers are gone: a nick
    /// that comes back numbers from 1 again).
    departed: Departed,
    received: u64,
    latency_us: Histogram<u64>,
}

/// The counts of senders no longer present.
#[derive(Default)]
struct Departed {
    senders: usize,
    gaps: u64,
    missing: u64,
    reordered: u64,
    duplicates: u64,
}

impl Default for ClientStats {
    fn default() -> Self {
        ClientStats {
            senders: HashMap::new(),
            departed: Departed::default(),
            received: 0,
            latency_us: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("static histogram bounds are valid"),
        }
    }
}

/// A latency distribution in milliseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LatencyMs {
    /// Median, in ms.
    pub p50: f64,
    /// 90th percentile, in ms.
    pub p90: f64,
    /// 99th percentile, in ms.
    pub p99: f64,
    /// Largest, in ms.
    pub max: f64,
    /// Mean, in ms.
    pub mean: f64,
}

/// `/stats`, and the `--json` report on exit.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatsReport {
    /// Chat messages received.
    pub received: u64,
    /// Distinct senders heard from, departed ones included.
    pub senders: usize,
    /// Jumps in a sender's sequence numbers (each a run of missing messages).
    pub gaps: u64,
    /// Messages never received (sequence numbers skipped and not filled in later).
    pub missing: u64,
    /// Messages that arrived after a later one from the same sender.
    pub reordered: u64,
    /// Messages received more than once.
    pub duplicates: u64,
    /// Send-to-receive latency percentiles, in ms; `None` before the first message.
    pub latency_ms: Option<LatencyMs>,
    /// How the session ended (set by [`super::run`] when it returns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<super::End>,
}

impl ClientStats {
    /// Record a relayed chat message; `now_us` is the local receive time.
    pub fn observe(&mut self, from: &str, seq: u64, sent_us: u64, now_us: u64) -> Option<Anomaly> {
        self.received += 1;
        self.latency_us
            .saturating_record(now_us.saturating_sub(sent_us).max(1));
        self.senders
            .entry(from.to_string())
            .or_default()
            .observe(seq)
    }

    /// The sender is now called `new`: keep its sequence state.
    pub fn rename(&mut self, old: &str, new: &str) {
        if let Some(t) = self.senders.remove(old) {
            self.senders.insert(new.to_string(), t);
        }
    }

    /// The sender left (its next incarnation numbers from 1 again); what it was counted
    /// for stays in the totals.
    pub fn departed(&mut self, nick: &str) {
        if let Some(t) = self.senders.remove(nick) {
            let d = &mut self.departed;
            d.senders += 1;
            d.gaps += t.gaps;
            d.missing += t.missing;
            d.reordered += t.reordered;
            d.duplicates += t.duplicates;
        }
    }

    /// The counts so far, over current and departed senders.
    pub fn report(&self) -> StatsReport {
        let sum = |f: fn(&SeqTracker) -> u64| self.senders.values().map(f).sum::<u64>();
        let d = &self.departed;
        let h = &self.latency_us;
        let ms = |us: u64| us as f64 / 1000.0;
        StatsReport {
            received: self.received,
            senders: self.senders.len() + d.senders,
            gaps: sum(|t| t.gaps) + d.gaps,
            missing: sum(|t| t.missing) + d.missing,
            reordered: sum(|t| t.reordered) + d.reordered,
            duplicates: sum(|t| t.duplicates) + d.duplicates,
            latency_ms: (!h.is_empty()).then(|| LatencyMs {
                p50: ms(h.value_at_quantile(0.5)),
                p90: ms(h.value_at_quantile(0.9)),
                p99: ms(h.value_at_quantile(0.99)),
                max: ms(h.max()),
                mean: h.mean() / 1000.0,
            }),
            end: None,
        }
    }
}

impl fmt::Display for StatsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "* stats: {} received from {} senders; missing {} ({} gaps), reordered {}, duplicates {}",
            self.received, self.senders, self.missing, self.gaps, self.reordered, self.duplicates
        )?;
        match &self.latency_ms {
            Some(l) => write!(
                f,
                "; latency p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
                l.p50, l.p90, l.p99, l.max
            ),
            None => write!(f, "; latency n/a"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_sums_senders_and_renames_keep_state() {
        let mut s = ClientStats::default();
        s.observe("a", 1, 1_000, 2_000);
        s.observe("a", 3, 1_000, 3_000);
        s.rename("a", "b");
        s.observe("b", 2, 1_000, 4_000);
        let r = s.report();
        assert_eq!(
            (r.received, r.senders, r.gaps, r.missing, r.reordered),
            (3, 1, 1, 0, 1)
        );
        let l = r.latency_ms.unwrap();
        assert!(l.p50 >= 1.0 && l.max <= 3.01, "{l:?}");
    }

    #[test]
    fn senders_who_left_still_count() {
        let mut s = ClientStats::default();
        s.observe("a", 1, 1_000, 2_000);
        s.observe("a", 3, 1_000, 2_000);
        s.observe("b", 1, 1_000, 2_000);
        s.departed("a");
        s.departed("b");
        s.departed("nobody");
        let r = s.report();
        assert_eq!((r.received, r.senders, r.gaps, r.missing), (3, 2, 1, 1));
        // A returning nick numbers from 1 again: no false reorder.
        s.observe("a", 1, 1_000, 2_000);
        let r = s.report();
        assert_eq!((r.received, r.senders, r.reordered), (4, 3, 0));
    }
}
