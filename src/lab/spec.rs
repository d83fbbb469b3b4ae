//! The link spec: `delay=25ms jitter=5ms loss=1% burst=4 dup=1% reorder=2% rate=20mbit
//! queue=100 seed=7` parsed into a [`LinkSpec`], with an error that names the bad field.
//!
//! Fields are `key=value`, separated by spaces or commas, each at most once; the empty
//! spec is a perfect link. Units:
//! - `delay`, `jitter`: a number with `us`, `ms` or `s` (`1.5ms`, `500us`);
//! - `loss`, `dup`, `reorder`: a percentage, `%` optional (`loss=1%` = `loss=1`);
//! - `burst`: mean length of a loss burst in packets (≥ 1; Gilbert–Elliott, needs `loss`);
//! - `rate`: bits per second with `bit`, `kbit`, `mbit` or `gbit` (powers of 1000);
//! - `queue`: the rate limiter's drop-tail queue, in packets (`100`, `100p`) or bytes
//!   (`64kb`, `150000b`); needs `rate`; default [`DEFAULT_QUEUE_PACKETS`] packets;
//! - `seed`: a u64 that makes the random choices replay exactly.

use std::fmt;
use std::time::Duration;

/// The rate limiter's queue when `queue=` is not given.
pub const DEFAULT_QUEUE_PACKETS: usize = 100;

/// What one direction of the link does to packets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkSpec {
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Uniform in `[-jitter, +jitter]` around `delay` (see [`crate::lab::impair`]).
    pub jitter: Duration,
    /// Loss probability, 0..=1.
    pub loss: f64,
    /// Mean loss burst length (Gilbert–Elliott); `None`: independent loss.
    pub burst: Option<f64>,
    /// Duplication probability, 0..=1.
    pub dup: f64,
    /// Probability that a packet is held back behind the next one, 0..=1.
    pub reorder: f64,
    /// Bottleneck rate in bits per second; `None`: no rate limit.
    pub rate_bps: Option<u64>,
    /// The rate limiter's drop-tail queue.
    pub queue: Queue,
    /// Seed for the random choices; `None`: drawn at start (and reported, to replay).
    pub seed: Option<u64>,
}

/// A drop-tail queue limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// At most this many packets waiting (`queue=100`).
    Packets(usize),
    /// At most this many bytes waiting (`queue=64kb`).
    Bytes(usize),
}

impl Default for Queue {
    fn default() -> Self {
        Queue::Packets(DEFAULT_QUEUE_PACKETS)
    }
}

/// A spec that could not be parsed: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("link spec: `{field}`: {reason}")]
pub struct SpecError {
    /// The `key=value` that is wrong, as written.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

fn err(field: &str, reason: impl Into<String>) -> SpecError {
    SpecError {
        field: field.to_string(),
        reason: reason.into(),
    }
}

impl LinkSpec {
    /// Parse a spec (see the module docs for the grammar).
    pub fn parse(s: &str) -> Result<LinkSpec, SpecError> {
        let mut spec = LinkSpec::default();
        let mut seen: Vec<&str> = Vec::new();
        let mut queue_given = false;
        for item in s.split([' ', ',', '\t']).filter(|t| !t.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| err(item, "expected key=value (e.g. delay=25ms)"))?;
            if seen.contains(&key) {
                return Err(err(item, "given twice"));
            }
            seen.push(key);
            match key {
                "delay" => spec.delay = duration(item, value)?,
                "jitter" => spec.jitter = duration(item, value)?,
                "loss" => spec.loss = percent(item, value)?,
                "dup" => spec.dup = percent(item, value)?,
                "reorder" => spec.reorder = percent(item, value)?,
                "burst" => {
                    let b: f64 = value
                        .parse()
                        .map_err(|_| err(item, "not a number of packets (e.g. burst=4)"))?;
                    if !(b.is_finite() && b >= 1.0) {
                        return Err(err(item, "mean burst length must be at least 1 packet"));
                    }
                    spec.burst = Some(b);
                }
                "rate" => spec.rate_bps = Some(rate(item, value)?),
                "queue" => {
                    spec.queue = queue(item, value)?;
                    queue_given = true;
                }
                "seed" => {
                    spec.seed = Some(
                        value
                            .parse()
                            .map_err(|_| err(item, "not an unsigned 64-bit integer"))?,
                    )
                }
                _ => return Err(err(
                    item,
                    "unknown field (known: delay jitter loss burst dup reorder rate queue seed)",
                )),
            }
        }
        if spec.burst.is_some() && spec.loss == 0.0 {
            return Err(err(
                "burst",
                "needs loss= (the mean loss rate of the bursts)",
            ));
        }
        if spec.burst.is_some() && spec.loss >= 1.0 {
            return Err(err("burst", "with loss=100% every packet is lost anyway"));
        }
        if queue_given && spec.rate_bps.is_none() {
            return Err(err(
                "queue",
                "needs rate= (the queue feeds the rate limiter)",
            ));
        }
        Ok(spec)
    }

