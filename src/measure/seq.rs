//! Sequence tracking for one sender: from the sequence numbers that arrive, count what
//! is missing (gaps), what arrived late (reordered) and what arrived twice (duplicates).
//! Used by the chat client for relayed messages and by the bench's UDP stream sink.

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
    /// Numbers skipped and not (yet) filled in by a late arrival.
    pub missing: u64,
    /// Jumps past the next expected number.
    pub gaps: u64,
    /// Arrivals older than the newest seen.
    pub reordered: u64,
    /// Arrivals seen before.
    pub duplicates: u64,
}

impl SeqTracker {
    /// The highest sequence number seen.
    pub fn highest(&self) -> u64 {
        self.highest
    }

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
}
