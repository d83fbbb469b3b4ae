//! One round trip at a time against an RFC 862 echo server, with blocking sockets (the
//! loop runs on a thread of its own, so no runtime wake-up sits in the timed path).
//! Shared by the `nettool echo` client and `nettool bench rtt`.
//!
//! A reply that does not come within the timeout is a [`Outcome::Lost`] ping over
//! either protocol. UDP matches replies by content, so a late one is just counted
//! ([`Pinger::stale`]). TCP is a byte stream: a late echo still arrives, in order,
//! ahead of the next one, so the pinger remembers how many bytes it is owed and skips
//! them (counting each late echo) before reading the next reply. A reply that differs
//! from the ping ([`Outcome::Mismatch`], a server that is not an echo server) leaves
//! the stream's framing unknown: the next ping reconnects.

use crate::quic::endpoint::ClientOptions;
use crate::transport::stats::{CcSnapshot, CcStats};
use crate::wire::Proto;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// What became of one ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Answered,
    /// No reply within the timeout.
    Lost,
    /// UDP: the host said nothing listens on that port (ICMP port unreachable).
    Unreachable,
    /// TCP: the bytes that came back are not the ones sent.
    Mismatch,
}

/// How long a bench's TCP round trip may wait on retransmissions before it counts as
/// a timeout: long enough for several exponentially backed-off RTOs (200 ms, 400 ms,
/// … 6.4 s), so that on a lossy path a retransmitted round trip is a slow sample, not a
/// loss (TCP does not lose, it stalls). `nettool echo` keeps the user's `-W` instead,
/// as ping does.
pub(crate) const TCP_PATIENCE: Duration = Duration::from_secs(30);

/// A connected pinger over either protocol.
pub(crate) struct Pinger {
    inner: Inner,
    addr: SocketAddr,
    buf: Vec<u8>,
    timeout: Duration,
    /// Replies that matched no outstanding ping (UDP: late or duplicated; TCP: late).
    pub stale: u64,
}

enum Inner {
    Tcp(Tcp),
    Udp(UdpSocket),
    Quic(Box<crate::quic::echo::Pinger>),
}

/// A TCP stream, plain or TLS.
enum Wire {
    Plain(TcpStream),
    Tls(Box<crate::tcp::tls::BlockingStream>),
}

impl Wire {
    fn sock(&self) -> &TcpStream {
        match self {
            Wire::Plain(s) => s,
            Wire::Tls(s) => &s.sock,
        }
    }

    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.sock().set_read_timeout(t)
    }
}

impl CcStats for Wire {
    fn cc_snapshot(&self) -> Option<CcSnapshot> {
        match self {
            Wire::Plain(s) => s.cc_snapshot(),
            Wire::Tls(s) => s.cc_snapshot(),
        }
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(s) => s.read(buf),
            Wire::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(s) => s.write(buf),
            Wire::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Wire::Plain(s) => s.flush(),
            Wire::Tls(s) => s.flush(),
        }
    }
}

/// Connect over TCP, with TLS if `tls` says how to trust the server.
fn wire_connect(
    addr: SocketAddr,
    timeout: Duration,
    tls: Option<&ClientOptions>,
) -> io::Result<Wire> {
    let s = tcp_connect(addr, timeout)?;
    let Some(opts) = tls else {
        return Ok(Wire::Plain(s));
    };
    s.set_read_timeout(Some(timeout.max(Duration::from_secs(1))))?;
    let log = crate::cert::SessionLog::new(true);
    let (t, _) = crate::tcp::tls::connect_blocking(
        s,
        &addr.to_string(),
        &opts.trust,
        opts.kx,
        crate::wire::ALPN_ECHO,
        log,
    )?;
    Ok(Wire::Tls(Box::new(t)))
}

/// A TCP connection and the echo bytes still owed on it, oldest ping first.
struct Tcp {
    stream: Wire,
    owed: VecDeque<usize>,
    /// The framing is lost (a mismatched reply): reconnect before the next ping.
    resync: bool,
    /// TLS: how to trust the server when reconnecting.
    tls: Option<ClientOptions>,
}

