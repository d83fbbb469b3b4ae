//! The ping-like echo client: one line per reply with its sequence number and round-trip
//! time, a reply that does not come reported as a timeout (either protocol), and a
//! summary with loss and percentiles, also when interrupted (Ctrl-C, SIGTERM).
//! [`ping_stdio`] is the `nettool echo` command: like ping, it fails (exit status 1)
//! when no reply came back at all.

use super::pinger::{stamp, Outcome, Pinger};
use crate::measure::latency::{self as stats, Latency};
use crate::wire::Proto;
use anyhow::{anyhow, bail, Result};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What to ping.
#[derive(Debug, Clone)]
pub struct PingConfig {
    /// The echo server's address.
    pub addr: SocketAddr,
    /// The protocol to ping over.
    pub proto: Proto,
    /// Pings to send.
    pub count: u64,
    /// Payload bytes per ping (1..=[`MAX_PING_SIZE`]).
    pub size: usize,
    /// Time between pings.
    pub interval: Duration,
    /// How long to wait for each reply before counting it lost.
    pub timeout: Duration,
    /// TLS and QUIC: how the server's certificate is trusted, and the groups offered.
    pub secure: crate::quic::endpoint::ClientOptions,
    /// QUIC: ping with DATAGRAM frames instead of on a stream.
    pub datagrams: bool,
}

/// Default [`PingConfig::count`].
pub const DEFAULT_COUNT: u64 = 10;
/// Default [`PingConfig::size`].
pub const DEFAULT_SIZE: usize = 64;
/// Default [`PingConfig::interval`].
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// Default [`PingConfig::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest ping payload: the largest UDP payload over IPv4.
pub const MAX_PING_SIZE: usize = 65_507;

