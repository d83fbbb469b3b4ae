//! The ping-like echo client: one line per reply with its sequence number and round-trip
//! time, lost UDP replies reported as timeouts, and a summary with loss and percentiles.

use super::pinger::{stamp, Outcome, Pinger};
use crate::measure::latency::{self as stats, Latency};
use crate::wire::Proto;
use anyhow::{bail, Result};
use serde::Serialize;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What to ping.
#[derive(Debug, Clone)]
pub struct PingConfig {
    pub addr: SocketAddr,
    pub proto: Proto,
    pub count: u64,
    pub size: usize,
    pub interval: Duration,
    pub timeout: Duration,
}

/// One ping's fate.
#[derive(Debug, Clone, PartialEq)]
pub struct PingReply {
    pub addr: SocketAddr,
    pub seq: u64,
    pub size: usize,
    /// `None`: no reply within the timeout (or, with `unreachable`, none possible).
    pub rtt: Option<Duration>,
    /// UDP: ICMP said nothing listens on that port.
    pub unreachable: bool,
    pub timeout: Duration,
}

impl fmt::Display for PingReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rtt {
            Some(rtt) => write!(
                f,
                "{} bytes from {}: seq={} time={:.3} ms",
                self.size,
                self.addr,
                self.seq,
                rtt.as_secs_f64() * 1e3
            ),
            None if self.unreachable => write!(f, "seq={}: port unreachable", self.seq),
            None => write!(
                f,
                "seq={}: no reply within {} ms",
                self.seq,
                self.timeout.as_millis()
            ),
        }
    }
}

/// The summary (stable field names for `--json`; times in microseconds).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PingSummary {
    pub proto: Proto,
    pub addr: SocketAddr,
    pub size: usize,
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub loss_pct: f64,
    /// UDP replies that matched no outstanding ping (late or duplicated).
    pub late: u64,
    pub min_us: Option<f64>,
    pub p50_us: Option<f64>,
    pub p90_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub max_us: Option<f64>,
    pub mean_us: Option<f64>,
}

impl fmt::Display for PingSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- {} {} echo ---", self.addr, self.proto)?;
        write!(
            f,
            "{} sent, {} received, {:.1}% loss ({} late)",
            self.sent, self.received, self.loss_pct, self.late
        )?;
        if let (Some(min), Some(p50), Some(p90), Some(p99), Some(max), Some(mean)) = (
            self.min_us,
            self.p50_us,
            self.p90_us,
            self.p99_us,
            self.max_us,
            self.mean_us,
        ) {
            let ms = |us: f64| us / 1e3;
            write!(
                f,
                "\nrtt min/p50/p90/p99/max/mean = {:.3}/{:.3}/{:.3}/{:.3}/{:.3}/{:.3} ms",
                ms(min),
                ms(p50),
                ms(p90),
                ms(p99),
                ms(max),
                ms(mean)
            )?;
        }
        Ok(())
    }
}

/// Ping `cfg.count` times, calling `on_reply` for each, and summarise. The loop runs on
/// a blocking thread (see [`super::pinger`]).
pub async fn ping<F>(cfg: &PingConfig, on_reply: F) -> Result<PingSummary>
where
    F: FnMut(&PingReply) + Send + 'static,
{
    if cfg.size == 0 || cfg.size > 65_507 {
        bail!("--size must be 1..=65507 bytes");
    }
    let cfg = cfg.clone();
    tokio::task::spawn_blocking(move || ping_blocking(&cfg, on_reply)).await?
}

fn ping_blocking(cfg: &PingConfig, mut on_reply: impl FnMut(&PingReply)) -> Result<PingSummary> {
    let mut pinger = Pinger::connect(cfg.addr, cfg.proto, cfg.timeout)?;
    // A per-run tag after the sequence number, so replies from another run never match.
    let mut payload = vec![0u8; cfg.size];
    let tag = (std::process::id() as u64) << 32 | Instant::now().elapsed().subsec_nanos() as u64;
    for (i, b) in payload.iter_mut().enumerate().skip(8) {
        *b = (tag >> ((i % 8) * 8)) as u8;
    }
    let mut hist = stats::histogram();
    let mut received = 0;
    let start = Instant::now();
    for seq in 1..=cfg.count {
        if seq > 1 && !cfg.interval.is_zero() {
            let due = start + cfg.interval * (seq - 1) as u32;
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        stamp(&mut payload, seq);
        let t0 = Instant::now();
        let outcome = pinger.ping(&payload)?;
        let rtt = (outcome == Outcome::Answered).then(|| t0.elapsed());
        if let Some(rtt) = rtt {
            stats::record(&mut hist, rtt);
            received += 1;
        }
        on_reply(&PingReply {
            addr: cfg.addr,
            seq,
            size: cfg.size,
            rtt,
            unreachable: outcome == Outcome::Unreachable,
            timeout: cfg.timeout,
        });
    }
    let lat = Latency::from_histogram(&hist);
    let sent = cfg.count;
    Ok(PingSummary {
        proto: cfg.proto,
        addr: cfg.addr,
        size: cfg.size,
        sent,
        received,
        lost: sent - received,
        loss_pct: if sent == 0 {
            0.0
        } else {
            (sent - received) as f64 * 100.0 / sent as f64
        },
        late: pinger.stale,
        min_us: lat.as_ref().map(|l| l.min_us),
        p50_us: lat.as_ref().map(|l| l.p50_us),
        p90_us: lat.as_ref().map(|l| l.p90_us),
        p99_us: lat.as_ref().map(|l| l.p99_us),
        max_us: lat.as_ref().map(|l| l.max_us),
        mean_us: lat.as_ref().map(|l| l.mean_us),
    })
}
