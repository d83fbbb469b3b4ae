//! Stream, like iperf3: one-way bulk for a duration into the sink of a `nettool echo -l`
//! server. TCP: goodput measured at the receiver. UDP: datagrams/s and bytes/s at the
//! sender and the receiver, loss, reorders, duplicates and RFC 3550 jitter, paced at a
//! target bit rate or unpaced. The sender runs on its own thread with blocking sockets.
//!
//! An unpaced UDP stream's loss says how far the sender outran the receiver on this
//! machine, so it swings from run to run. [`search`] adds the figure that does not: the
//! highest paced rate the path carries with (near) zero loss, found by a short binary
//! search of paced trials as RFC 2544 §26.1 defines throughput.

use super::interval::tcp as itcp;
use super::interval::{self, CcSample, CcSummary, Interval, IntervalConfig, Recorder};
use crate::echo::sink::{self, TcpReport, UdpReport};
use crate::transport::stats::CcStats;
use crate::wire::Proto;
use serde::Serialize;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// TCP writes of this size (iperf3 uses 128 KiB too).
const TCP_CHUNK: usize = 128 * 1024;
/// A paced UDP stream sends what is due in this long as one burst (one system call).
const PACE_BURST: Duration = Duration::from_micros(50);

/// What to stream, where, for how long.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// The echo server's (stream sink's) address.
    pub addr: SocketAddr,
    /// The protocol to stream over.
    pub proto: Proto,
    /// How long to send.
    pub duration: Duration,
    /// UDP datagram size in bytes (at least 24).
    pub size: usize,
    /// UDP target rate in bits per second; 0: as fast as the socket takes.
    pub rate_bps: u64,
    /// TLS and QUIC: how the server is trusted, and the groups offered.
    pub secure: crate::quic::endpoint::ClientOptions,
    /// Per-interval reports and chart samples.
    pub intervals: IntervalConfig,
}

/// What a stream measured.
#[derive(Debug, Clone, Serialize)]
pub struct StreamResult {
    /// The protocol streamed over.
    pub proto: Proto,
    /// How long the stream lasted, in seconds (TCP: as the receiver saw it; UDP: the sending time).
    pub seconds: f64,
    /// Bytes the sender wrote (UDP: whole datagrams).
    pub sent_bytes: u64,
    /// Receiver goodput (TCP: payload after the preamble; UDP: whole datagrams).
    pub recv_bytes: u64,
    /// Receiver goodput, in gigabits per second.
    pub recv_gbps: f64,
    /// UDP only below.
    pub datagram_size: Option<usize>,
    /// Datagrams sent.
    pub sent_datagrams: Option<u64>,
    /// Datagrams received, duplicates excluded.
    pub recv_datagrams: Option<u64>,
    /// Datagrams sent per second.
    pub sent_pps: Option<f64>,
    /// Datagrams received per second.
    pub recv_pps: Option<f64>,
    /// Datagrams lost, as a percentage of those sent (0–100).
    pub loss_pct: Option<f64>,
    /// Datagrams that arrived after a later one.
    pub reordered: Option<u64>,
    /// Datagrams received more than once.
    pub duplicates: Option<u64>,
    /// RFC 3550 interarrival jitter, in µs.
    pub jitter_us: Option<f64>,
    /// UDP: the highest rate with (near) zero loss (see [`search`]).
    pub zero_loss: Option<RateSearch>,
    /// TCP, TLS, QUIC: the sender's own view at the end (retransmissions, cwnd, srtt).
    pub cc: Option<CcSummary>,
    /// One per `--interval`, adding up to the totals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<Interval>,
    /// Finer samples for the chart over time (`--plot`).
    #[serde(skip)]
    pub samples: Vec<Interval>,
}

/// The result of [`search`].
#[derive(Debug, Clone, Serialize)]
pub struct RateSearch {
    /// The highest rate tried whose loss stayed within `max_loss_pct` (0 if none did).
    pub rate_bps: u64,
    /// `rate_bps` in gigabits per second.
    pub gbps: f64,
    /// That trial's receiver goodput and loss.
    pub recv_gbps: f64,
    /// That trial's loss, as a percentage of datagrams sent (0–100).
    pub loss_pct: f64,
    /// The loss a trial may have and still pass ("near zero").
    pub max_loss_pct: f64,
    /// Trials run.
    pub trials: u32,
    /// Length of each trial, in ms.
    pub trial_ms: u64,
}

/// How a [`search`] runs.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// Paced trials at most (the first at the ceiling, then bisecting).
    pub trials: u32,
    /// How long each trial sends.
    pub trial: Duration,
    /// Loss a trial may have and pass: RFC 2544 asks for none; one datagram in a few
    /// thousand is allowed here, as short trials on a busy machine lose one now and then.
    pub max_loss_pct: f64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            trials: 6,
            trial: Duration::from_millis(200),
            max_loss_pct: 0.1,
        }
    }
}