/// One ping's fate.
#[derive(Debug, Clone, PartialEq)]
pub struct PingReply {
    /// The server pinged.
    pub addr: SocketAddr,
    /// The ping's number, from 1.
    pub seq: u64,
    /// Payload bytes sent.
    pub size: usize,
    /// `None`: no reply within the timeout (or, with `unreachable`, none possible).
    pub rtt: Option<Duration>,
    /// UDP: ICMP said nothing listens on that port.
    pub unreachable: bool,
    /// TCP: what came back is not what was sent (not an echo server).
    pub mismatch: bool,
    /// How long the reply was waited for.
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
            None if self.mismatch => write!(
                f,
                "seq={}: the reply differs from what was sent (not an echo server?)",
                self.seq
            ),
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
    /// The protocol pinged over.
    pub proto: Proto,
    /// The server pinged.
    pub addr: SocketAddr,
    /// Payload bytes per ping.
    pub size: usize,
    /// Pings sent.
    pub sent: u64,
    /// Replies received in time.
    pub received: u64,
    /// Pings without a reply in time.
    pub lost: u64,
    /// `lost` as a percentage of `sent` (0–100).
    pub loss_pct: f64,
    /// UDP replies that matched no outstanding ping (late or duplicated).
    pub late: u64,
    /// Shortest round trip, in µs.
    pub min_us: Option<f64>,
    /// Median round trip, in µs.
    pub p50_us: Option<f64>,
    /// 90th-percentile round trip, in µs.
    pub p90_us: Option<f64>,
    /// 99th-percentile round trip, in µs.
    pub p99_us: Option<f64>,
    /// Longest round trip, in µs.
    pub max_us: Option<f64>,
    /// Mean round trip, in µs.
    pub mean_us: Option<f64>,
    /// Why the run stopped early, if it did (the server closed or reset the connection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
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

/// Ping `cfg.count` times, calling `on_reply` for each, and summarise.
pub async fn ping<F>(cfg: &PingConfig, on_reply: F) -> Result<PingSummary>
where
    F: FnMut(&PingReply) + Send + 'static,
{
    ping_until(cfg, CancellationToken::new(), on_reply).await
}

/// [`ping`], stopping early when `stop` is cancelled: the summary then covers the pings
/// completed so far (one still waiting for its reply is not counted), and no reply
/// line follows it. The loop runs on a thread of its own with blocking sockets (see
/// `super::pinger`); an interrupted run does not wait for it.
pub async fn ping_until<F>(
    cfg: &PingConfig,
    stop: CancellationToken,
    on_reply: F,
) -> Result<PingSummary>
where
    F: FnMut(&PingReply) + Send + 'static,
{
    if cfg.size == 0 || cfg.size > MAX_PING_SIZE {
        bail!("a ping's payload must be 1..={MAX_PING_SIZE} bytes");
    }
    let tally = Arc::new(Mutex::new(Tally {
        hist: stats::histogram(),
        sent: 0,
        received: 0,
        late: 0,
        stopped: false,
    }));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (c, t) = (cfg.clone(), tally.clone());
    std::thread::Builder::new()
        .name("ping".into())
        .spawn(move || {
            let _ = tx.send(ping_blocking(&c, &t, on_reply));
        })?;
    let error = tokio::select! {
        r = rx => r.map_err(|_| anyhow!("the ping thread ended"))?.err(),
        _ = stop.cancelled() => None,
    };
    let mut t = tally
        .lock()
        .map_err(|_| anyhow!("the ping thread failed"))?;
    t.stopped = true;
    match error {
        // Nothing was sent: the run never started (cannot connect).
        Some(e) if t.sent == 0 => Err(e.into()),
        error => Ok(t.summary(cfg, error.map(|e| e.to_string()))),
    }
}

/// What the ping thread has counted so far, shared with the summary.
struct Tally {
    hist: Histogram<u64>,
    sent: u64,
    received: u64,
    late: u64,
    /// Set when the summary is taken: the thread records nothing after it.
    stopped: bool,
}

impl Tally {
    fn summary(&self, cfg: &PingConfig, error: Option<String>) -> PingSummary {
        let lat = Latency::from_histogram(&self.hist);
        let (sent, received) = (self.sent, self.received);
        PingSummary {
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
            late: self.late,
            min_us: lat.as_ref().map(|l| l.min_us),
            p50_us: lat.as_ref().map(|l| l.p50_us),
            p90_us: lat.as_ref().map(|l| l.p90_us),
            p99_us: lat.as_ref().map(|l| l.p99_us),
            max_us: lat.as_ref().map(|l| l.max_us),
            mean_us: lat.as_ref().map(|l| l.mean_us),
            error,
        }
    }
}

fn ping_blocking(
    cfg: &PingConfig,
    tally: &Mutex<Tally>,
    mut on_reply: impl FnMut(&PingReply),
) -> std::io::Result<()> {
    let mut pinger = Pinger::connect(cfg.addr, cfg.proto, cfg.timeout, &cfg.secure, cfg.datagrams)?;
    // A per-run tag after the sequence number, so replies from another run never match.
    let mut payload = vec![0u8; cfg.size];
    let tag = (std::process::id() as u64) << 32 | Instant::now().elapsed().subsec_nanos() as u64;
    for (i, b) in payload.iter_mut().enumerate().skip(8) {
        *b = (tag >> ((i % 8) * 8)) as u8;
    }
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
        let Ok(mut t) = tally.lock() else { break };
        if t.stopped {
            break;
        }
        t.sent += 1;
        t.late = pinger.stale;
        if let Some(rtt) = rtt {
            stats::record(&mut t.hist, rtt);
            t.received += 1;
        }
        on_reply(&PingReply {
            addr: cfg.addr,
            seq,
            size: cfg.size,
            rtt,
            unreachable: outcome == Outcome::Unreachable,
            mismatch: outcome == Outcome::Mismatch,
            timeout: cfg.timeout,
        });
    }
    Ok(())
}

/// The `nettool echo` client: a line per ping and the summary on stdout (or the summary
/// as JSON), until the count is done or Ctrl-C / SIGTERM. An error (exit status 1)
/// when no reply came back at all, or when the run was cut short by the server.
pub async fn ping_stdio(cfg: &PingConfig, json: bool) -> Result<()> {
    let stop = crate::shutdown::on_signal();
    // Stdout gone (`| head -1`): stop pinging, as Ctrl-C does.
    let gone = stop.clone();
    let summary = ping_until(cfg, stop, move |reply| {
        if !json && crate::output::print(format_args!("{reply}\n")).is_err() {
            gone.cancel();
        }
    })
    .await?;
    if json {
        let text = serde_json::to_string_pretty(&summary)?;
        crate::output::print(format_args!("{text}\n"))?;
    } else {
        crate::output::print(format_args!("{summary}\n"))?;
    }
    if let Some(e) = &summary.error {
        bail!("{e}");
    }
    if summary.sent > 0 && summary.received == 0 {
        bail!(
            "no reply from {} {} ({} sent)",
            cfg.proto,
            cfg.addr,
            summary.sent
        );
    }
    Ok(())
}
