//! Stream, like iperf3: one-way bulk for a duration into the sink of a `nettool echo -l`
//! server. TCP: goodput measured at the receiver. UDP: datagrams/s and bytes/s at the
//! sender and the receiver, loss, reorders, duplicates and RFC 3550 jitter, paced at a
//! target bit rate or unpaced. The sender runs on its own thread with blocking sockets.

use crate::echo::sink::{self, TcpReport, UdpReport};
use crate::wire::Proto;
use serde::Serialize;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// TCP writes of this size (iperf3 uses 128 KiB too).
const TCP_CHUNK: usize = 128 * 1024;
/// A paced UDP stream sends what is due in this long as one burst (one system call).
const PACE_BURST: Duration = Duration::from_micros(50);

#[derive(Debug, Clone)]
pub struct StreamConfig {
    pub addr: SocketAddr,
    pub proto: Proto,
    pub duration: Duration,
    /// UDP datagram size in bytes (at least 24).
    pub size: usize,
    /// UDP target rate in bits per second; 0: as fast as the socket takes.
    pub rate_bps: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamResult {
    pub proto: Proto,
    pub seconds: f64,
    pub sent_bytes: u64,
    /// Receiver goodput (TCP: payload after the preamble; UDP: whole datagrams).
    pub recv_bytes: u64,
    pub recv_gbps: f64,
    /// UDP only below.
    pub datagram_size: Option<usize>,
    pub sent_datagrams: Option<u64>,
    pub recv_datagrams: Option<u64>,
    pub sent_pps: Option<f64>,
    pub recv_pps: Option<f64>,
    pub loss_pct: Option<f64>,
    pub reordered: Option<u64>,
    pub duplicates: Option<u64>,
    pub jitter_us: Option<f64>,
}

/// Measure (blocking).
pub fn run(cfg: &StreamConfig) -> io::Result<StreamResult> {
    match cfg.proto {
        Proto::Tcp => tcp(cfg),
        Proto::Udp => udp(cfg),
    }
}

fn tcp(cfg: &StreamConfig) -> io::Result<StreamResult> {
    let mut s = TcpStream::connect_timeout(&cfg.addr, Duration::from_secs(5))?;
    s.write_all(sink::TCP_PREAMBLE)?;
    let chunk = vec![0x42u8; TCP_CHUNK];
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
    let r = TcpReport::decode(&b);
    let secs = (r.elapsed_ns as f64 / 1e9).max(1e-9);
    Ok(StreamResult {
        proto: Proto::Tcp,
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
    })
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
    }
    let send_secs = start.elapsed().as_secs_f64();
    let sent = seq - send_errors;
    let report = fetch_report(&sock, session)?;
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

/// Ask the sink for its counters, retrying: the request or the answer may be lost.
fn fetch_report(sock: &UdpSocket, session: u32) -> io::Result<UdpReport> {
    let req = sink::report_request(session);
    let mut buf = [0u8; 2048];
    sock.set_read_timeout(Some(Duration::from_millis(300)))?;
    for _ in 0..10 {
        sock.send(&req)?;
        loop {
            match sock.recv(&mut buf) {
                Ok(n) => {
                    if let Some(r) = UdpReport::decode(&buf[..n]) {
                        if r.session == session {
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
                Err(e) => return Err(e),
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        "the sink did not report: is the far side `nettool echo -l`?",
    ))
}
