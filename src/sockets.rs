//! Binding a service's sockets: a TCP listener, a UDP socket (through socket2, for the
//! buffer sizes), or both on one port number; and batched UDP I/O ([`BatchRecv`],
//! [`GsoSender`]: recvmmsg, GRO and GSO through quinn-udp). socket2 and quinn-udp stay
//! inside this file.

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

/// Largest UDP payload a buffer must hold, and the most one GRO read carries.
const MAX_UDP: usize = 65_536;

/// Batched UDP receive: one `recvmmsg` takes up to [`quinn_udp::BATCH_SIZE`] reads, and
/// with GRO (enabled where the kernel has it) one read may carry up to 64 datagrams
/// from a GSO sender. Buffers are allocated once.
pub struct BatchRecv {
    state: quinn_udp::UdpSocketState,
    bufs: Vec<Vec<u8>>,
    meta: Vec<quinn_udp::RecvMeta>,
    got: usize,
}

impl BatchRecv {
    pub fn new(socket: &UdpSocket) -> io::Result<Self> {
        Ok(BatchRecv {
            state: quinn_udp::UdpSocketState::new(socket.into())?,
            bufs: vec![vec![0; MAX_UDP]; quinn_udp::BATCH_SIZE],
            meta: vec![quinn_udp::RecvMeta::default(); quinn_udp::BATCH_SIZE],
            got: 0,
        })
    }

    /// Wait until something is queued, then read as much as one batch holds.
    pub async fn recv(&mut self, socket: &UdpSocket) -> io::Result<()> {
        let BatchRecv {
            state,
            bufs,
            meta,
            got,
        } = self;
        loop {
            socket.readable().await?;
            let mut iovs: Vec<std::io::IoSliceMut<'_>> = bufs
                .iter_mut()
                .map(|b| std::io::IoSliceMut::new(b))
                .collect();
            match socket.try_io(tokio::io::Interest::READABLE, || {
                state.recv(socket.into(), &mut iovs, meta)
            }) {
                Ok(n) => {
                    *got = n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The datagrams the last [`BatchRecv::recv`] read, each with its source.
    pub fn datagrams(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> + '_ {
        self.meta[..self.got]
            .iter()
            .zip(&self.bufs)
            .flat_map(|(m, b)| {
                b[..m.len.min(b.len())]
                    .chunks(m.stride.max(1))
                    .map(move |d| (d, m.addr))
            })
    }
}

/// Sends runs of equal-sized datagrams to one peer in one system call with UDP GSO
/// where the kernel has it (the kernel, or the receiver's GRO, splits them), one
/// `send` per datagram where it does not. For a blocking socket.
pub struct GsoSender {
    state: quinn_udp::UdpSocketState,
}

impl GsoSender {
    pub fn new(socket: &std::net::UdpSocket) -> io::Result<Self> {
        let state = quinn_udp::UdpSocketState::new(socket.into())?;
        // quinn-udp makes the socket non-blocking; this sender waits for buffer space.
        socket.set_nonblocking(false)?;
        Ok(GsoSender { state })
    }

    /// How many datagrams of `size` bytes one call may carry (at least 1).
    pub fn batch(&self, size: usize) -> usize {
        let by_len = (MAX_UDP - 1) / size.max(1);
        self.state.max_gso_segments().min(by_len).max(1)
    }

    /// Send `datagrams`, back to back, each `size` bytes (the last may be shorter).
    pub fn send(
        &self,
        socket: &std::net::UdpSocket,
        to: SocketAddr,
        datagrams: &[u8],
        size: usize,
    ) -> io::Result<()> {
        let transmit = quinn_udp::Transmit {
            destination: to,
            ecn: None,
            contents: datagrams,
            segment_size: (datagrams.len() > size).then_some(size),
            src_ip: None,
        };
        self.state.try_send(socket.into(), &transmit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GSO run of datagrams (the last one shorter) arrives through [`BatchRecv`] as the
    /// same datagrams, whole and in order, whether or not the kernel coalesced them.
    #[tokio::test]
    async fn a_gso_run_arrives_as_the_same_datagrams_in_order() {
        let rx = udp_socket("127.0.0.1:0".parse().expect("literal")).expect("bind");
        let to = rx.local_addr().expect("addr");
        let mut batch = BatchRecv::new(&rx).expect("batch receiver");
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let gso = GsoSender::new(&tx).expect("gso sender");
        let (size, count) = (100, 10);
        assert!(gso.batch(size) >= 1);
        let mut run: Vec<u8> = (0..count).flat_map(|i| vec![i as u8; size]).collect();
        run.truncate(run.len() - 40); // the last datagram is 60 bytes
                                      // Sent in runs as large as this kernel allows (1 where it has no GSO).
        for chunk in run.chunks(size * gso.batch(size)) {
            gso.send(&tx, to, chunk, size).expect("send");
        }
        let mut got: Vec<Vec<u8>> = Vec::new();
        while got.len() < count {
            tokio::time::timeout(std::time::Duration::from_secs(5), batch.recv(&rx))
                .await
                .expect("datagrams in time")
                .expect("recv");
            got.extend(batch.datagrams().map(|(d, _)| d.to_vec()));
        }
        assert_eq!(got.len(), count);
        for (i, d) in got.iter().enumerate() {
            let len = if i == count - 1 { 60 } else { size };
            assert_eq!(d, &vec![i as u8; len], "datagram {i}");
        }
    }
}
