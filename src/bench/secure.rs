//! The bench's TLS and QUIC measurements that the plain ones cannot share: setup cost
//! with its three kinds of handshake (full, resumed, and QUIC's 0-RTT), with the group
//! and suite negotiated, and the one-way stream into the echo server's sink. Round trips
//! go through the echo pinger as over TCP and UDP.
//!
//! Setup: time from nothing to the first echoed byte — a TCP connect and a TLS
//! handshake, or a QUIC handshake — on one client endpoint per run (QUIC) or a new
//! socket each time (TCP). "Full" never resumes; "resumed" offers the ticket of the
//! previous connection; "0-RTT" (QUIC) sends the byte with the resumed handshake.

use super::interval::tcp::{tick, Ticker};
use super::interval::Recorder;
use super::setup::{SetupConfig, SetupResult};
use super::stream::{reliable_result, StreamConfig, StreamResult};
use crate::cert::{self, Negotiated, SessionLog};
use crate::echo::sink::{TcpReport, TCP_PREAMBLE};
use crate::measure::latency::{self as stats, Latency};
use crate::quic::endpoint::{self, ClientOptions};
use crate::transport::stats::CcStats;
use crate::wire::Proto;
use bytes::Bytes;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Stream writes of this size, as over TCP.
const CHUNK: usize = 128 * 1024;

/// How a connection starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Full,
    Resumed,
    ZeroRtt,
}

