//! What a chat client measures from the sequence numbers and send times on relayed
//! messages: per-sender gaps (loss), reorders and duplicates, and delivery latency.
//! Over TCP all three counts stay at zero; over UDP they show what the network did.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

/// Sequence numbers remembered behind the highest seen, to tell late from duplicate.
const WINDOW: u64 = 128;

/// Something unusual about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anomaly {
    /// Messages `first..=last` from this sender have not arrived (yet).
    Gap { first: u64, last: u64 },
    /// A message older than the newest one seen arrived late.
    Reordered { seq: u64 },
    /// A message seen before arrived again.
    Duplicate { seq: u64 },
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Anomaly::Gap { first, last } if first == last => write!(f, "message {first} missing"),
            Anomaly::Gap { first, last } => {
                write!(f, "{} messages missing ({first}-{last})", last - first + 1)
            }
            Anomaly::Reordered { seq } => write!(f, "message {seq} arrived out of order"),
            Anomaly::Duplicate { seq } => write!(f, "message {seq} arrived twice"),
        }
    }
}

/// One sender's sequence state: the highest number seen and a bitmap of the `WINDOW`
/// numbers below it.
#[derive(Debug, Default, Clone)]
pub struct SeqTracker {
    highest: u64,
    /// Bit i set: `highest - i` was received.
    seen: u128,
    started: bool,
    pub missing: u64,
    pub gaps: u64,
    pub reordered: u64,
    pub duplicates: u64,
}

impl SeqTracker {
    /// Record `seq`; returns what was unusual about it.
    pub fn observe(&mut self, seq: u64) -> Option<Anomaly> {
        if !self.started {
            // The first message we see sets the baseline: the sender may have talked
            // before we joined.
            self.started = true;
            self.highest = seq;
            self.seen = 1;
            return None;
        }
        if seq > self.highest {
            let jump = seq - self.highest;
            self.seen = if jump >= WINDOW { 0 } else { self.seen << jump };
            self.seen |= 1;
            let prev = self.highest;
            self.highest = seq;
            if jump > 1 {
                self.gaps += 1;
                self.missing += jump - 1;
                return Some(Anomaly::Gap {
                    first: prev + 1,
                    last: seq - 1,
                });
            }
            return None;
        }
        let back = self.highest - seq;
        if back >= WINDOW {
            self.reordered += 1;
            self.missing = self.missing.saturating_sub(1);
            return Some(Anomaly::Reordered { seq });
        }
        let bit = 1u128 << back;
        if self.seen & bit != 0 {
            self.duplicates += 1;
            Some(Anomaly::Duplicate { seq })
        } else {
            self.seen |= bit;
            self.reordered += 1;
            self.missing = self.missing.saturating_sub(1);
            Some(Anomaly::Reordered { seq })
        }
    }
}

/// Everything a client measured.
pub struct ClientStats {
    senders: HashMap<String, SeqTracker>,
    received: u64,
    latency_us: Histogram<u64>,
}

impl Default for ClientStats {
    fn default() -> Self {
        ClientStats {
            senders: HashMap::new(),
            received: 0,
            latency_us: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("static histogram bounds are valid"),
        }
    }
}

/// A latency distribution in milliseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LatencyMs {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// `/stats`, and the `--json` report on exit.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatsReport {
    pub received: u64,
    pub senders: usize,
    pub gaps: u64,
    pub missing: u64,
    pub reordered: u64,
    pub duplicates: u64,
    pub latency_ms: Option<LatencyMs>,
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

    /// The sender left (its next incarnation numbers from 1 again).
    pub fn forget(&mut self, nick: &str) {
        self.senders.remove(nick);
    }

    pub fn report(&self) -> StatsReport {
        let sum = |f: fn(&SeqTracker) -> u64| self.senders.values().map(f).sum();
        let h = &self.latency_us;
        let ms = |us: u64| us as f64 / 1000.0;
        StatsReport {
            received: self.received,
            senders: self.senders.len(),
            gaps: sum(|t| t.gaps),
            missing: sum(|t| t.missing),
            reordered: sum(|t| t.reordered),
            duplicates: sum(|t| t.duplicates),
            latency_ms: (!h.is_empty()).then(|| LatencyMs {
                p50: ms(h.value_at_quantile(0.5)),
                p90: ms(h.value_at_quantile(0.9)),
                p99: ms(h.value_at_quantile(0.99)),
                max: ms(h.max()),
                mean: h.mean() / 1000.0,
            }),
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
    fn in_order_is_clean() {
        let mut t = SeqTracker::default();
        for s in 5..100 {
            assert_eq!(t.observe(s), None);
        }
        assert_eq!((t.gaps, t.missing, t.reordered, t.duplicates), (0, 0, 0, 0));
    }

    #[test]
    fn gap_then_late_arrival_then_duplicate() {
        let mut t = SeqTracker::default();
        t.observe(1);
        assert_eq!(t.observe(4), Some(Anomaly::Gap { first: 2, last: 3 }));
        assert_eq!(t.missing, 2);
        assert_eq!(t.observe(3), Some(Anomaly::Reordered { seq: 3 }));
        assert_eq!(t.missing, 1);
        assert_eq!(t.observe(3), Some(Anomaly::Duplicate { seq: 3 }));
        assert_eq!(t.observe(4), Some(Anomaly::Duplicate { seq: 4 }));
        assert_eq!((t.gaps, t.missing, t.reordered, t.duplicates), (1, 1, 1, 2));
    }

    #[test]
    fn huge_jump_does_not_overflow() {
        let mut t = SeqTracker::default();
        t.observe(1);
        t.observe(u64::MAX);
        assert_eq!(t.missing, u64::MAX - 2);
        assert_eq!(t.observe(2), Some(Anomaly::Reordered { seq: 2 }));
    }

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
}
