//! Serving one address over several protocols: the chat server binds one transport per
//! protocol, the echo server one socket per protocol, both through [`on_ports`].
//!
//! Protocols over different sockets share the port number (TCP and UDP on 7070). Two
//! over the same kind of socket cannot: QUIC runs over UDP, so beside plain UDP it takes
//! the next port (7071), and so does TLS beside plain TCP. Each protocol's port is
//! `P + k`, `k` counting the protocols of its kind listed before it. With port 0 the
//! first protocol takes any free port and the others follow from it (retrying a few
//! ports if one is taken). A failure names the protocol, the address and the cause (see
//! [`crate::addr::failed`]).

use crate::tcp;
use crate::udp;
use crate::wire::Proto;
use std::io;
use std::net::SocketAddr;
use tokio::net::{TcpListener, UdpSocket};

/// Tries at finding a port free for every protocol, when any port will do.
const PORT_ATTEMPTS: usize = 16;

/// The port offset of each of `protos` (see the module docs).
pub(crate) fn offsets(protos: &[Proto]) -> Vec<u16> {
    protos
        .iter()
        .enumerate()
        .map(|(i, p)| {
            protos[..i]
                .iter()
                .filter(|q| q.is_udp() == p.is_udp())
                .count() as u16
        })
        .collect()
}

/// Bind each of `protos` at `addr` with `bind_one`, on the ports [`offsets`] gives from
/// the first one's; `port` tells the port a bound one got. Returns them in the order of
/// `protos`.
pub(crate) fn on_ports<T>(
    addr: SocketAddr,
    protos: &[Proto],
    mut bind_one: impl FnMut(Proto, SocketAddr) -> io::Result<T>,
    port: impl Fn(&T) -> io::Result<u16>,
) -> io::Result<Vec<T>> {
    let Some((&first, rest)) = protos.split_first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no protocol"));
    };
    let attempts = if !rest.is_empty() && addr.port() == 0 {
        PORT_ATTEMPTS
    } else {
        1
    };
    let offsets = offsets(protos);
    let mut last_err = None;
    'attempt: for _ in 0..attempts {
        let bound = bind_one(first, addr).map_err(|e| failed(first, addr, e))?;
        let base = port(&bound)?;
        let mut all = vec![bound];
        for (&proto, &k) in rest.iter().zip(&offsets[1..]) {
            let mut same = addr;
            let Some(p) = base.checked_add(k) else {
                last_err = Some(failed(proto, addr, io::ErrorKind::AddrNotAvailable.into()));
                continue 'attempt;
            };
            same.set_port(p);
            match bind_one(proto, same) {
                Ok(b) => all.push(b),
                Err(e) => {
                    last_err = Some(failed(proto, same, e));
                    continue 'attempt;
                }
            }
        }
        return Ok(all);
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("cannot bind")))
}

/// A socket of one of the protocols a plain service (echo) serves on: a TCP listener
/// (plain or TLS) or a UDP socket (plain, or QUIC's).
#[derive(Debug)]
pub(crate) enum Socket {
    Tcp(TcpListener),
    Tls(TcpListener),
    Udp(UdpSocket),
    Quic(std::net::UdpSocket),
}

impl Socket {
    /// Its protocol.
    pub(crate) fn proto(&self) -> Proto {
        match self {
            Socket::Tcp(_) => Proto::Tcp,
            Socket::Tls(_) => Proto::Tls,
            Socket::Udp(_) => Proto::Udp,
            Socket::Quic(_) => Proto::Quic,
        }
    }

    /// Where it is bound.
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Socket::Tcp(l) | Socket::Tls(l) => l.local_addr(),
            Socket::Udp(u) => u.local_addr(),
            Socket::Quic(u) => u.local_addr(),
        }
    }
}

/// Bind a plain socket per protocol at `addr`, on the ports [`on_ports`] gives.
pub(crate) fn sockets(addr: SocketAddr, protos: &[Proto]) -> io::Result<Vec<Socket>> {
    on_ports(
        addr,
        protos,
        |proto, addr| match proto {
            Proto::Tcp => tcp::socket::listener(addr).map(Socket::Tcp),
            Proto::Tls => tcp::socket::listener(addr).map(Socket::Tls),
            Proto::Udp => udp::socket::bind(addr).map(Socket::Udp),
            Proto::Quic => crate::quic::socket::bind(addr).map(Socket::Quic),
        },
        |s| s.local_addr().map(|a| a.port()),
    )
}

/// The start-up line's list: `tcp+udp+quic on 127.0.0.1:7070`, and, when a protocol has
/// a port of its own, which (`; quic on udp port 7071, as plain udp has 7070`).
pub(crate) fn describe(bound: &[(Proto, SocketAddr)]) -> String {
    let Some(&(_, first)) = bound.first() else {
        return "nothing".into();
    };
    let mut s = format!("{} on {first}", label(bound.iter().map(|b| b.0)));
    for &(proto, addr) in bound {
        if addr.port() != first.port() {
            let kind = if proto.is_udp() { "udp" } else { "tcp" };
            let other = bound.iter().find(|(p, a)| {
                *p != proto && p.is_udp() == proto.is_udp() && a.port() != addr.port()
            });
            let why = match other {
                Some((p, a)) => format!(", as {p} has {kind} port {}", a.port()),
                None => String::new(),
            };
            s = format!("{proto} on {kind} port {}{why}; {s}", addr.port());
        }
    }
    s
}

fn failed(proto: Proto, addr: SocketAddr, e: io::Error) -> io::Error {
    crate::addr::failed(format_args!("cannot listen on {proto} {addr}"), e)
}

/// The protocols of a list, as `tcp`, `udp` or `tcp+udp`.
pub(crate) fn label(protos: impl IntoIterator<Item = Proto>) -> String {
    let names: Vec<String> = protos.into_iter().map(|p| p.to_string()).collect();
    names.join("+")
}
