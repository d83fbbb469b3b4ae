//! Round trip, like sockperf ping-pong or netperf TCP_RR/UDP_RR: one message
//! outstanding against an RFC 862 echo server, warm-up excluded. The loop runs on its
//! own thread with blocking sockets, so no runtime wake-up sits in the measured path.
//! Replies that do not come back within the timeout are counted as lost, over either
//! protocol (a late TCP echo is skipped by the pinger, see `crate::echo::pinger`).

use super::interval::rtt::RttWindow;
use super::interval::{CcSummary, Cum, Interval, IntervalConfig, Recorder};
use crate::echo::pinger::{stamp, Outcome, Pinger};
use crate::measure::latency::{self as stats, Latency};
use crate::wire::Proto;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What to measure.
#[derive(Debug, Clone)]
pub struct RttConfig {
    /// The echo server's address.
    pub addr: SocketAddr,
    /// The protocol to measure.
    pub proto: Proto,
    /// Payload bytes per message.
    pub size: usize,
    /// Round trips done first and not recorded (for at most a quarter of `duration`).
    pub warmup: u64,
    /// Stop after this many recorded round trips (0: no limit)...
    pub count: u64,
    /// ...or after this long, whichever comes first.
    pub duration: Duration,
    /// How long to wait for a reply.
    pub timeout: Duration,
    /// TLS and QUIC: how the server's certificate is trusted, and the groups offered.
    pub secure: crate::quic::endpoint::ClientOptions,
    /// QUIC: DATAGRAM frames instead of a stream.
    pub datagrams: bool,
    /// Per-interval reports.
    pub intervals: IntervalConfig,
}

/// What was measured.
#[derive(Debug, Clone, Serialize)]
pub struct RttResult {
    /// The protocol measured.
    pub proto: Proto,
    /// Payload bytes per message.
    pub size: usize,
    /// Round trips begun (after the warm-up).
    pub sent: u64,
    /// Replies received in time.
    pub received: u64,
    /// Round trips with no reply in time.
    pub lost: u64,
    /// Round-trip percentiles, in µs; `None` if nothing came back.
    pub latency: Option<Latency>,
    /// Every recorded round trip, in ns (for charts).
    #[serde(skip)]
    pub hist: Histogram<u64>,
    /// TCP, TLS, QUIC: the connection's own view at the end (retransmissions, cwnd, srtt).
    pub cc: Option<CcSummary>,
    /// One per `--interval`, adding up to the totals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<Interval>,
}

/// Measure (blocking: call from a thread of its own or `spawn_blocking`).
pub fn run(cfg: &RttConfig) -> io::Result<RttResult> {
    if cfg.size == 0 || cfg.size > 65_507 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "round-trip size must be 1..=65507 bytes",
        ));
    }
    let mut pinger = Pinger::connect(cfg.addr, cfg.proto, cfg.timeout, &cfg.secure, cfg.datagrams)?;
    let mut payload = vec![0x5a_u8; cfg.size];
    let mut hist = stats::histogram();
    let (mut sent, mut received) = (0u64, 0u64);
    // Warm-up is bounded in time too: on a delayed or lossy path 1000 round trips can
    // take longer than the measurement itself.
    let warm = Instant::now();
    for i in 0..cfg.warmup {
        if warm.elapsed() >= cfg.duration / 4 {
            break;
        }
        stamp(&mut payload, u64::MAX - i);
        pinger.ping(&payload)?;
    }
    let mut rec = Recorder::new(&cfg.intervals, "rtt", cfg.proto);
    let mut window = RttWindow::default();
    let start = Instant::now();
    while (cfg.count == 0 || sent < cfg.count) && start.elapsed() < cfg.duration {
        sent += 1;
        stamp(&mut payload, sent);
        let t0 = Instant::now();
        match pinger.ping(&payload)? {
            Outcome::Answered => {
                let rtt = t0.elapsed();
                stats::record(&mut hist, rtt);
                window.answered(rtt);
                received += 1;
            }
            Outcome::Lost | Outcome::Mismatch => window.lost(),
            Outcome::Unreachable => {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!("nothing listens on UDP {}", cfg.addr),
                ))
            }
        }
        if let Some(rec) = &mut rec {
            if let Some(tick) = rec.due(Instant::now()) {
                rec.record(tick, cum(&pinger, &mut window, received * cfg.size as u64));
            }
        }
    }
    let intervals = match rec {
        Some(mut rec) => {
            rec.finish(cum(&pinger, &mut window, received * cfg.size as u64));
            rec.intervals
        }
        None => Vec::new(),
    };
    let cc = pinger.cc_snapshot().as_ref().map(CcSummary::of);
    Ok(RttResult {
        proto: cfg.proto,
        size: cfg.size,
        sent,
        received,
        lost: sent - received,
        latency: Latency::from_histogram(&hist),
        hist,
        cc,
        intervals,
    })
}

/// The figures at an interval's end: bytes echoed, the connection's own view (TCP, TLS,
/// QUIC), and the window's round trips (the window starts over).
fn cum(p: &Pinger, window: &mut RttWindow, bytes: u64) -> Cum {
    Cum {
        bytes,
        cc: p.cc_snapshot(),
        rtt: Some(window.take(p.stale)),
        ..Cum::default()
    }
}
