//! The RFC 862 echo server. TCP: every byte back until the peer closes, honouring
//! half-close (the peer's FIN ends the echo, then ours follows). UDP: each datagram
//! answered by one datagram with the same bytes, within the limits of [`super`]'s docs. Beside plain echo it serves the bench's
//! stream sink (a TCP preamble or a UDP tag, see [`super::sink`]).

use super::discard;
use super::sink::{self, TcpReport, UdpSink};
use super::ServerConfig;
use crate::udp::budget::PerSource;
use crate::udp::reflect;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Read buffer per TCP connection (large, for the stream sink).
const TCP_BUF: usize = 256 * 1024;

pub(super) async fn tcp(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    cfg: ServerConfig,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(cfg.max_conns));
    let tasks = TaskTracker::new();
    let mut acceptor = crate::tcp::accept::Acceptor::new(listener);
    while let Some((stream, addr)) = acceptor.next(&shutdown).await {
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%addr, max = cfg.max_conns, "echo connection refused: at the cap");
            continue; // dropping the stream closes it
        };
        let stop = shutdown.clone();
        let tls = tls.clone();
        tasks.spawn(async move {
            tokio::select! {
                r = connection(stream, tls) => {
                    if let Err(e) = r {
                        tracing::debug!(%addr, error = %e, "echo connection ended");
                    }
                }
                _ = stop.cancelled() => {}
            }
            drop(permit);
        });
    }
    tasks.close();
    tasks.wait().await;
    Ok(())
}

/// How long a TLS client has for its handshake.
const TLS_HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(10);

async fn connection(mut s: TcpStream, tls: Option<tokio_rustls::TlsAcceptor>) -> io::Result<()> {
    let _ = s.set_nodelay(true);
    if let Some(tls) = tls {
        let t = tokio::time::timeout(TLS_HANDSHAKE, tls.accept(s))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        return any_stream(t).await;
    }
    let mut buf = vec![0u8; TCP_BUF];
    let (mut n, to_sink) = opening(&mut s, &mut buf).await?;
    if to_sink {
        return tcp_sink(s, buf, n - sink::TCP_PREAMBLE.len()).await;
    }
    while n > 0 {
        s.write_all(&buf[..n]).await?;
        n = s.read(&mut buf).await?;
    }
    // The peer half-closed and has everything back: close our side too.
    s.shutdown().await
}

/// The first bytes of a stream into `buf`: enough to tell the sink's preamble from data to
/// echo. Returns how many were read, and whether they start with the preamble.
async fn opening<S: tokio::io::AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut [u8],
) -> io::Result<(usize, bool)> {
    let mut n = s.read(buf).await?;
    while n > 0 && n < sink::TCP_PREAMBLE.len() && buf[..n] == sink::TCP_PREAMBLE[..n] {
        let more = s.read(&mut buf[n..]).await?;
        if more == 0 {
            break;
        }
        n += more;
    }
    Ok((
        n,
        n >= sink::TCP_PREAMBLE.len() && buf.starts_with(sink::TCP_PREAMBLE),
    ))
}

/// Echo (or count, after the sink's preamble) any stream: the TLS path, without the
/// plain socket's splice.
async fn any_stream<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
) -> io::Result<()> {
    let mut buf = vec![0u8; TCP_BUF];
    let (mut n, to_sink) = opening(&mut s, &mut buf).await?;
    if to_sink {
        let start = Instant::now();
        let mut bytes = (n - sink::TCP_PREAMBLE.len()) as u64;
        loop {
            match s.read(&mut buf).await? {
                0 => break,
                k => bytes += k as u64,
            }
        }
        let report = TcpReport {
            bytes,
            elapsed_ns: start.elapsed().as_nanos() as u64,
        };
        s.write_all(&report.encode()).await?;
        return s.shutdown().await;
    }
    while n > 0 {
        s.write_all(&buf[..n]).await?;
        s.flush().await?;
        n = s.read(&mut buf).await?;
    }
    s.shutdown().await
}

/// Count bytes until the sender half-closes, then report.
async fn tcp_sink(mut s: TcpStream, mut buf: Vec<u8>, already: usize) -> io::Result<()> {
    if let Ok(peer) = s.peer_addr() {
        discard::size_for_path(&s, peer);
    }
    let start = Instant::now();
    let bytes = already as u64 + discard::until_eof(&mut s, &mut buf).await?;
    let report = TcpReport {
        bytes,
        elapsed_ns: start.elapsed().as_nanos() as u64,
    };
    s.write_all(&report.encode()).await?;
    s.shutdown().await
}

pub(super) async fn udp(
    socket: UdpSocket,
    cfg: ServerConfig,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let mut batch = crate::udp::batch::BatchRecv::new(&socket)?;
    let mut sink = UdpSink::default();
    let own_port = socket.local_addr()?.port();
    let mut budget = PerSource::new(cfg.udp_rate, cfg.max_sources);
    let (mut refused, mut throttled) = (0u64, 0u64);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            r = batch.recv(&socket) => if let Err(e) = r {
                tracing::debug!(error = %e, "UDP receive error");
                continue;
            },
        }
        let now = tokio::time::Instant::now();
        for (d, from) in batch.datagrams() {
            let n = d.len();
            if n > cfg.max_datagram || !reflect::answerable(from, own_port) {
                refused += 1;
                tracing::debug!(%from, len = n, refused, "datagram not answered");
                continue;
            }
            // Counted sink data is never answered: no budget needed.
            let answers = !sink::is_sink_datagram(d) || d.starts_with(sink::REPORT_REQ);
            if answers && !budget.take(from.ip(), now) {
                throttled += 1;
                if throttled.is_power_of_two() {
                    tracing::warn!(%from, throttled, "UDP echo source over its budget: dropped");
                }
                continue;
            }
            if sink::is_sink_datagram(d) {
                if let Some(report) = sink.on_datagram(d, from) {
                    send(&socket, &report, from).await;
                }
                continue;
            }
            send(&socket, d, from).await;
        }
    }
    // Worth a line only when the guard had something to do.
    if refused + throttled > 0 {
        tracing::info!(
            refused,
            throttled,
            sources = budget.len(),
            "UDP echo stopped"
        );
    } else {
        tracing::debug!(sources = budget.len(), "UDP echo stopped");
    }
    Ok(())
}

async fn send(socket: &UdpSocket, d: &[u8], to: SocketAddr) {
    // Not fatal: UDP may drop, and so may we.
    if let Err(e) = socket.send_to(d, to).await {
        tracing::debug!(%to, error = %e, "UDP send failed");
    }
}
