//! Round trip, like sockperf ping-pong or netperf TCP_RR/UDP_RR: one message
//! outstanding against an RFC 862 echo server, warm-up excluded. The loop runs on its
//! own thread with blocking sockets, so no runtime wake-up sits in the measured path.
//! UDP replies that do not come back within the timeout are counted as lost.

use super::stats::{self, Latency};
use crate::wire::Proto;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// What to measure.
#[derive(Debug, Clone)]
pub struct RttConfig {
    pub addr: SocketAddr,
    pub proto: Proto,
    /// Payload bytes per message.
    pub size: usize,
    /// Round trips done first and not recorded.
    pub warmup: u64,
    /// Stop after this many recorded round trips (0: no limit)...
    pub count: u64,
    /// ...or after this long, whichever comes first.
    pub duration: Duration,
    /// How long to wait for a reply.
    pub timeout: Duration,
}

/// What was measured.
#[derive(Debug, Clone, Serialize)]
pub struct RttResult {
    pub proto: Proto,
    pub size: usize,
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub latency: Option<Latency>,
    #[serde(skip)]
    pub hist: Histogram<u64>,
}

/// Measure (blocking: call from a thread of its own or `spawn_blocking`).
pub fn run(cfg: &RttConfig) -> io::Result<RttResult> {
    if cfg.size == 0 || cfg.size > 65_507 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "round-trip size must be 1..=65507 bytes",
        ));
    }
    let mut pinger: Box<dyn Pinger> = match cfg.proto {
        Proto::Tcp => Box::new(TcpPinger::connect(cfg)?),
        Proto::Udp => Box::new(UdpPinger::connect(cfg)?),
    };
    let mut payload = vec![0x5a_u8; cfg.size];
    let mut hist = stats::histogram();
    let (mut sent, mut received) = (0u64, 0u64);
    for i in 0..cfg.warmup {
        stamp(&mut payload, u64::MAX - i);
        pinger.ping(&payload)?;
    }
    let start = Instant::now();
    let mut seq = 0u64;
    while (cfg.count == 0 || sent < cfg.count) && start.elapsed() < cfg.duration {
        seq += 1;
        stamp(&mut payload, seq);
        let t0 = Instant::now();
        sent += 1;
        if pinger.ping(&payload)? {
            stats::record(&mut hist, t0.elapsed());
            received += 1;
        }
    }
    Ok(RttResult {
        proto: cfg.proto,
        size: cfg.size,
        sent,
        received,
        lost: sent - received,
        latency: Latency::from_histogram(&hist),
        hist,
    })
}

/// Put `seq` in the first bytes of the payload (as many as fit), so a late UDP reply is
/// told apart from the current one.
fn stamp(payload: &mut [u8], seq: u64) {
    let bytes = seq.to_le_bytes();
    let n = payload.len().min(bytes.len());
    payload[..n].copy_from_slice(&bytes[..n]);
}

trait Pinger {
    /// One round trip: `Ok(true)` answered, `Ok(false)` lost.
    fn ping(&mut self, payload: &[u8]) -> io::Result<bool>;
}

struct TcpPinger {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl TcpPinger {
    fn connect(cfg: &RttConfig) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&cfg.addr, cfg.timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(cfg.timeout))?;
        Ok(TcpPinger {
            stream,
            buf: vec![0; cfg.size],
        })
    }
}

impl Pinger for TcpPinger {
    fn ping(&mut self, payload: &[u8]) -> io::Result<bool> {
        self.stream.write_all(payload)?;
        // A timeout here is an error, not a loss: TCP does not lose, it stalls.
        self.stream.read_exact(&mut self.buf)?;
        if self.buf != payload {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the echo differs from what was sent",
            ));
        }
        Ok(true)
    }
}

struct UdpPinger {
    sock: UdpSocket,
    buf: Vec<u8>,
    timeout: Duration,
}

impl UdpPinger {
    fn connect(cfg: &RttConfig) -> io::Result<Self> {
        let local: SocketAddr = if cfg.addr.is_ipv4() {
            "0.0.0.0:0".parse().expect("literal")
        } else {
            "[::]:0".parse().expect("literal")
        };
        let sock = UdpSocket::bind(local)?;
        sock.connect(cfg.addr)?;
        Ok(UdpPinger {
            sock,
            buf: vec![0; 65_536],
            timeout: cfg.timeout,
        })
    }
}

impl Pinger for UdpPinger {
    fn ping(&mut self, payload: &[u8]) -> io::Result<bool> {
        self.sock.send(payload)?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            self.sock.set_read_timeout(Some(left))?;
            match self.sock.recv(&mut self.buf) {
                Ok(n) if self.buf[..n] == *payload => return Ok(true),
                Ok(_) => continue, // a late reply to an earlier ping
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(false)
                }
                Err(e) => return Err(e),
            }
        }
    }
}
