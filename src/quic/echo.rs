//! Echo over QUIC (ALPN `nettool-echo`), open to any QUIC stack: every bidirectional
//! stream a client opens is echoed back byte for byte until the client finishes it (RFC
//! 862 on each stream), and every DATAGRAM frame is answered with one carrying the
//! same bytes. A stream that starts with the stream sink's preamble
//! (`\0nettool-sink/1\n`) is counted instead and answered with the 16-byte report once
//! finished, as over TCP. No Retry here: echo is for timing handshakes.
//!
//! [`Pinger`] is the client side for `nettool echo` and the bench: blocking calls over
//! a runtime of its own, so it runs on the measuring thread as the TCP and UDP pingers
//! do.

use super::endpoint::{self, ClientOptions};
use crate::cert::{Identity, Kx, SessionLog};
use bytes::Bytes;
use quinn::{Connection, Endpoint, RecvStream, SendStream};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The stream sink's preamble and report, as over TCP (see `crate::echo::sink`).
pub use crate::echo::sink::{TcpReport, TCP_PREAMBLE};

/// Serve echo on `socket` until `shutdown`; at most `max_conns` connections at once.
pub async fn serve(
    socket: std::net::UdpSocket,
    identity: &Identity,
    kx: Kx,
    max_conns: usize,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let t = endpoint::transport(endpoint::DEFAULT_IDLE_TIMEOUT, None, 64, 0);
    let ep = endpoint::server(socket, identity, kx, crate::wire::ALPN_ECHO, t)
        .map_err(io::Error::other)?;
    let permits = Arc::new(Semaphore::new(max_conns));
    let tasks = TaskTracker::new();
    loop {
        let incoming = tokio::select! {
            _ = shutdown.cancelled() => break,
            i = ep.accept() => match i { Some(i) => i, None => break },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            incoming.refuse();
            continue;
        };
        let stop = shutdown.clone();
        tasks.spawn(async move {
            let addr = incoming.remote_address();
            // 0.5-RTT: streams a resuming client opened in 0-RTT are answered with the
            // server's first flight, not after the client's Finished, so their first echo
            // comes back after one round trip. Echo is idempotent: a replayed 0-RTT
            // stream is only echoed again (RFC 9001 §9.2).
            let conn = match incoming.accept() {
                Ok(c) => match c.into_0rtt() {
                    Ok((conn, _accepted)) => Ok(conn),
                    Err(c) => c.await,
                },
                Err(e) => Err(e),
            };
            match conn {
                Ok(conn) => connection(conn, stop).await,
                Err(e) => tracing::debug!(%addr, error = %e, "QUIC echo handshake failed"),
            }
            drop(permit);
        });
    }
    tasks.close();
    ep.close(0u32.into(), b"shutdown");
    let _ = tokio::time::timeout(Duration::from_secs(1), tasks.wait()).await;
    Ok(())
}

async fn connection(conn: Connection, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            bi = conn.accept_bi() => match bi {
                Ok((send, recv)) => {
                    tokio::spawn(async move {
                        if let Err(e) = stream(send, recv).await {
                            tracing::debug!(error = %e, "QUIC echo stream ended");
                        }
                    });
                }
                Err(e) => {
                    tracing::debug!(error = %e, "QUIC echo connection ended");
                    return;
                }
            },
            d = conn.read_datagram() => match d {
                Ok(d) => { let _ = conn.send_datagram(d); }
                Err(_) => return,
            },
        }
    }
}

/// Echo one stream (or count it, if it opens with the sink's preamble).
async fn stream(mut send: SendStream, mut recv: RecvStream) -> io::Result<()> {
    let mut head = Vec::new();
    while head.len() < TCP_PREAMBLE.len() && TCP_PREAMBLE.starts_with(&head) {
        match recv
            .read_chunk(TCP_PREAMBLE.len() - head.len(), true)
            .await
            .map_err(io::Error::from)?
        {
            Some(c) => head.extend_from_slice(&c.bytes),
            None => break,
        }
    }
    if head == TCP_PREAMBLE {
        let start = Instant::now();
        let mut bytes = 0u64;
        while let Some(c) = recv
            .read_chunk(usize::MAX, false)
            .await
            .map_err(io::Error::from)?
        {
            bytes += c.bytes.len() as u64;
        }
        let report = TcpReport {
            bytes,
            elapsed_ns: start.elapsed().as_nanos() as u64,
        };
        send.write_all(&report.encode()).await?;
        let _ = send.finish();
        return Ok(());
    }
    if !head.is_empty() {
        send.write_chunk(Bytes::from(head)).await?;
    }
    while let Some(c) = recv
        .read_chunk(usize::MAX, true)
        .await
        .map_err(io::Error::from)?
    {
        send.write_chunk(c.bytes).await?;
    }
    let _ = send.finish();
    let _ = send.stopped().await;
    Ok(())
}