    /// True when the spec changes nothing: packets may bypass the engine.
    pub fn is_transparent(&self) -> bool {
        self.delay.is_zero()
            && self.jitter.is_zero()
            && self.loss == 0.0
            && self.dup == 0.0
            && self.reorder == 0.0
            && self.rate_bps.is_none()
    }
}

fn duration(item: &str, v: &str) -> Result<Duration, SpecError> {
    let bad = || err(item, "not a duration (e.g. 25ms, 1.5ms, 500us, 1s)");
    let (num, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else {
        return Err(bad());
    };
    let x: f64 = num.parse().map_err(|_| bad())?;
    if !x.is_finite() || x < 0.0 || x * scale > 3600.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(x * scale))
}

fn percent(item: &str, v: &str) -> Result<f64, SpecError> {
    let num = v.strip_suffix('%').unwrap_or(v);
    let x: f64 = num
        .parse()
        .map_err(|_| err(item, "not a percentage (e.g. 1% or 0.5%)"))?;
    if !(0.0..=100.0).contains(&x) {
        return Err(err(item, "a percentage must be between 0 and 100"));
    }
    Ok(x / 100.0)
}

fn rate(item: &str, v: &str) -> Result<u64, SpecError> {
    let lower = v.to_ascii_lowercase();
    if lower.ends_with("bps") {
        return Err(err(
            item,
            "ambiguous unit (tc reads mbps as megabytes): use bit, kbit, mbit or gbit",
        ));
    }
    let bad = || err(item, "not a rate (e.g. 20mbit, 500kbit, 1gbit)");
    let (num, mult) = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)]
        .iter()
        .find_map(|(u, m)| lower.strip_suffix(u).map(|n| (n, *m)))
        .ok_or_else(bad)?;
    let x: f64 = num.parse().map_err(|_| bad())?;
    let bps = x * mult;
    if !(1000.0..=1e12).contains(&bps) {
        return Err(err(item, "rate must be between 1kbit and 1000gbit"));
    }
    Ok(bps as u64)
}

fn queue(item: &str, v: &str) -> Result<Queue, SpecError> {
    let lower = v.to_ascii_lowercase();
    let bad = || {
        err(
            item,
            "not a queue size (e.g. 100 or 100p packets, 64kb or 150000b bytes)",
        )
    };
    let parse = |n: &str| n.parse::<usize>().map_err(|_| bad());
    let q = if let Some(n) = lower.strip_suffix("kb") {
        Queue::Bytes(parse(n)?.checked_mul(1000).ok_or_else(bad)?)
    } else if let Some(n) = lower.strip_suffix("mb") {
        Queue::Bytes(parse(n)?.checked_mul(1_000_000).ok_or_else(bad)?)
    } else if let Some(n) = lower.strip_suffix('b') {
        Queue::Bytes(parse(n)?)
    } else if let Some(n) = lower.strip_suffix('p') {
        Queue::Packets(parse(n)?)
    } else {
        Queue::Packets(parse(&lower)?)
    };
    match q {
        Queue::Packets(0) | Queue::Bytes(0) => Err(err(item, "a queue holds at least one packet")),
        q => Ok(q),
    }
}

