//! Batched UDP I/O through quinn-udp: [`BatchRecv`] (recvmmsg and GRO) and
//! [`GsoSender`] (UDP GSO), for the bench's stream and the echo server's sink.

use std::io;
use std::net::SocketAddr;
use tokio::net::UdpSocket;

/// Largest UDP payload a buffer must hold, and the most one GRO read carries.
const MAX_UDP: usize = 65_536;

/// Batched UDP receive: one `recvmmsg` takes up to [`quinn_udp::BATCH_SIZE`] reads, and
/// with GRO (enabled where the kernel has it) one read may carry up to 64 datagrams
/// from a GSO sender. Buffers are allocated once.
pub(crate) struct BatchRecv {
    state: quinn_udp::UdpSocketState,
    bufs: Vec<Vec<u8>>,
    meta: Vec<quinn_udp::RecvMeta>,
    got: usize,
}

impl BatchRecv {
    pub(crate) fn new(socket: &UdpSocket) -> io::Result<Self> {
        Ok(BatchRecv {
            state: quinn_udp::UdpSocketState::new(socket.into())?,
            bufs: vec![vec![0; MAX_UDP]; quinn_udp::BATCH_SIZE],
            meta: vec![quinn_udp::RecvMeta::default(); quinn_udp::BATCH_SIZE],
            got: 0,
        })
    }

    /// Wait until something is queued, then read as much as one batch holds.
    pub(crate) async fn recv(&mut self, socket: &UdpSocket) -> io::Result<()> {
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
    pub(crate) fn datagrams(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> + '_ {
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
pub(crate) struct GsoSender {
    state: quinn_udp::UdpSocketState,
}

impl GsoSender {
    pub(crate) fn new(socket: &std::net::UdpSocket) -> io::Result<Self> {
        let state = quinn_udp::UdpSocketState::new(socket.into())?;
        // quinn-udp makes the socket non-blocking; this sender waits for buffer space.
        socket.set_nonblocking(false)?;
        Ok(GsoSender { state })
    }

    /// How many datagrams of `size` bytes one call may carry (at least 1).
    pub(crate) fn batch(&self, size: usize) -> usize {
        let by_len = (MAX_UDP - 1) / size.max(1);
        self.state.max_gso_segments().min(by_len).max(1)
    }

    /// Send `datagrams`, back to back, each `size` bytes (the last may be shorter).
    pub(crate) fn send(
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
        let rx = crate::udp::socket::bind("127.0.0.1:0".parse().expect("literal")).expect("bind");
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
