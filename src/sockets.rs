//! Binding a service's sockets: a TCP listener, a UDP socket (through socket2, for the
//! buffer sizes), or both on one port number. socket2 stays inside this file.

use crate::wire::Proto;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpSocket, UdpSocket};

/// Kernel buffer size asked for on UDP sockets (the kernel may grant less: `rmem_max`).
pub const UDP_BUFFER: usize = 4 << 20;

/// The sockets a service serves on.
#[derive(Debug, Default)]
pub struct Bound {
    pub tcp: Option<TcpListener>,
    pub udp: Option<UdpSocket>,
}

impl Bound {
    /// The address served on (both sockets share the port).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match (&self.tcp, &self.udp) {
            (Some(t), _) => t.local_addr(),
            (None, Some(u)) => u.local_addr(),
            (None, None) => Err(io::Error::new(io::ErrorKind::InvalidInput, "no protocol")),
        }
    }
}

/// Bind `protos` at `addr`. With both and port 0, the UDP socket takes the port the
/// kernel gave the TCP listener (retrying a few ports if that one is taken for UDP).
pub async fn bind(addr: SocketAddr, protos: &[Proto]) -> io::Result<Bound> {
    let want_tcp = protos.contains(&Proto::Tcp);
    let want_udp = protos.contains(&Proto::Udp);
    let attempts = if want_tcp && want_udp && addr.port() == 0 {
        16
    } else {
        1
    };
    let mut last_err = None;
    for _ in 0..attempts {
        let tcp = if want_tcp {
            Some(tcp_listener(addr)?)
        } else {
            None
        };
        let udp_addr = match &tcp {
            Some(t) => t.local_addr()?,
            None => addr,
        };
        if !want_udp {
            return Ok(Bound { tcp, udp: None });
        }
        match udp_socket(udp_addr) {
            Ok(udp) => {
                return Ok(Bound {
                    tcp,
                    udp: Some(udp),
                })
            }
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("cannot bind")))
}

/// A TCP listener with `SO_REUSEADDR` and a deep accept backlog.
pub fn tcp_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// A non-blocking UDP socket with large kernel buffers, bound to `addr`.
pub fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: the kernel caps these at net.core.{r,w}mem_max.
    let _ = socket.set_recv_buffer_size(UDP_BUFFER);
    let _ = socket.set_send_buffer_size(UDP_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// A connected client UDP socket with large kernel buffers.
pub async fn udp_connect(peer: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = if peer.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = udp_socket(local)?;
    socket.connect(peer).await?;
    Ok(socket)
}