/// A client connection to a QUIC echo server, on a runtime of its own.
pub struct Pinger {
    rt: tokio::runtime::Runtime,
    _ep: Endpoint,
    conn: Connection,
    stream: Option<(SendStream, RecvStream)>,
    datagrams: bool,
    timeout: Duration,
    buf: Vec<u8>,
    /// Datagram replies that matched no outstanding ping (late or duplicated).
    pub stale: u64,
}

/// What one round trip gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// The same bytes came back.
    Same,
    /// Other bytes came back (not an echo server).
    Different,
    /// Nothing within the timeout.
    Lost,
}

impl Drop for Pinger {
    /// Close the connection while its runtime still exists, and let the endpoint send
    /// the CONNECTION_CLOSE (bounded): otherwise the runtime goes first, nothing is sent,
    /// and the server keeps the finished client until its idle timeout (30 s). A Pinger
    /// lives on a blocking thread (every ping is a `block_on`), so blocking here is fine.
    fn drop(&mut self) {
        self.conn.close(0u32.into(), b"done");
        let ep = self._ep.clone();
        self.rt.block_on(async {
            let _ = tokio::time::timeout(Duration::from_millis(200), ep.wait_idle()).await;
        });
    }
}

impl Pinger {
    /// The connection (for its statistics).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Connect to `addr` (blocking). `datagrams`: ping with DATAGRAM frames, else on a
    /// stream.
    pub fn connect(
        addr: SocketAddr,
        opts: &ClientOptions,
        datagrams: bool,
        timeout: Duration,
    ) -> anyhow::Result<Pinger> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (ep, conn) = rt.block_on(connect(addr, opts, SessionLog::new(true)))?;
        Ok(Pinger {
            rt,
            _ep: ep,
            conn,
            stream: None,
            datagrams,
            timeout,
            buf: vec![0; 65_536],
            stale: 0,
        })
    }

    /// Send `payload`, wait for it back (blocking).
    pub fn ping(&mut self, payload: &[u8]) -> io::Result<Reply> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let Pinger {
            rt,
            conn,
            stream,
            datagrams,
            buf,
            stale,
            ..
        } = self;
        rt.block_on(async {
            if *datagrams {
                conn.send_datagram(Bytes::copy_from_slice(payload))
                    .map_err(io::Error::other)?;
                loop {
                    match tokio::time::timeout_at(deadline, conn.read_datagram()).await {
                        Err(_) => return Ok(Reply::Lost),
                        Ok(Err(e)) => return Err(io::Error::other(e)),
                        Ok(Ok(d)) if d[..] == *payload => return Ok(Reply::Same),
                        Ok(Ok(_)) => *stale += 1,
                    }
                }
            }
            if stream.is_none() {
                *stream = Some(conn.open_bi().await.map_err(io::Error::other)?);
            }
            let Some((send, recv)) = stream.as_mut() else {
                return Ok(Reply::Lost);
            };
            send.write_all(payload).await.map_err(io::Error::from)?;
            let back = &mut buf[..payload.len()];
            match tokio::time::timeout_at(deadline, recv.read_exact(back)).await {
                Ok(Ok(())) if *back == *payload => Ok(Reply::Same),
                Ok(Ok(())) => {
                    *stream = None;
                    Ok(Reply::Different)
                }
                Ok(Err(e)) => Err(io::Error::other(e)),
                Err(_) => {
                    // The late echo would arrive ahead of the next one: a new stream.
                    if let Some((mut s, mut r)) = stream.take() {
                        let _ = s.reset(0u32.into());
                        let _ = r.stop(0u32.into());
                    }
                    Ok(Reply::Lost)
                }
            }
        })
    }
}

/// Connect to a QUIC echo server (async).
pub async fn connect(
    addr: SocketAddr,
    opts: &ClientOptions,
    log: Arc<SessionLog>,
) -> anyhow::Result<(Endpoint, Connection)> {
    crate::cert::warn_if_insecure(&opts.trust);
    let ep = endpoint::client_endpoint(addr)?;
    let (cfg, verifier) = endpoint::client_config(addr, opts, crate::wire::ALPN_ECHO, log)?;
    let conn = endpoint::connect(&ep, addr, cfg, &verifier, opts.connect_timeout).await?;
    Ok((ep, conn))
}