/// Measure (blocking). An error names the stream and the address.
pub fn run(cfg: &StreamConfig) -> io::Result<StreamResult> {
    match cfg.proto {
        Proto::Tcp => tcp(cfg),
        Proto::Udp => udp(cfg),
        Proto::Tls | Proto::Quic => super::secure::stream(cfg),
    }
    .map_err(|e| {
        super::named(
            format_args!("stream over {} to {}", cfg.proto, cfg.addr),
            cfg.proto,
            e,
        )
    })
}

fn tcp(cfg: &StreamConfig) -> io::Result<StreamResult> {
    let mut s = TcpStream::connect_timeout(&cfg.addr, Duration::from_secs(5))?;
    s.write_all(sink::TCP_PREAMBLE)?;
    let chunk = vec![0x42u8; TCP_CHUNK];
    let rec = Recorder::new(&cfg.intervals, "stream", Proto::Tcp);
    // One TCP_INFO read per tick, on a thread of its own: the loop below is the same
    // with intervals as without.
    let ticker = match rec {
        Some(rec) => Some(itcp::Ticker::start(rec, s.try_clone()?)),
        None => None,
    };
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < cfg.duration {
        s.write_all(&chunk)?;
        sent += chunk.len() as u64;
    }
    s.shutdown(std::net::Shutdown::Write)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut b = [0u8; TcpReport::LEN];
    s.read_exact(&mut b)?;
    let rec = ticker.and_then(itcp::Ticker::finish);
    Ok(reliable_result(
        Proto::Tcp,
        sent,
        &TcpReport::decode(&b),
        rec,
        s.cc_snapshot(),
    ))
}

/// A reliable stream's result (TCP, TLS, QUIC): `sent` bytes, the sink's report, the
/// intervals ended with the connection's `last` figures.
pub(super) fn reliable_result(
    proto: Proto,
    sent: u64,
    report: &TcpReport,
    rec: Option<Recorder>,
    last: Option<CcSample>,
) -> StreamResult {
    let (intervals, samples) = match rec {
        Some(mut rec) => {
            rec.finish(itcp::cum(last, sent));
            (rec.intervals, rec.samples)
        }
        None => Default::default(),
    };
    StreamResult {
        cc: last.as_ref().map(CcSummary::of),
        intervals,
        samples,
        ..bytes_result(proto, sent, report)
    }
}

/// A byte stream's result (TCP, TLS, QUIC): `sent` bytes, the sink's report.
fn bytes_result(proto: Proto, sent: u64, r: &TcpReport) -> StreamResult {
    let secs = (r.elapsed_ns as f64 / 1e9).max(1e-9);
    StreamResult {
        proto,
        seconds: secs,
        sent_bytes: sent,
        recv_bytes: r.bytes,
        recv_gbps: r.bytes as f64 * 8.0 / secs / 1e9,
        datagram_size: None,
        sent_datagrams: None,
        recv_datagrams: None,
        sent_pps: None,
        recv_pps: None,
        loss_pct: None,
        reordered: None,
        duplicates: None,
        jitter_us: None,
        zero_loss: None,
        cc: None,
        intervals: Vec::new(),
        samples: Vec::new(),
    }
}

fn udp(cfg: &StreamConfig) -> io::Result<StreamResult> {
    if cfg.size < sink::DATA_HEADER || cfg.size > 65_507 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "UDP stream datagrams must be {}..=65507 bytes",
                sink::DATA_HEADER
            ),
        ));
    }
    let sock = crate::udp::socket::blocking_connect(cfg.addr)?;
    let session = (sink::wall_ns() as u32) ^ std::process::id().rotate_left(16);
    let gap = (cfg.rate_bps > 0)
        .then(|| Duration::from_secs_f64(cfg.size as f64 * 8.0 / cfg.rate_bps as f64));
    // A run of datagrams goes out in one system call (UDP GSO) where the kernel can:
    // unpaced, as many as fit; paced, as many as are due in PACE_BURST, the run then
    // waiting for its schedule.
    let gso = crate::udp::batch::GsoSender::new(&sock)?;
    let batch = match gap {
        None => gso.batch(cfg.size),
        Some(gap) => {
            let due = (PACE_BURST.as_nanos() / gap.as_nanos().max(1)) as usize;
            due.clamp(1, gso.batch(cfg.size))
        }
    };
    let gap = gap.map(|g| g * batch as u32);
    let mut buf = vec![0u8; cfg.size * batch];
    let mut rec = Recorder::new(&cfg.intervals, "stream", Proto::Udp);
    let mut poller = interval::udp::SinkPoller::new(session);
    let start = Instant::now();
    let mut next = start;
    let mut seq = 0u64;
    let mut send_errors = 0u64;
    while start.elapsed() < cfg.duration {
        if let Some(gap) = gap {
            pace(next);
            next += gap;
        }
        for d in buf.chunks_mut(cfg.size) {
            seq += 1;
            sink::stamp_data(d, session, seq);
        }
        // Blocking send waits for socket buffer space; ENOBUFS and the like are losses.
        let sent = if batch == 1 {
            sock.send(&buf).map(|_| ())
        } else {
            gso.send(&sock, cfg.addr, &buf, cfg.size)
        };
        if sent.is_err() {
            send_errors += batch as u64;
        }
        if let Some(rec) = &mut rec {
            poller.poll(&sock, rec, Instant::now());
        }
    }
    let send_secs = start.elapsed().as_secs_f64();
    let sent = seq - send_errors;
    let report = fetch_report(&sock, session)?;
    let (intervals, samples) = match rec {
        Some(mut rec) => {
            // At the end every datagram not received is lost, the last ones included.
            let mut end = interval::udp::cum(&report);
            if let Some(d) = &mut end.dgram {
                d.highest = d.highest.max(sent);
            }
            rec.finish(end);
            (rec.intervals, rec.samples)
        }
        None => Default::default(),
    };
    let recv = report.received;
    let recv_secs = (report.span_ns as f64 / 1e9).max(1e-9);
    Ok(StreamResult {
        proto: Proto::Udp,
        seconds: send_secs,
        sent_bytes: sent * cfg.size as u64,
        recv_bytes: report.bytes,
        recv_gbps: report.bytes as f64 * 8.0 / recv_secs / 1e9,
        datagram_size: Some(cfg.size),
        sent_datagrams: Some(sent),
        recv_datagrams: Some(recv),
        sent_pps: Some(sent as f64 / send_secs),
        recv_pps: Some(recv as f64 / recv_secs),
        loss_pct: Some(if sent == 0 {
            0.0
        } else {
            sent.saturating_sub(recv) as f64 * 100.0 / sent as f64
        }),
        reordered: Some(report.reordered),
        duplicates: Some(report.duplicates),
        jitter_us: Some(report.jitter_ns as f64 / 1000.0),
        zero_loss: None,
        cc: None,
        intervals,
        samples,
    })
}