impl fmt::Display for LinkSpec {
    /// The spec in the grammar it was parsed from (`(none)` for a perfect link).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        let ms = |d: Duration| format!("{}ms", d.as_secs_f64() * 1e3);
        let pct = |p: f64| format!("{}%", (p * 1e6).round() / 1e4);
        if !self.delay.is_zero() {
            parts.push(format!("delay={}", ms(self.delay)));
        }
        if !self.jitter.is_zero() {
            parts.push(format!("jitter={}", ms(self.jitter)));
        }
        if self.loss > 0.0 {
            parts.push(format!("loss={}", pct(self.loss)));
        }
        if let Some(b) = self.burst {
            parts.push(format!("burst={b}"));
        }
        if self.dup > 0.0 {
            parts.push(format!("dup={}", pct(self.dup)));
        }
        if self.reorder > 0.0 {
            parts.push(format!("reorder={}", pct(self.reorder)));
        }
        if let Some(r) = self.rate_bps {
            parts.push(match r {
                r if r % 1_000_000_000 == 0 => format!("rate={}gbit", r / 1_000_000_000),
                r if r % 1_000_000 == 0 => format!("rate={}mbit", r / 1_000_000),
                r if r % 1000 == 0 => format!("rate={}kbit", r / 1000),
                r => format!("rate={r}bit"),
            });
            parts.push(match self.queue {
                Queue::Packets(n) => format!("queue={n}"),
                Queue::Bytes(n) => format!("queue={n}b"),
            });
        }
        if let Some(s) = self.seed {
            parts.push(format!("seed={s}"));
        }
        if parts.is_empty() {
            f.write_str("(none)")
        } else {
            f.write_str(&parts.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_spec_parses() {
        let s = LinkSpec::parse(
            "delay=25ms jitter=5ms loss=1% burst=4 dup=1% reorder=2% rate=20mbit queue=100 seed=7",
        )
        .unwrap();
        assert_eq!(s.delay, Duration::from_millis(25));
        assert_eq!(s.jitter, Duration::from_millis(5));
        assert!((s.loss - 0.01).abs() < 1e-12);
        assert_eq!(s.burst, Some(4.0));
        assert!((s.dup - 0.01).abs() < 1e-12);
        assert!((s.reorder - 0.02).abs() < 1e-12);
        assert_eq!(s.rate_bps, Some(20_000_000));
        assert_eq!(s.queue, Queue::Packets(100));
        assert_eq!(s.seed, Some(7));
        assert_eq!(LinkSpec::parse(&s.to_string()).unwrap(), s);
    }

    #[test]
    fn empty_is_transparent_and_units_vary() {
        assert!(LinkSpec::parse("").unwrap().is_transparent());
        assert!(LinkSpec::parse(" , ").unwrap().is_transparent());
        let s = LinkSpec::parse("delay=1.5ms,jitter=500us,loss=0.5,rate=1gbit,queue=64kb").unwrap();
        assert_eq!(s.delay, Duration::from_micros(1500));
        assert_eq!(s.jitter, Duration::from_micros(500));
        assert!((s.loss - 0.005).abs() < 1e-12);
        assert_eq!(s.rate_bps, Some(1_000_000_000));
        assert_eq!(s.queue, Queue::Bytes(64_000));
        assert!(!s.is_transparent());
    }

    #[test]
    fn errors_name_the_bad_field() {
        let cases = [
            ("delay=25", "delay=25"),
            ("loss=abc", "loss=abc"),
            ("loss=150%", "loss=150%"),
            ("rate=20mbps", "rate=20mbps"),
            ("rate=fast", "rate=fast"),
            ("queue=0", "queue=0"),
            ("wobble=3", "wobble=3"),
            ("delay", "delay"),
            ("delay=1ms delay=2ms", "delay=2ms"),
            ("burst=4", "burst"),
            ("loss=1% burst=0.5", "burst=0.5"),
            ("queue=10", "queue"),
            ("seed=-1", "seed=-1"),
        ];
        for (spec, field) in cases {
            let e = LinkSpec::parse(spec).unwrap_err();
            assert_eq!(e.field, field, "{spec}");
            assert!(e.to_string().contains(field), "{e}");
        }
    }
}
