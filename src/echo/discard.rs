//! How the TCP stream sink takes its bytes: on Linux it moves them out of the socket
//! without copying (`splice` into a pipe, then from the pipe into `/dev/null`), where a
//! plain `read` would copy every byte into a buffer only to count it. The sink never looks
//! at the bytes, so the copy was pure cost, and on loopback it was most of the receiver's:
//! perf put 32 % of the stream's samples in `_copy_to_iter`.
//!
//! On loopback the sink's connection also gets a bounded receive buffer
//! ([`LOOPBACK_RCVBUF`]); see there. Elsewhere the kernel's autotuning is left alone, as
//! a real path's bandwidth-delay product can need more.

use crate::tcp;
use std::io;
use std::net::SocketAddr;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// `SO_RCVBUF` for a stream sink whose peer is on loopback. There the path holds a few
/// tens of KB (a ~20 µs round trip), but autotuning still grows the buffer to
/// `tcp_rmem`'s maximum and the sender runs megabytes ahead of the sink. The pages that
/// carry those bytes are then cold by the time they are freed and allocated again for the
/// next ones, and the sender's copy into them costs more. Bounded here (the kernel doubles
/// it for its overhead), they are reused while still in cache. Measured with the splice
/// sink, 2026-12-02: the sender's CPU per GB 407–563 ms against 557–958 ms unbounded.
pub(super) const LOOPBACK_RCVBUF: usize = 1 << 20;

/// Bytes moved per `splice` at most, and the pipe's size asked for.
#[cfg(target_os = "linux")]
const PIPE: usize = 1 << 20;

/// Size the sink connection's receive buffer for its path (see [`LOOPBACK_RCVBUF`]). A
/// dual-stack listener sees an IPv4 peer as `::ffff:127.0.0.1`, which is loopback too.
pub(super) fn size_for_path(s: &TcpStream, peer: SocketAddr) {
    if peer.ip().to_canonical().is_loopback() {
        if let Err(e) = tcp::socket::set_recv_buffer(s, LOOPBACK_RCVBUF) {
            tracing::debug!(error = %e, "stream sink: SO_RCVBUF not set");
        }
    }
}

/// Take bytes until the peer half-closes; returns how many. Uses `splice` where the
/// kernel offers it and falls back to reading into `buf` where it does not.
pub(super) async fn until_eof(s: &mut TcpStream, buf: &mut [u8]) -> io::Result<u64> {
    #[cfg(target_os = "linux")]
    match spliced::Pipe::new() {
        Ok(pipe) => return pipe.until_eof(s).await,
        Err(e) => tracing::debug!(error = %e, "stream sink: no pipe for splice; reading"),
    }
    read_until_eof(s, buf).await
}

/// The copying way: `read` into `buf` until end of stream.
async fn read_until_eof(s: &mut TcpStream, buf: &mut [u8]) -> io::Result<u64> {
    let mut bytes = 0u64;
    loop {
        match s.read(buf).await? {
            0 => return Ok(bytes),
            n => bytes += n as u64,
        }
    }
}

#[cfg(target_os = "linux")]
mod spliced {
    use super::PIPE;
    use nix::fcntl::{fcntl, splice, FcntlArg, OFlag, SpliceFFlags};
    use std::fs::File;
    use std::io;
    use std::os::fd::OwnedFd;
    use std::sync::OnceLock;
    use tokio::io::Interest;
    use tokio::net::TcpStream;

    /// A pipe between the socket and `/dev/null`.
    pub(super) struct Pipe {
        read: OwnedFd,
        write: OwnedFd,
        null: &'static File,
    }

