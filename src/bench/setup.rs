//! Setup cost: time from nothing to the first reply — a new socket, the TCP handshake
//! (or none, for UDP), one byte out and its echo back — repeated many times. TLS and
//! QUIC, with their kinds of handshake, are measured in `super::secure`.

use crate::echo::pinger::{is_timeout, TCP_PATIENCE};
use crate::measure::latency::{self as stats, Latency};
use crate::wire::Proto;
use serde::Serialize;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub(super) struct SetupConfig {
    pub addr: SocketAddr,
    pub proto: Proto,
    /// Repetitions at most...
    pub count: u64,
    /// ...within this long.
    pub duration: Duration,
    pub timeout: Duration,
    /// TLS and QUIC: how the server is trusted, and the groups offered.
    pub secure: crate::quic::endpoint::ClientOptions,
}

/// What a setup-cost run measured.
#[derive(Debug, Clone, Serialize)]
pub struct SetupResult {
    /// The protocol measured.
    pub proto: Proto,
    /// Setups tried.
    pub attempts: u64,
    /// Setups with no reply in time.
    pub failed: u64,
    /// Time from a new socket to the first echo back, in µs; `None` if none came (TLS
    /// and QUIC: a full handshake).
    pub latency: Option<Latency>,
    /// TLS and QUIC: the same with a resumed session.
    pub resumed: Option<Latency>,
    /// QUIC: resumed, the byte sent as 0-RTT data.
    pub zero_rtt: Option<Latency>,
    /// TLS and QUIC: the key exchange group and cipher suite negotiated.
    pub negotiated: Option<crate::cert::Negotiated>,
}

/// Measure (blocking). An error names the measurement and the address.
pub(super) fn run(cfg: &SetupConfig) -> io::Result<SetupResult> {
    measure(cfg).map_err(|e| {
        super::named(
            format_args!("setup over {} to {}", cfg.proto, cfg.addr),
            cfg.proto,
            e,
        )
    })
}

fn measure(cfg: &SetupConfig) -> io::Result<SetupResult> {
    if cfg.proto.is_secure() {
        return super::secure::setup(cfg, &cfg.secure);
    }
    let mut hist = stats::histogram();
    let (mut attempts, mut failed) = (0u64, 0u64);
    let start = Instant::now();
    while attempts < cfg.count && start.elapsed() < cfg.duration {
        attempts += 1;
        let t0 = Instant::now();
        let ok = match cfg.proto {
            Proto::Tcp => tcp_once(cfg)?,
            Proto::Udp => udp_once(cfg)?,
            Proto::Tls | Proto::Quic => unreachable!("measured in bench::secure"),
        };
        if ok {
            stats::record(&mut hist, t0.elapsed());
        } else {
            failed += 1;
        }
    }
    Ok(SetupResult {
        proto: cfg.proto,
        attempts,
        failed,
        latency: Latency::from_histogram(&hist),
        resumed: None,
        zero_rtt: None,
        negotiated: None,
    })
}

/// One TCP setup: a lost SYN or segment is retransmitted by the kernel and makes a slow
/// sample; only past [`TCP_PATIENCE`] is it counted as failed. Never fatal on a
/// timeout; a refused connection still is (nothing listens).
fn tcp_once(cfg: &SetupConfig) -> io::Result<bool> {
    let mut s = match TcpStream::connect_timeout(&cfg.addr, TCP_PATIENCE.max(cfg.timeout)) {
        Ok(s) => s,
        Err(e) if is_timeout(&e) => return Ok(false),
        Err(e) => return Err(e),
    };
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(TCP_PATIENCE.max(cfg.timeout)))?;
    s.write_all(b"x")?;
    let mut b = [0u8; 1];
    match s.read_exact(&mut b) {
        Ok(()) => Ok(true),
        Err(e) if is_timeout(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

fn udp_once(cfg: &SetupConfig) -> io::Result<bool> {
    let local: SocketAddr = if cfg.addr.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let s = UdpSocket::bind(local)?;
    s.connect(cfg.addr)?;
    s.set_read_timeout(Some(cfg.timeout))?;
    s.send(b"x")?;
    let mut b = [0u8; 16];
    loop {
        return match s.recv(&mut b) {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(false)
            }
            // Stopped and continued (Ctrl-Z, fg): a receive with a timeout fails so.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Err(e),
        };
    }
}
