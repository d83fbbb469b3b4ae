//! TLS on TCP (tokio-rustls), with the certificate and verification of [`crate::cert`]:
//! a connection's [`Io`], plain or TLS, split into the halves the chat connection's
//! reader and writer own. A TLS stream cannot be split into independent halves (a read
//! may have to write, and the other way round), so both halves share it behind a short
//! lock, as `tokio::io::split` does, but keep a way to the socket underneath, for the
//! reset that ends a connection whose peer keeps its side open.
//!
//! A TLS peer is served exactly as a plain one once the handshake is done: the banner,
//! a nettool client's binary preamble or a text peer's lines (`openssl s_client`,
//! `socat OPENSSL:`), the same limits.

use crate::cert::{self, Kx, SessionLog, Trust};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A server-side TLS stream.
pub type ServerStream = tokio_rustls::server::TlsStream<TcpStream>;
/// A client-side TLS stream.
pub type ClientStream = tokio_rustls::client::TlsStream<TcpStream>;

/// An acceptor for the server's certificate (TLS 1.2 and 1.3, the chat and echo ALPN
/// names offered, none required).
pub fn acceptor(identity: &cert::Identity, kx: Kx) -> anyhow::Result<TlsAcceptor> {
    let alpn = [crate::wire::ALPN_CHAT, crate::wire::ALPN_ECHO];
    let cfg = cert::config::server(identity, kx, &alpn, false)?;
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// A TLS client connection over `stream` to `host` (the address as given, the key in
/// the known-hosts file), trusting its certificate as `trust` says. A refused
/// certificate is an error in one line that says why; a note (a new server recorded,
/// `--insecure`) is logged.
pub async fn connect(
    stream: TcpStream,
    host: &str,
    trust: &Trust,
    kx: Kx,
    alpn: &[u8],
    log: Arc<SessionLog>,
) -> io::Result<ClientStream> {
    let verifier = cert::trust::Verifier::new(trust.clone(), host.to_string(), cert::provider(kx));
    let cfg = cert::config::client(verifier.clone(), kx, &[alpn], log).map_err(io::Error::other)?;
    cert::warn_if_insecure(trust);
    let name = cert::server_name(host);
    match TlsConnector::from(Arc::new(cfg))
        .connect(name, stream)
        .await
    {
        Ok(s) => {
            if let Some(note) = verifier.settle() {
                cert::note(&note);
            }
            Ok(s)
        }
        Err(e) => Err(match verifier.refusal() {
            Some(why) => io::Error::new(io::ErrorKind::PermissionDenied, why),
            None => io::Error::new(e.kind(), format!("TLS handshake with {host} failed: {e}")),
        }),
    }
}

/// A chat connection's stream: plain TCP or TLS.
pub(crate) enum Io {
    Plain(TcpStream),
    Tls(Box<ServerStream>),
}

impl Io {
    /// The reading and writing halves.
    pub(crate) fn into_split(self) -> (ReadSide, WriteSide) {
        match self {
            Io::Plain(s) => {
                let (r, w) = s.into_split();
                (ReadSide::Plain(r), WriteSide::Plain(w))
            }
            Io::Tls(s) => {
                let shared = Arc::new(Mutex::new(*s));
                (
                    ReadSide::Tls(Half(shared.clone())),
                    WriteSide::Tls(Half(shared)),
                )
            }
        }
    }
}

/// One half of a TLS stream shared by the reader and the writer.
pub(crate) struct Half(Arc<Mutex<ServerStream>>);

impl Half {
    fn lock(&self) -> MutexGuard<'_, ServerStream> {
        // Nothing panics while holding it; if something did, the stream is still whole.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The reading half of a chat connection.
pub(crate) enum ReadSide {
    Plain(OwnedReadHalf),
    Tls(Half),
}

impl ReadSide {
    /// Make the close that follows a reset (`SO_LINGER` 0).
    pub(crate) fn reset_on_close(&self) {
        match self {
            ReadSide::Plain(r) => super::socket::reset_on_close(r.as_ref()),
            ReadSide::Tls(h) => super::socket::reset_on_close(h.lock().get_ref().0),
        }
    }
}

/// The writing half of a chat connection.
pub(crate) enum WriteSide {
    Plain(OwnedWriteHalf),
    Tls(Half),
}

/// Poll `method` on whichever stream a side holds.
macro_rules! with {
    ($self:ident, $method:ident($($arg:expr),*)) => {
        match $self.get_mut() {
            Side::Plain(s) => Pin::new(s).$method($($arg),*),
            Side::Tls(h) => Pin::new(&mut *h.lock()).$method($($arg),*),
        }
    };
}

impl AsyncRead for ReadSide {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        use ReadSide as Side;
        with!(self, poll_read(cx, buf))
    }
}

impl AsyncWrite for WriteSide {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        use WriteSide as Side;
        with!(self, poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        use WriteSide as Side;
        with!(self, poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        use WriteSide as Side;
        with!(self, poll_shutdown(cx))
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A TLS listener's acceptor (for [`super::TcpConfig::tls`]).
#[derive(Clone)]
pub struct TlsServer(pub TlsAcceptor);

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsServer")
    }
}

/// A blocking TLS client stream (the echo pinger and the bench run on threads of
/// their own with blocking sockets).
pub type BlockingStream = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

/// The blocking counterpart of [`connect`]: handshake on `sock` to `host`, within the
/// socket's timeouts. Returns the stream and what was negotiated.
pub fn connect_blocking(
    sock: std::net::TcpStream,
    host: &str,
    trust: &Trust,
    kx: Kx,
    alpn: &[u8],
    log: Arc<SessionLog>,
) -> io::Result<(BlockingStream, cert::Negotiated)> {
    let (cfg, verifier) = client_config(host, trust, kx, alpn, log)?;
    connect_blocking_with(sock, host, cfg, &verifier)
}

/// A client config for `host` and the check it runs (made once for many connections).
pub fn client_config(
    host: &str,
    trust: &Trust,
    kx: Kx,
    alpn: &[u8],
    log: Arc<SessionLog>,
) -> io::Result<(Arc<rustls::ClientConfig>, Arc<cert::trust::Verifier>)> {
    let verifier = cert::trust::Verifier::new(trust.clone(), host.to_string(), cert::provider(kx));
    let cfg = cert::config::client(verifier.clone(), kx, &[alpn], log).map_err(io::Error::other)?;
    Ok((Arc::new(cfg), verifier))
}

/// [`connect_blocking`] with a config made by [`client_config`].
pub fn connect_blocking_with(
    sock: std::net::TcpStream,
    host: &str,
    cfg: Arc<rustls::ClientConfig>,
    verifier: &cert::trust::Verifier,
) -> io::Result<(BlockingStream, cert::Negotiated)> {
    let conn =
        rustls::ClientConnection::new(cfg, cert::server_name(host)).map_err(io::Error::other)?;
    let mut s = rustls::StreamOwned::new(conn, sock);
    while s.conn.is_handshaking() {
        if let Err(e) = s.conn.complete_io(&mut s.sock) {
            return Err(match verifier.refusal() {
                Some(why) => io::Error::new(io::ErrorKind::PermissionDenied, why),
                None => io::Error::new(e.kind(), format!("TLS handshake with {host} failed: {e}")),
            });
        }
    }
    if let Some(note) = verifier.settle() {
        cert::note(&note);
    }
    let negotiated = cert::Negotiated::of(&s.conn);
    Ok((s, negotiated))
}
