//! One round trip at a time against an RFC 862 echo server, with blocking sockets (the
//! loop runs on a thread of its own, so no runtime wake-up sits in the timed path).
//! Shared by the `nettool echo` client and `nettool bench rtt`.

use crate::wire::Proto;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// What became of one ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Answered,
    /// No reply within the timeout (UDP), or within [`TCP_PATIENCE`] (TCP: the
    /// connection is then replaced, since its late echo would desynchronise it).
    Lost,
    /// UDP: the host said nothing listens on that port (ICMP port unreachable).
    Unreachable,
}

/// How long a TCP round trip may wait on retransmissions before it counts as a
/// timeout: long enough for several exponentially backed-off RTOs (200 ms, 400 ms,
/// … 6.4 s), so that on a lossy path a retransmitted round trip is a slow sample.
pub const TCP_PATIENCE: Duration = Duration::from_secs(30);

/// A connected pinger over either protocol.
pub struct Pinger {
    inner: Inner,
    buf: Vec<u8>,
    timeout: Duration,
    /// UDP replies that matched no outstanding ping (late, or duplicated).
    pub stale: u64,
}

enum Inner {
    Tcp(TcpStream),
    Udp(UdpSocket),
}

impl Pinger {
    pub fn connect(addr: SocketAddr, proto: Proto, timeout: Duration) -> io::Result<Pinger> {
        let inner = match proto {
            Proto::Tcp => Inner::Tcp(tcp_connect(addr, timeout)?),
            Proto::Udp => {
                let local: SocketAddr = if addr.is_ipv4() {
                    (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let s = UdpSocket::bind(local)?;
                s.connect(addr)?;
                Inner::Udp(s)
            }
        };
        Ok(Pinger {
            inner,
            buf: vec![0; 65_536],
            timeout,
            stale: 0,
        })
    }

    /// Send `payload` and wait for the same bytes back.
    pub fn ping(&mut self, payload: &[u8]) -> io::Result<Outcome> {
        match &mut self.inner {
            Inner::Tcp(s) => {
                s.write_all(payload)?;
                let echo = &mut self.buf[..payload.len()];
                // TCP does not lose, it stalls: a read timeout means "still waiting on a
                // retransmission", until TCP_PATIENCE says the round trip is a timeout.
                let t0 = Instant::now();
                let mut got = 0;
                while got < echo.len() {
                    match s.read(&mut echo[got..]) {
                        Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                        Ok(n) => got += n,
                        Err(e)
                            if is_timeout(&e) && t0.elapsed() < TCP_PATIENCE.max(self.timeout) => {}
                        Err(e) if is_timeout(&e) => {
                            let addr = s.peer_addr()?;
                            *s = tcp_connect(addr, self.timeout)?;
                            return Ok(Outcome::Lost);
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                if echo != payload {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the echo differs from what was sent",
                    ));
                }
                Ok(Outcome::Answered)
            }
            Inner::Udp(s) => {
                match s.send(payload) {
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                        return Ok(Outcome::Unreachable)
                    }
                    r => r?,
                };
                let deadline = Instant::now() + self.timeout;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(Outcome::Lost);
                    }
                    s.set_read_timeout(Some(left))?;
                    match s.recv(&mut self.buf) {
                        Ok(n) if self.buf[..n] == *payload => return Ok(Outcome::Answered),
                        Ok(_) => self.stale += 1,
                        Err(e) if is_timeout(&e) => return Ok(Outcome::Lost),
                        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                            return Ok(Outcome::Unreachable)
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
}

/// Connect, retrying lost SYNs for up to [`TCP_PATIENCE`] (the kernel retransmits them:
/// a lost SYN makes a slow connect, not a failure); a read timeout of `timeout` per wait.
pub fn tcp_connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, TCP_PATIENCE.max(timeout))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(timeout))?;
    Ok(s)
}

/// Whether a blocking socket's error is its read timeout.
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Put `seq` in the first bytes of a payload (as many as fit), so a late UDP reply is
/// told apart from the current one.
pub fn stamp(payload: &mut [u8], seq: u64) {
    let bytes = seq.to_le_bytes();
    let n = payload.len().min(bytes.len());
    payload[..n].copy_from_slice(&bytes[..n]);
}
