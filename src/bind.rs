//! Serving one address over several protocols on one port number: the chat server binds
//! one transport per protocol, the echo server one socket per protocol, both through
//! [`on_one_port`]. With port 0 the first protocol takes any free port and the others
//! take the same number (retrying a few ports if that number is taken for them). A
//! failure names the protocol, the address and the cause (see [`crate::addr::failed`]).

use crate::tcp;
use crate::udp;
use crate::wire::Proto;
use std::io;
use std::net::SocketAddr;
use tokio::net::{TcpListener, UdpSocket};

/// Tries at finding a port free for every protocol, when any port will do.
const PORT_ATTEMPTS: usize = 16;

/// Bind each of `protos` at `addr` with `bind_one`, all on the same port number; `port`
/// tells the port a bound one got. Returns them in the order of `protos`.
pub(crate) fn on_one_port<T>(
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
    let mut last_err = None;
    'attempt: for _ in 0..attempts {
        let bound = bind_one(first, addr).map_err(|e| failed(first, addr, e))?;
        let mut same = addr;
        same.set_port(port(&bound)?);
        let mut all = vec![bound];
        for &proto in rest {
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

/// A socket of one of the protocols a plain service (echo) serves on.
#[derive(Debug)]
pub(crate) enum Socket {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

impl Socket {
    /// Its protocol.
    pub(crate) fn proto(&self) -> Proto {
        match self {
            Socket::Tcp(_) => Proto::Tcp,
            Socket::Udp(_) => Proto::Udp,
        }
    }

    /// Where it is bound.
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Socket::Tcp(l) => l.local_addr(),
            Socket::Udp(u) => u.local_addr(),
        }
    }
}

/// Bind a plain socket per protocol at `addr`, on one port.
pub(crate) fn sockets(addr: SocketAddr, protos: &[Proto]) -> io::Result<Vec<Socket>> {
    on_one_port(
        addr,
        protos,
        |proto, addr| match proto {
            Proto::Tcp => tcp::socket::listener(addr).map(Socket::Tcp),
            Proto::Udp => udp::socket::bind(addr).map(Socket::Udp),
        },
        |s| s.local_addr().map(|a| a.port()),
    )
}

fn failed(proto: Proto, addr: SocketAddr, e: io::Error) -> io::Error {
    crate::addr::failed(format_args!("cannot listen on {proto} {addr}"), e)
}

/// The protocols of a list, as `tcp`, `udp` or `tcp+udp`.
pub(crate) fn label(protos: impl IntoIterator<Item = Proto>) -> String {
    let names: Vec<String> = protos.into_iter().map(|p| p.to_string()).collect();
    names.join("+")
}