/// The highest UDP rate up to `ceiling_bps` (normally what an unpaced run sent) at which
/// a paced trial of `cfg.size` datagrams loses at most `search.max_loss_pct`: the first
/// trial at the ceiling, then a binary search between the best pass and the lowest
/// failure. Blocking; takes about `trials × trial` plus a report round trip per trial.
pub fn search(cfg: &StreamConfig, ceiling_bps: u64, s: &SearchConfig) -> io::Result<RateSearch> {
    let (mut lo, mut hi) = (0u64, ceiling_bps.max(1));
    let mut best: Option<(u64, StreamResult)> = None;
    let mut trials = 0;
    let mut rate = hi;
    while trials < s.trials && rate > 0 {
        trials += 1;
        let trial = StreamConfig {
            proto: Proto::Udp,
            duration: s.trial,
            rate_bps: rate,
            intervals: IntervalConfig::default(),
            ..cfg.clone()
        };
        let r = udp(&trial)?;
        if r.loss_pct.unwrap_or(100.0) <= s.max_loss_pct && r.recv_datagrams.unwrap_or(0) > 0 {
            lo = rate;
            best = Some((rate, r));
            if rate == hi {
                break; // the ceiling itself passes
            }
        } else {
            hi = rate;
        }
        rate = lo + (hi - lo) / 2;
        if hi - lo <= hi / 100 {
            break; // within 1 %: more trials would not change the figure
        }
    }
    let (rate_bps, recv_gbps, loss_pct) = match &best {
        Some((rate, r)) => (*rate, r.recv_gbps, r.loss_pct.unwrap_or(0.0)),
        None => (0, 0.0, 100.0),
    };
    Ok(RateSearch {
        rate_bps,
        gbps: rate_bps as f64 / 1e9,
        recv_gbps,
        loss_pct,
        max_loss_pct: s.max_loss_pct,
        trials,
        trial_ms: s.trial.as_millis() as u64,
    })
}

/// Wait until `at`: sleep for long waits, spin for the last stretch (sleep is too coarse
/// for microsecond gaps).
fn pace(at: Instant) {
    loop {
        let now = Instant::now();
        if now >= at {
            return;
        }
        let left = at - now;
        if left > Duration::from_micros(200) {
            std::thread::sleep(left - Duration::from_micros(100));
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Ask the sink for its counters, retrying: the request or the answer may be lost. An
/// answer to an interval's request (another token) is not the final one.
fn fetch_report(sock: &UdpSocket, session: u32) -> io::Result<UdpReport> {
    const FINAL: u64 = u64::MAX;
    let req = sink::tokened_request(session, FINAL);
    let mut buf = [0u8; 2048];
    sock.set_read_timeout(Some(Duration::from_millis(300)))?;
    for _ in 0..10 {
        sock.send(&req)?;
        loop {
            match sock.recv(&mut buf) {
                Ok(n) => {
                    let token = sink::answer_token(&buf[..n]);
                    if let Some(r) = UdpReport::decode(&buf[..n]) {
                        if r.session == session && token.is_none_or(|t| t == FINAL) {
                            return Ok(r);
                        }
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                // Stopped and continued (Ctrl-Z, fg): a receive with a timeout fails so.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        "the sink did not report: is the far side `nettool echo -l`?",
    ))
}
