//! Creating UDP sockets through socket2, for the kernel buffer sizes: a bound server
//! socket and a connected client socket.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use tokio::net::UdpSocket;

/// Kernel buffer size asked for on UDP sockets (the kernel may grant less: `rmem_max`).
pub(crate) const UDP_BUFFER: usize = 4 << 20;

/// A non-blocking UDP socket with large kernel buffers, bound to `addr`.
pub(crate) fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: the kernel caps these at net.core.{r,w}mem_max.
    let _ = socket.set_recv_buffer_size(UDP_BUFFER);
    let _ = socket.set_send_buffer_size(UDP_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// A connected client UDP socket with large kernel buffers.
pub(crate) async fn connect(peer: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = if peer.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = bind(local)?;
    socket.connect(peer).await?;
    Ok(socket)
}

/// A blocking client UDP socket connected to `peer`, with a large send buffer (the
/// bench's stream sender, which runs on a thread of its own).
pub(crate) fn blocking_connect(peer: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let local: SocketAddr = if peer.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = std::net::UdpSocket::bind(local)?;
    // Best effort, as for the server sockets.
    let _ = socket2::SockRef::from(&sock).set_send_buffer_size(UDP_BUFFER);
    sock.connect(peer)?;
    Ok(sock)
}
