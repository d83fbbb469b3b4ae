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
    /// No reply within the timeout (UDP only: TCP stalls are errors).
    Lost,
    /// UDP: the host said nothing listens on that port (ICMP port unreachable).
    Unreachable,
}

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
            Proto::Tcp => {
                let s = TcpStream::connect_timeout(&addr, timeout)?;
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(timeout))?;
                Inner::Tcp(s)
            }
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
                // A timeout here is an error, not a loss: TCP does not lose, it stalls.
                s.read_exact(echo)?;
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
