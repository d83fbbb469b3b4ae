//! What the emulator did, per direction: packets received, passed, dropped by loss,
//! dropped by the queue, duplicated, reordered, and the mean delay it added. A
//! [`SharedCounts`] lets the shuttle thread publish them while the lab runs; [`LinkCounts`]
//! is the pair that every result prints.

use serde::Serialize;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// One direction's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Packets read from the sending side.
    pub received: u64,
    /// Packets let through (each once; duplicates are counted in `duplicated`).
    pub passed: u64,
    /// Dropped by `loss=` (independent or bursty).
    pub dropped_loss: u64,
    /// Dropped because the rate limiter's queue (or the engine's hard cap) was full.
    pub dropped_queue: u64,
    /// Of the dropped packets (loss or queue), the TCP segments that carried data: what
    /// a TCP sender on this side had to retransmit.
    pub dropped_tcp_data: u64,
    /// Extra copies sent by `dup=`.
    pub duplicated: u64,
    /// Packets that a later packet overtook (`reorder=`).
    pub reordered: u64,
    /// Sum of the delay added to passed packets (queueing, delay, jitter, hold), in ns.
    pub delay_sum_ns: u64,
    /// Writes to the receiving side that failed (the kernel refused the packet).
    pub write_errors: u64,
}

impl Counts {
    /// Mean delay added to a passed packet, in milliseconds.
    pub fn mean_delay_ms(&self) -> f64 {
        if self.passed == 0 {
            0.0
        } else {
            self.delay_sum_ns as f64 / self.passed as f64 / 1e6
        }
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} in, {} passed, {} lost, {} queue-dropped, {} duplicated, {} reordered, +{:.3} ms mean delay",
            self.received,
            self.passed,
            self.dropped_loss,
            self.dropped_queue,
            self.duplicated,
            self.reordered,
            self.mean_delay_ms()
        )?;
        if self.dropped_tcp_data > 0 {
            write!(
                f,
                ", {} TCP data segments among the dropped",
                self.dropped_tcp_data
            )?;
        }
        if self.write_errors > 0 {
            write!(f, ", {} write errors", self.write_errors)?;
        }
        Ok(())
    }
}

/// Both directions: uplink is inside → host, downlink is host → inside.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LinkCounts {
    /// Inside → host.
    pub uplink: Counts,
    /// Host → inside.
    pub downlink: Counts,
}

impl fmt::Display for LinkCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "link uplink   (inside -> host): {}", self.uplink)?;
        writeln!(f, "link downlink (host -> inside): {}", self.downlink)
    }
}

/// Counters a shuttle thread stores and anyone may read (relaxed atomics: each field is
/// exact, a snapshot taken mid-run may mix fields from two moments).
#[derive(Debug, Default)]
pub struct SharedCounts([AtomicU64; 9]);

impl SharedCounts {
    /// Publish a direction's counts (its shuttle thread does, as it goes).
    pub fn store(&self, c: &Counts) {
        let v = [
            c.received,
            c.passed,
            c.dropped_loss,
            c.dropped_queue,
            c.duplicated,
            c.reordered,
            c.delay_sum_ns,
            c.write_errors,
            c.dropped_tcp_data,
        ];
        for (a, x) in self.0.iter().zip(v) {
            a.store(x, Ordering::Relaxed);
        }
    }

    /// The counts last published.
    pub fn load(&self) -> Counts {
        let v: Vec<u64> = self.0.iter().map(|a| a.load(Ordering::Relaxed)).collect();
        Counts {
            received: v[0],
            passed: v[1],
            dropped_loss: v[2],
            dropped_queue: v[3],
            duplicated: v[4],
            reordered: v[5],
            delay_sum_ns: v[6],
            write_errors: v[7],
            dropped_tcp_data: v[8],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_round_trips_and_mean() {
        let c = Counts {
            received: 10,
            passed: 4,
            dropped_loss: 3,
            dropped_queue: 3,
            duplicated: 1,
            reordered: 2,
            delay_sum_ns: 8_000_000,
            write_errors: 5,
            dropped_tcp_data: 2,
        };
        let s = SharedCounts::default();
        s.store(&c);
        assert_eq!(s.load(), c);
        assert_eq!(c.mean_delay_ms(), 2.0);
        assert_eq!(Counts::default().mean_delay_ms(), 0.0);
        assert!(c.to_string().contains("3 lost, 3 queue-dropped"));
    }
}