    /// `/dev/null`, opened once for every sink: a sink holds two descriptors (its pipe)
    /// beside its socket, not three.
    fn null() -> io::Result<&'static File> {
        static NULL: OnceLock<Option<File>> = OnceLock::new();
        NULL.get_or_init(|| File::options().write(true).open("/dev/null").ok())
            .as_ref()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "/dev/null cannot be opened"))
    }

    impl Pipe {
        pub(super) fn new() -> io::Result<Pipe> {
            let null = null()?;
            let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
            // A larger pipe moves more per call; the default 64 KiB still works.
            let _ = fcntl(&write, FcntlArg::F_SETPIPE_SZ(PIPE as i32));
            Ok(Pipe { read, write, null })
        }

        pub(super) async fn until_eof(self, s: &TcpStream) -> io::Result<u64> {
            let flags = SpliceFFlags::SPLICE_F_NONBLOCK | SpliceFFlags::SPLICE_F_MOVE;
            let mut bytes = 0u64;
            loop {
                // `async_io` waits for readiness, retries on EAGAIN and spends the task's
                // cooperative budget, so a stream cannot starve the server's other tasks.
                let n = s
                    .async_io(Interest::READABLE, || {
                        Ok(splice(s, None, &self.write, None, PIPE, flags)?)
                    })
                    .await?;
                if n == 0 {
                    return Ok(bytes);
                }
                bytes += n as u64;
                self.drain(n)?;
            }
        }

        /// Empty the pipe into `/dev/null`, which takes everything at once.
        fn drain(&self, mut left: usize) -> io::Result<()> {
            while left > 0 {
                match splice(
                    &self.read,
                    None,
                    self.null,
                    None,
                    left,
                    SpliceFFlags::empty(),
                )? {
                    0 => return Err(io::Error::other("the pipe to /dev/null stalled")),
                    n => left -= n,
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;
    use tokio::time::timeout;

    const WAIT: Duration = Duration::from_secs(10);

    /// A connected pair: (the sender's end, the sink's end).
    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        (c, s)
    }

    /// Writes `total` bytes in uneven pieces, then half-closes.
    async fn send(mut c: TcpStream, total: usize) {
        let block = vec![7u8; 100_003];
        let mut left = total;
        while left > 0 {
            let n = left.min(block.len());
            c.write_all(&block[..n]).await.unwrap();
            left -= n;
        }
        c.shutdown().await.unwrap();
    }

    /// Sends `total` bytes over a fresh loopback pair (its buffer bound as a sink's) and
    /// counts them at the far end by splicing, or by reading.
    async fn counted(total: usize, splice: bool) -> u64 {
        let (c, mut s) = pair().await;
        size_for_path(&s, s.peer_addr().unwrap());
        let sender = tokio::spawn(send(c, total));
        let mut buf = vec![0u8; 64 * 1024];
        let n = if splice {
            let pipe = spliced::Pipe::new().expect("a pipe and /dev/null");
            timeout(WAIT, pipe.until_eof(&s)).await
        } else {
            timeout(WAIT, read_until_eof(&mut s, &mut buf)).await
        };
        sender.await.unwrap();
        n.unwrap().unwrap()
    }

    /// Several pipes' worth, through the kernel's splice path.
    #[tokio::test]
    async fn splicing_counts_every_byte_to_the_end_of_stream() {
        let total = 5 * PIPE_OR_BUF + 12_345;
        assert_eq!(counted(total, true).await, total as u64);
    }

    /// The copying fallback counts the same.
    #[tokio::test]
    async fn reading_counts_every_byte_too() {
        let total = 3 * PIPE_OR_BUF + 1;
        assert_eq!(counted(total, false).await, total as u64);
    }

    /// A peer that resets mid-stream ends the sink with an error, not a count.
    #[tokio::test]
    async fn a_reset_mid_stream_is_an_error() {
        let (mut c, mut s) = pair().await;
        c.write_all(&[1u8; 10_000]).await.unwrap();
        // Linger 0: close sends a RST instead of a FIN.
        tcp::socket::reset_on_close(&c);
        drop(c);
        let mut buf = vec![0u8; 4096];
        let r = timeout(WAIT, until_eof(&mut s, &mut buf)).await.unwrap();
        let e = r.expect_err("a reset is not an end of stream");
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
    }

    #[tokio::test]
    async fn only_a_loopback_peer_gets_the_bounded_buffer() {
        let (_c, s) = pair().await;
        let size = || tcp::socket::recv_buffer(&s).unwrap();
        let before = size();
        size_for_path(&s, "192.0.2.1:9".parse().unwrap());
        size_for_path(&s, "[::ffff:192.0.2.1]:9".parse().unwrap());
        assert_eq!(size(), before);
        size_for_path(&s, "[::ffff:127.0.0.1]:9".parse().unwrap());
        assert_eq!(
            size(),
            2 * LOOPBACK_RCVBUF,
            "an IPv4 peer on a dual-stack socket"
        );
        size_for_path(&s, s.peer_addr().unwrap());
        // Linux reports twice what was set (its bookkeeping overhead).
        assert_eq!(size(), 2 * LOOPBACK_RCVBUF);
    }

    /// More than one pipe-full (or one fallback buffer) per test run.
    const PIPE_OR_BUF: usize = 1 << 20;
}
