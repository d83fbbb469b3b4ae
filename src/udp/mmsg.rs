//! Many datagrams, to many peers, in one system call: `sendmmsg(2)` through nix's safe
//! wrapper. quinn-udp's batched send (GSO) carries many datagrams to *one* destination;
//! a fan-out sends one datagram to each of many, which only `sendmmsg` batches.
//!
//! On loopback most of a datagram's cost is the receiver's stack, run by the sender's
//! call, so batching saves the per-call part (entry, socket lookup, readiness) and not
//! the rest.

use nix::sys::socket::{sendmmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage};
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Datagrams per call at most (the kernel allows 1 024). At ~10 µs a datagram on a busy
/// loopback, 256 is a few milliseconds: after each call the task yields, so that the
/// socket's reader (joins, `/ok` lines) is not starved while a large room is written to.
/// Sending 1 024 per call without yielding, the capacity run lost joins: the socket's
/// receive buffer overflowed during a 10 000-member broadcast.
pub(super) const PER_CALL: usize = 256;

/// What became of a train of datagrams.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sent {
    pub(super) datagrams: u64,
    pub(super) bytes: u64,
    /// Refused by the kernel (each one on its own: the rest still go).
    pub(super) failed: u64,
}

/// Send every datagram in order, `PER_CALL` to a call, yielding between calls and
/// waiting while the socket buffer is full. A datagram the kernel refuses is counted and skipped, as `send_to` would
/// have failed for it alone.
pub(super) async fn send_all(socket: &UdpSocket, datagrams: &[(SocketAddr, &[u8])]) -> Sent {
    let fd = socket.as_raw_fd();
    let mut sent = Sent::default();
    let mut rest = datagrams;
    while !rest.is_empty() {
        if let Err(e) = socket.writable().await {
            tracing::trace!(error = %e, "socket not writable: datagrams dropped");
            sent.failed += rest.len() as u64;
            break;
        }
        match socket.try_io(Interest::WRITABLE, || send_some(fd, rest)) {
            Ok((n, bytes)) if n > 0 => {
                sent.datagrams += n as u64;
                sent.bytes += bytes;
                rest = &rest[n..];
                if !rest.is_empty() {
                    tokio::task::yield_now().await;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            other => {
                // The first datagram failed (a later failure ends the call early, and
                // shows here on the next one). UDP may drop, and so may we.
                if let Err(e) = other {
                    tracing::trace!(addr = %rest[0].0, error = %e, "datagram dropped");
                }
                sent.failed += 1;
                rest = &rest[1..];
            }
        }
    }
    sent
}

/// One `sendmmsg` call for up to `PER_CALL` datagrams: how many went, and their bytes.
fn send_some(fd: RawFd, datagrams: &[(SocketAddr, &[u8])]) -> io::Result<(usize, u64)> {
    let n = datagrams.len().min(PER_CALL);
    let iovs: Vec<[IoSlice<'_>; 1]> = datagrams[..n]
        .iter()
        .map(|(_, b)| [IoSlice::new(b)])
        .collect();
    let addrs: Vec<Option<SockaddrStorage>> = datagrams[..n]
        .iter()
        .map(|(a, _)| Some(SockaddrStorage::from(*a)))
        .collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(n, None);
    let none: [ControlMessage<'_>; 0] = [];
    let results = sendmmsg(
        fd,
        &mut headers,
        &iovs,
        &addrs,
        none,
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    let (mut count, mut bytes) = (0, 0);
    for r in results {
        count += 1;
        bytes += r.bytes as u64;
    }
    Ok((count, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn bound() -> UdpSocket {
        UdpSocket::bind("127.0.0.1:0").await.expect("bind")
    }

    #[tokio::test]
    async fn every_datagram_reaches_its_own_peer_in_order() {
        let sender = bound().await;
        let mut peers = Vec::new();
        for _ in 0..12 {
            peers.push(bound().await);
        }
        let addrs: Vec<SocketAddr> = peers
            .iter()
            .map(|p| p.local_addr().expect("addr"))
            .collect();
        // 12 peers x 100 datagrams: more than one call's worth, interleaved, and few
        // enough per peer to fit its receive buffer unread.
        let owned: Vec<(SocketAddr, Vec<u8>)> = (0..100)
            .flat_map(|i| addrs.iter().map(move |a| (*a, format!("{i}").into_bytes())))
            .collect();
        let trains: Vec<(SocketAddr, &[u8])> =
            owned.iter().map(|(a, b)| (*a, b.as_slice())).collect();
        let sent = send_all(&sender, &trains).await;
        let bytes: usize = owned.iter().map(|(_, b)| b.len()).sum();
        assert_eq!(
            sent,
            Sent {
                datagrams: 1200,
                bytes: bytes as u64,
                failed: 0
            }
        );
        let mut buf = [0u8; 64];
        for p in &peers {
            for i in 0..100 {
                let n = tokio::time::timeout(std::time::Duration::from_secs(10), p.recv(&mut buf))
                    .await
                    .expect("datagram within 10 s")
                    .expect("recv");
                assert_eq!(&buf[..n], format!("{i}").as_bytes());
            }
        }
    }

    #[tokio::test]
    async fn a_refused_datagram_is_counted_and_the_rest_still_go() {
        let sender = bound().await;
        let peer = bound().await;
        let to = peer.local_addr().expect("addr");
        // Port 0 is not a destination: the kernel refuses that one datagram.
        let nowhere: SocketAddr = ([127, 0, 0, 1], 0).into();
        let trains: Vec<(SocketAddr, &[u8])> = vec![(to, b"a"), (nowhere, b"x"), (to, b"b")];
        let sent = send_all(&sender, &trains).await;
        assert_eq!(
            sent,
            Sent {
                datagrams: 2,
                bytes: 2,
                failed: 1
            }
        );
        let mut buf = [0u8; 8];
        for want in [b"a", b"b"] {
            let n = tokio::time::timeout(std::time::Duration::from_secs(10), peer.recv(&mut buf))
                .await
                .expect("datagram within 10 s")
                .expect("recv");
            assert_eq!(&buf[..n], want);
        }
    }
}
