//! TCP socket options: a listener with `SO_REUSEADDR` and a deep backlog, the options
//! of an accepted connection, the receive buffer of a stream sink (`crate::echo`), and
//! the reset that ends a connection whose peer keeps its side open. Every TCP socket
//! option nettool sets is set here, so socket2 stays inside the transport.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// A TCP listener with `SO_REUSEADDR` and a deep accept backlog.
pub(crate) fn listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// The accept backlog asked for; the kernel caps it at `net.core.somaxconn` (4 096 by
/// default since Linux 5.4). A flood arriving faster than the accept loop drains it
/// otherwise overflows the queue, and the kernel drops SYNs that real members then
/// retry only after a second.
const BACKLOG: u32 = 4096;

/// An accepted chat connection: no Nagle delay, and the kernel send buffer set to
/// `sndbuf` if given (best effort, logged).
pub(crate) fn tune(stream: &TcpStream, sndbuf: Option<usize>) {
    let _ = stream.set_nodelay(true);
    if let Some(n) = sndbuf {
        if let Err(e) = socket2::SockRef::from(stream).set_send_buffer_size(n) {
            tracing::debug!(error = %e, "cannot set the send buffer size");
        }
    }
}

/// Set the kernel receive buffer (`SO_RCVBUF`) of a connection to `bytes`; Linux
/// reports twice that back (its bookkeeping overhead).
pub(crate) fn set_recv_buffer(stream: &TcpStream, bytes: usize) -> io::Result<()> {
    socket2::SockRef::from(stream).set_recv_buffer_size(bytes)
}

/// The kernel receive buffer (`SO_RCVBUF`) of a connection, as the kernel reports it.
#[cfg(test)]
pub(crate) fn recv_buffer(stream: &TcpStream) -> io::Result<usize> {
    socket2::SockRef::from(stream).recv_buffer_size()
}

/// Make the coming close a reset (`SO_LINGER` 0): the only thing that makes a peer
/// such as netcat, which keeps its side open after the server's FIN, notice the end.
pub(crate) fn reset_on_close(stream: &TcpStream) {
    if let Err(e) = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO)) {
        tracing::debug!(error = %e, "cannot set SO_LINGER");
    }
}
