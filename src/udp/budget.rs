//! Rate budgets for UDP: a token bucket ([`TokenBucket`]) per chat member and for all
//! unvalidated sources together, and a bounded table of buckets keyed by source
//! ([`PerSource`]) for the echo server. Time is tokio's clock, so tests can pause it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;
use tokio::time::Instant;

/// A sustained rate and a burst, in datagrams (or messages). `per_sec == 0`: unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Sustained rate, per second; 0 means unlimited.
    pub per_sec: u32,
    /// Items allowed at once after a quiet spell (the bucket's size; at least 1).
    pub burst: u32,
}

impl Rate {
    /// No limit at all.
    pub const UNLIMITED: Rate = Rate {
        per_sec: 0,
        burst: 0,
    };

    /// `per_sec` per second sustained, bursts of `burst`.
    pub fn new(per_sec: u32, burst: u32) -> Rate {
        Rate { per_sec, burst }
    }

    /// Whether this rate limits nothing (`per_sec == 0`).
    pub fn is_unlimited(&self) -> bool {
        self.per_sec == 0
    }

    fn capacity(&self) -> f64 {
        f64::from(self.burst.max(1))
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_unlimited() {
            f.write_str("unlimited")
        } else {
            write!(f, "{}/s, burst {}", self.per_sec, self.burst.max(1))
        }
    }
}

/// A token bucket: starts full (`burst` tokens), refills at `per_sec`, one token per item.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `rate`, as of `now`.
    pub fn new(rate: Rate, now: Instant) -> Self {
        TokenBucket {
            tokens: rate.capacity(),
            last: now,
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * f64::from(rate.per_sec)).min(rate.capacity());
        self.last = now;
    }

    /// Take one token; `false` when the bucket is empty (the item is over budget).
    pub fn take(&mut self, rate: Rate, now: Instant) -> bool {
        if rate.is_unlimited() {
            return true;
        }
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket has refilled completely (its owner has been quiet).
    pub fn is_full(&mut self, rate: Rate, now: Instant) -> bool {
        self.refill(rate, now);
        self.tokens >= rate.capacity()
    }
}

/// How often a full [`PerSource`] table may be swept for quiet sources.
const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// One bucket per source, at most `cap` of them. A full table first forgets sources
/// whose bucket has refilled (they have been quiet); if every source is still active,
/// a new source is refused rather than let in with a fresh burst, so no source ever
/// exceeds its budget. IPv6 sources are keyed by their /64, what one host usually has.
#[derive(Debug)]
pub struct PerSource {
    rate: Rate,
    cap: usize,
    buckets: HashMap<IpAddr, TokenBucket>,
    last_sweep: Option<Instant>,
}

impl PerSource {
    /// A table of at most `cap` sources (at least 1), each held to `rate`.
    pub fn new(rate: Rate, cap: usize) -> Self {
        PerSource {
            rate,
            cap: cap.max(1),
            buckets: HashMap::new(),
            last_sweep: None,
        }
    }

    /// Sources tracked now.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no source is tracked.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Take one token for `ip`; `false`: over budget (or the table is full of active sources).
    pub fn take(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.rate.is_unlimited() {
            return true;
        }
        let key = source_key(ip);
        if let Some(b) = self.buckets.get_mut(&key) {
            return b.take(self.rate, now);
        }
        if self.buckets.len() >= self.cap {
            let due = match self.last_sweep {
                None => true,
                Some(t) => now.saturating_duration_since(t) >= SWEEP_EVERY,
            };
            if due {
                let rate = self.rate;
                self.buckets.retain(|_, b| !b.is_full(rate, now));
                self.last_sweep = Some(now);
            }
            if self.buckets.len() >= self.cap {
                return false;
            }
        }
        let mut b = TokenBucket::new(self.rate, now);
        let ok = b.take(self.rate, now);
        self.buckets.insert(key, b);
        ok
    }
}

/// The key of a source: its IPv4 address, or the /64 of its IPv6 address.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut o = v6.octets();
                o[8..].fill(0);
                IpAddr::V6(o.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_rate() {
        let t0 = Instant::now();
        let rate = Rate::new(10, 5);
        let mut b = TokenBucket::new(rate, t0);
        let first: usize = (0..20).filter(|_| b.take(rate, t0)).count();
        assert_eq!(first, 5, "the burst, then nothing");
        // 0.5 s later: 5 more tokens (10/s), capped at the burst.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!((0..20).filter(|_| b.take(rate, t1)).count(), 5);
        let t2 = t1 + Duration::from_secs(60);
        assert!(b.is_full(rate, t2));
        let mut u = TokenBucket::new(Rate::UNLIMITED, t0);
        assert!((0..10_000).all(|_| u.take(Rate::UNLIMITED, t0)));
    }

    #[test]
    fn per_source_is_bounded_and_forgets_quiet_sources() {
        let t0 = Instant::now();
        let mut p = PerSource::new(Rate::new(1, 2), 3);
        let ip = |n: u8| IpAddr::from([10, 0, 0, n]);
        for n in 1..=3 {
            assert!(p.take(ip(n), t0));
        }
        assert!(!p.take(ip(4), t0), "table full of active sources: refused");
        assert_eq!(p.len(), 3);
        assert!(p.take(ip(1), t0), "second token of the burst");
        assert!(!p.take(ip(1), t0), "over budget");
        // Once the others have refilled, they make room.
        let t1 = t0 + Duration::from_secs(5);
        assert!(p.take(ip(4), t1));
        assert!(p.len() <= 3);
        // A /64 is one source.
        let mut v6 = PerSource::new(Rate::new(1, 1), 8);
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::2".parse().unwrap();
        assert!(v6.take(a, t0));
        assert!(!v6.take(b, t0));
    }
}