/// Setup cost over TLS or QUIC: full, resumed and (QUIC) 0-RTT, `cfg.count` each at most.
pub(super) fn setup(cfg: &SetupConfig, opts: &ClientOptions) -> io::Result<SetupResult> {
    let kinds: &[Kind] = match cfg.proto {
        Proto::Quic => &[Kind::Full, Kind::Resumed, Kind::ZeroRtt],
        _ => &[Kind::Full, Kind::Resumed],
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut lat: Vec<Option<Latency>> = Vec::new();
    let (mut attempts, mut failed) = (0, 0);
    let mut negotiated = Negotiated::default();
    for &kind in kinds {
        let log = SessionLog::new(kind != Kind::Full);
        let mut hist = stats::histogram();
        let start = Instant::now();
        let mut n = 0;
        let tls = match cfg.proto {
            Proto::Tls => {
                let host = cfg.addr.to_string();
                let alpn = crate::wire::ALPN_ECHO;
                Some(crate::tcp::tls::client_config(
                    &host,
                    &opts.trust,
                    opts.kx,
                    alpn,
                    log.clone(),
                )?)
            }
            _ => None,
        };
        let quic = match cfg.proto {
            Proto::Quic => Some(rt.block_on(async {
                let ep = endpoint::client_endpoint(cfg.addr).map_err(io::Error::other)?;
                let (c, v) =
                    endpoint::client_config(cfg.addr, opts, crate::wire::ALPN_ECHO, log.clone())
                        .map_err(io::Error::other)?;
                Ok::<_, io::Error>((ep, c, v))
            })?),
            _ => None,
        };
        // A resumed handshake needs a ticket: the first connection is not timed.
        let warm = u64::from(kind != Kind::Full);
        while n < cfg.count + warm && start.elapsed() < cfg.duration {
            n += 1;
            let t0 = Instant::now();
            let ok = match &quic {
                Some((ep, c, v)) => rt.block_on(quic_once(ep, c.clone(), v, cfg, kind))?,
                None => match &tls {
                    Some((c, v)) => tls_once(cfg, c.clone(), v)?,
                    None => false,
                },
            };
            if n <= warm {
                continue;
            }
            attempts += 1;
            if ok {
                stats::record(&mut hist, t0.elapsed());
            } else {
                failed += 1;
            }
            if kind == Kind::Full {
                negotiated = log.last();
            }
        }
        lat.push(Latency::from_histogram(&hist));
    }
    let mut lat = lat.into_iter();
    Ok(SetupResult {
        proto: cfg.proto,
        attempts,
        failed,
        latency: lat.next().flatten(),
        resumed: lat.next().flatten(),
        zero_rtt: lat.next().flatten(),
        negotiated: Some(negotiated),
    })
}

fn tls_once(
    cfg: &SetupConfig,
    tls: Arc<rustls::ClientConfig>,
    verifier: &cert::trust::Verifier,
) -> io::Result<bool> {
    let sock = TcpStream::connect_timeout(&cfg.addr, cfg.timeout)?;
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(cfg.timeout))?;
    let host = cfg.addr.to_string();
    let (mut s, _) = crate::tcp::tls::connect_blocking_with(sock, &host, tls, verifier)?;
    s.write_all(b"x")?;
    let mut b = [0u8; 1];
    match s.read_exact(&mut b) {
        Ok(()) => Ok(true),
        Err(e) if crate::echo::pinger::is_timeout(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

async fn quic_once(
    ep: &quinn::Endpoint,
    cfg: quinn::ClientConfig,
    verifier: &cert::trust::Verifier,
    c: &SetupConfig,
    kind: Kind,
) -> io::Result<bool> {
    let connecting = ep
        .connect_with(cfg, c.addr, "localhost")
        .map_err(io::Error::other)?;
    let conn = if kind == Kind::ZeroRtt {
        match connecting.into_0rtt() {
            Ok((conn, _accepted)) => conn,
            Err(connecting) => connecting
                .await
                .map_err(|e| io::Error::other(endpoint::refused(c.addr, verifier, &e)))?,
        }
    } else {
        match tokio::time::timeout(c.timeout, connecting).await {
            Err(_) => return Ok(false),
            Ok(r) => r.map_err(|e| io::Error::other(endpoint::refused(c.addr, verifier, &e)))?,
        }
    };
    let echoed = async {
        let (mut send, mut recv) = conn.open_bi().await.map_err(io::Error::other)?;
        send.write_all(b"x").await.map_err(io::Error::from)?;
        let mut b = [0u8; 1];
        recv.read_exact(&mut b).await.map_err(io::Error::other)?;
        Ok::<_, io::Error>(())
    };
    let ok = tokio::time::timeout(c.timeout, echoed)
        .await
        .map(|r| r.is_ok())
        .unwrap_or(false);
    conn.close(0u32.into(), b"done");
    Ok(ok)
}

/// One-way bulk into the sink over TLS or QUIC for `cfg.duration`, with intervals from
/// the connection's own statistics (through `CcStats`). Both on a runtime of their own.
pub(super) fn stream(cfg: &StreamConfig) -> io::Result<StreamResult> {
    let rec = Recorder::new(&cfg.intervals, "stream", cfg.proto);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cfg.proto {
        Proto::Quic => rt.block_on(quic_stream(cfg, rec)),
        _ => rt.block_on(tls_stream(cfg, rec)),
    }
}

/// TLS through tokio-rustls, as the bare program's floor is (the blocking rustls stream
/// ran at 0.7× of it once rustls's per-byte cost fell with AES-128-GCM). TCP_INFO of the
/// socket under TLS is read on a thread of its own (as over TCP), through a duplicate of
/// its descriptor.
async fn tls_stream(cfg: &StreamConfig, rec: Option<Recorder>) -> io::Result<StreamResult> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = cfg.addr;
    let patience = Duration::from_secs(10);
    let sock = tokio::time::timeout(patience, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no TCP connection"))??;
    // The same socket twice: tokio's for the TLS stream, a std one for TCP_INFO.
    let std_sock = sock.into_std()?;
    let info: TcpStream = std_sock.try_clone()?;
    let sock = tokio::net::TcpStream::from_std(std_sock)?;
    let log = SessionLog::new(false);
    let alpn = crate::wire::ALPN_ECHO;
    let host = addr.to_string();
    let connecting =
        crate::tcp::tls::connect(sock, &host, &cfg.secure.trust, cfg.secure.kx, alpn, log);
    let mut s = tokio::time::timeout(patience, connecting)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no TLS handshake"))??;
    s.write_all(TCP_PREAMBLE).await?;
    let ticker = match rec {
        Some(rec) => Some(Ticker::start(rec, info.try_clone()?)),
        None => None,
    };
    let chunk = vec![0x42u8; CHUNK];
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < cfg.duration {
        s.write_all(&chunk).await?;
        sent += CHUNK as u64;
    }
    // close_notify and TCP's half-close end our direction; the report still comes back.
    s.shutdown().await?;
    let mut b = [0u8; TcpReport::LEN];
    tokio::time::timeout(patience, s.read_exact(&mut b))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no report from the sink"))??;
    let rec = ticker.and_then(Ticker::finish);
    let last = info.cc_snapshot();
    Ok(reliable_result(
        cfg.proto,
        sent,
        &TcpReport::decode(&b),
        rec,
        last,
    ))
}

async fn quic_stream(cfg: &StreamConfig, mut rec: Option<Recorder>) -> io::Result<StreamResult> {
    let (_ep, conn) = crate::quic::echo::connect(cfg.addr, &cfg.secure, SessionLog::new(false))
        .await
        .map_err(|e| io::Error::other(format!("{e:#}")))?;
    let (mut send, mut recv) = conn.open_bi().await.map_err(io::Error::other)?;
    send.write_all(TCP_PREAMBLE)
        .await
        .map_err(io::Error::from)?;
    let chunk = Bytes::from(vec![0x42u8; CHUNK]);
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < cfg.duration {
        send.write_chunk(chunk.clone())
            .await
            .map_err(io::Error::from)?;
        sent += CHUNK as u64;
        if let Some(rec) = &mut rec {
            tick(rec, &conn, sent);
        }
    }
    let _ = send.finish();
    let mut b = [0u8; TcpReport::LEN];
    tokio::time::timeout(Duration::from_secs(10), recv.read_exact(&mut b))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no report from the sink"))?
        .map_err(io::Error::other)?;
    let last = conn.cc_snapshot();
    conn.close(0u32.into(), b"done");
    Ok(reliable_result(
        cfg.proto,
        sent,
        &TcpReport::decode(&b),
        rec,
        last,
    ))
}
