//! QUIC endpoints (quinn): the UDP socket under them, their transport parameters, the
//! server's and the client's crypto (from [`crate::cert`]), and connecting with the
//! certificate checked as the client was told, a refusal said in one line.
//!
//! Transport parameters: connections idle longer than the idle timeout are closed
//! (quinn's default is 30 s; clients send keep-alives at a third of it); the receive
//! windows are larger than quinn's defaults so that one stream can fill a fast path
//! (quinn's `perf` tool does the same); DATAGRAM frames are on; the congestion controller
//! is the kind the kernel's TCP uses ([`congestion`]). quinn uses UDP GSO and GRO where
//! the kernel has them (Linux does), so the socket buffers are set to 2 MiB.

use crate::cert::{self, trust::Verifier, Identity, Kx, SessionLog, Trust};
use anyhow::{anyhow, Context, Result};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{Connection, Endpoint, TransportConfig, VarInt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// UDP socket buffers (send and receive) under a QUIC endpoint.
pub const SOCKET_BUFFER: usize = 2 << 20;
/// Bytes a peer may send on one stream before it is read (quinn: 1.25 MB).
pub const STREAM_WINDOW: u32 = 8 << 20;
/// Bytes a peer may send on a connection before it is read.
pub const CONN_WINDOW: u32 = 16 << 20;

/// Default idle timeout (as quinn's).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A UDP socket for an endpoint at `addr` (std, as quinn takes it), with
/// [`SOCKET_BUFFER`]-byte buffers (best effort).
pub fn socket(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let s = std::net::UdpSocket::bind(addr)?;
    let r = socket2::SockRef::from(&s);
    let _ = r.set_send_buffer_size(SOCKET_BUFFER);
    let _ = r.set_recv_buffer_size(SOCKET_BUFFER);
    Ok(s)
}

/// Transport parameters: `idle` timeout, keep-alives every `keepalive` (clients), up
/// to `bidi` streams the peer may open at once and `uni` unidirectional ones.
pub fn transport(
    idle: Duration,
    keepalive: Option<Duration>,
    bidi: u32,
    uni: u32,
) -> TransportConfig {
    let mut t = TransportConfig::default();
    t.max_idle_timeout(
        VarInt::from_u64(idle.as_millis() as u64)
            .ok()
            .map(Into::into),
    );
    t.keep_alive_interval(keepalive);
    t.max_concurrent_bidi_streams(bidi.into());
    t.max_concurrent_uni_streams(uni.into());
    t.stream_receive_window(STREAM_WINDOW.into());
    t.receive_window(CONN_WINDOW.into());
    t.send_window(CONN_WINDOW.into());
    t.datagram_receive_buffer_size(Some(1 << 20));
    t.datagram_send_buffer_size(1 << 20);
    let (_, cc) = congestion();
    t.congestion_controller_factory(cc);
    t
}

/// The congestion controller QUIC uses: the same kind as the kernel's TCP here
/// (`net.ipv4.tcp_congestion_control`), so that TCP and QUIC are compared under the same
/// one — quinn's BBR for `bbr`, NewReno for `reno`, CUBIC otherwise (quinn's default).
/// With CUBIC against the kernel's BBR, a lossy path (2 % loss) held QUIC's chat
/// fan-out at CUBIC's loss-limited rate and its p99 went to 430 ms against TCP's 127.
pub fn congestion() -> (
    &'static str,
    Arc<dyn quinn::congestion::ControllerFactory + Send + Sync>,
) {
    let kernel =
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control").unwrap_or_default();
    match kernel.trim() {
        "bbr" => ("bbr", Arc::new(quinn::congestion::BbrConfig::default())),
        "reno" => (
            "newreno",
            Arc::new(quinn::congestion::NewRenoConfig::default()),
        ),
        _ => ("cubic", Arc::new(quinn::congestion::CubicConfig::default())),
    }
}

/// A server endpoint on `socket` for `identity`, speaking `alpn`, with `transport`;
/// `retry`: validate every client's address with a Retry first.
pub fn server(
    socket: std::net::UdpSocket,
    identity: &Identity,
    kx: Kx,
    alpn: &[u8],
    transport: TransportConfig,
) -> Result<Endpoint> {
    let tls = cert::config::server(identity, kx, &[alpn], true)?;
    let crypto = QuicServerConfig::try_from(tls).context("QUIC crypto")?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    cfg.transport_config(Arc::new(transport));
    let runtime = quinn::default_runtime().ok_or_else(|| anyhow!("no async runtime"))?;
    Ok(Endpoint::new(
        Default::default(),
        Some(cfg),
        socket,
        runtime,
    )?)
}

/// How a client connects.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// How the server's certificate is trusted.
    pub trust: Trust,
    /// The key exchange groups offered.
    pub kx: Kx,
    /// The idle timeout; keep-alives go at a third of it.
    pub idle: Duration,
    /// How long the handshake may take.
    pub connect_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            trust: Trust::default(),
            kx: Kx::default(),
            idle: DEFAULT_IDLE_TIMEOUT,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A client endpoint on any local port of `addr`'s family.
pub fn client_endpoint(addr: SocketAddr) -> Result<Endpoint> {
    let local: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let runtime = quinn::default_runtime().ok_or_else(|| anyhow!("no async runtime"))?;
    Ok(Endpoint::new(
        Default::default(),
        None,
        socket(local)?,
        runtime,
    )?)
}

/// A client's crypto for `addr`: the config to connect with and the check it runs.
pub fn client_config(
    addr: SocketAddr,
    opts: &ClientOptions,
    alpn: &[u8],
    log: Arc<SessionLog>,
) -> Result<(quinn::ClientConfig, Arc<Verifier>)> {
    let verifier = Verifier::new(
        opts.trust.clone(),
        addr.to_string(),
        cert::provider(opts.kx),
    );
    let tls = cert::config::client(verifier.clone(), opts.kx, &[alpn], log)?;
    let crypto = QuicClientConfig::try_from(tls).context("QUIC crypto")?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    // Up to 1024 server-opened streams (chat: one per sender) at once.
    let keepalive = (opts.idle / 3).max(Duration::from_millis(100));
    cfg.transport_config(Arc::new(transport(opts.idle, Some(keepalive), 16, 1024)));
    Ok((cfg, verifier))
}

/// Connect `endpoint` to `addr` with `cfg`, within the options' timeout. A refused
/// certificate, a wrong ALPN or no answer is an error in one line.
pub async fn connect(
    endpoint: &Endpoint,
    addr: SocketAddr,
    cfg: quinn::ClientConfig,
    verifier: &Verifier,
    timeout: Duration,
) -> Result<Connection> {
    let name = cert::server_name(&addr.to_string());
    let name = match &name {
        rustls_pki_types::ServerName::DnsName(d) => d.as_ref().to_string(),
        _ => "localhost".to_string(),
    };
    let connecting = endpoint
        .connect_with(cfg, addr, &name)
        .map_err(|e| anyhow!("cannot connect to quic {addr}: {e}"))?;
    let conn = match tokio::time::timeout(timeout, connecting).await {
        Err(_) => {
            return Err(anyhow!(
                "quic {addr}: no answer within {timeout:?} (is a QUIC server there?)"
            ))
        }
        Ok(Err(e)) => return Err(refused(addr, verifier, &e)),
        Ok(Ok(c)) => c,
    };
    if let Some(note) = verifier.settle() {
        cert::note(&note);
    }
    Ok(conn)
}

/// A failed handshake in one line: the certificate's refusal if that was it.
pub fn refused(addr: SocketAddr, verifier: &Verifier, e: &quinn::ConnectionError) -> anyhow::Error {
    if let Some(why) = verifier.refusal() {
        return anyhow!("{why}");
    }
    match e {
        quinn::ConnectionError::TransportError(t) if t.reason.contains("application protocol") => {
            anyhow!("quic {addr} does not speak this service (ALPN refused: {t})")
        }
        quinn::ConnectionError::ConnectionClosed(c) if format!("{c}").contains("120") => {
            anyhow!("quic {addr} does not speak this service (ALPN refused)")
        }
        e => anyhow!("cannot connect to quic {addr}: {e}"),
    }
}