impl Pinger {
    /// Connect to `addr` over `proto`; `opts`: how TLS and QUIC trust the server;
    /// `datagrams`: QUIC pings in DATAGRAM frames rather than on a stream.
    pub(crate) fn connect(
        addr: SocketAddr,
        proto: Proto,
        timeout: Duration,
        opts: &ClientOptions,
        datagrams: bool,
    ) -> io::Result<Pinger> {
        let tls = (proto == Proto::Tls).then_some(opts);
        let inner = match proto {
            Proto::Tcp | Proto::Tls => Inner::Tcp(Tcp {
                stream: wire_connect(addr, timeout, tls)?,
                owed: VecDeque::new(),
                resync: false,
                tls: tls.cloned(),
            }),
            Proto::Quic => Inner::Quic(Box::new(
                crate::quic::echo::Pinger::connect(addr, opts, datagrams, timeout)
                    .map_err(|e| io::Error::other(format!("{e:#}")))?,
            )),
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
            addr,
            buf: vec![0; 65_536],
            timeout,
            stale: 0,
        })
    }

    /// The connection's own congestion-control view (TCP and TLS: `TCP_INFO`; QUIC:
    /// quinn's statistics; UDP: none).
    pub(crate) fn cc_snapshot(&self) -> Option<CcSnapshot> {
        match &self.inner {
            Inner::Tcp(t) => t.stream.cc_snapshot(),
            Inner::Quic(q) => q.cc_snapshot(),
            Inner::Udp(_) => None,
        }
    }

    /// Send `payload` and wait for the same bytes back.
    pub(crate) fn ping(&mut self, payload: &[u8]) -> io::Result<Outcome> {
        let deadline = Instant::now() + self.timeout;
        match &mut self.inner {
            Inner::Tcp(t) => {
                if t.resync {
                    t.stream = wire_connect(self.addr, self.timeout, t.tls.as_ref())?;
                    t.owed.clear();
                    t.resync = false;
                }
                t.stream
                    .write_all(payload)
                    .map_err(|e| closed(e, self.addr))?;
                t.owed.push_back(payload.len());
                let outcome = t.reply(payload, &mut self.buf, deadline, &mut self.stale);
                let outcome = outcome.map_err(|e| closed(e, self.addr))?;
                if outcome == Outcome::Mismatch {
                    t.resync = true;
                }
                Ok(outcome)
            }
            Inner::Quic(q) => {
                use crate::quic::echo::Reply;
                let r = q.ping(payload);
                self.stale = q.stale;
                Ok(match r? {
                    Reply::Same => Outcome::Answered,
                    Reply::Different => Outcome::Mismatch,
                    Reply::Lost => Outcome::Lost,
                })
            }
            Inner::Udp(s) => {
                match s.send(payload) {
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                        return Ok(Outcome::Unreachable)
                    }
                    r => r?,
                };
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
                        // Stopped and continued (Ctrl-Z, fg): wait on for what is left.
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
}

impl Tcp {
    /// Read what is owed until the last ping's echo is complete, or until `deadline`.
    fn reply(
        &mut self,
        payload: &[u8],
        buf: &mut [u8],
        deadline: Instant,
        stale: &mut u64,
    ) -> io::Result<Outcome> {
        let len = payload.len();
        loop {
            let Some(&front) = self.owed.front() else {
                return Ok(Outcome::Answered); // unreachable: the ping itself is owed
            };
            let current = self.owed.len() == 1;
            // The current echo lands in its place in `buf`; a late one anywhere.
            let at = if current { len - front } else { 0 };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Outcome::Lost);
            }
            self.stream.set_read_timeout(Some(left))?;
            let end = at + front.min(buf.len() - at);
            let n = match self.stream.read(&mut buf[at..end]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => n,
                Err(e) if is_timeout(&e) => return Ok(Outcome::Lost),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let rest = front - n;
            if rest > 0 {
                self.owed[0] = rest;
                continue;
            }
            self.owed.pop_front();
            if !current {
                *stale += 1;
                continue;
            }
            return Ok(if buf[..len] == *payload {
                Outcome::Answered
            } else {
                Outcome::Mismatch
            });
        }
    }
}

fn tcp_connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| crate::addr::failed(format_args!("cannot connect to tcp {addr}"), e))?;
    s.set_nodelay(true)?;
    s.set_write_timeout(Some(timeout.max(Duration::from_secs(1))))?;
    Ok(s)
}

/// A TCP error mid-run, in words.
fn closed(e: io::Error, addr: SocketAddr) -> io::Error {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            io::Error::new(e.kind(), format!("tcp {addr} closed the connection"))
        }
        _ if is_timeout(&e) => io::Error::new(
            e.kind(),
            format!("tcp {addr} does not read what it is sent (the send timed out)"),
        ),
        _ => crate::addr::failed(format_args!("tcp {addr}"), e),
    }
}

/// Whether a blocking socket's error is its read timeout.
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Put `seq` in the first bytes of a payload (as many as fit), so a late UDP reply is
/// told apart from the current one.
pub(crate) fn stamp(payload: &mut [u8], seq: u64) {
    let bytes = seq.to_le_bytes();
    let n = payload.len().min(bytes.len());
    payload[..n].copy_from_slice(&bytes[..n]);
}
