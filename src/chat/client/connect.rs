//! Connecting a chat client. Both protocols give the same thing, a [`Conn`]: a stream of
//! what the server says and a sink of [`ClientMsg`]s. TCP: a framed stream after the
//! banner/preamble handshake. UDP: a connected socket after the `Hello`/`Welcome`
//! exchange (retried, since datagrams get lost), with the address-validation round
//! trip in between (`Hello` → `Retry` token → `Hello` with the token, see
//! [`crate::udp`]). Either falls back to text lines when no
//! nettool server answers (the lesson's Node.js server, `ncat --chat`).

use super::ClientConfig;
use crate::addr::failed;
use crate::wire::binary::{self, FrameCodec, WireError, PREAMBLE};
use crate::wire::text::{LineCodec, BANNER_MARK};
use crate::wire::{ClientMsg, Handshake, Proto, ServerMsg};
use anyhow::{bail, Context, Result};
use futures_util::stream::{self, BoxStream};
use futures_util::{Sink, SinkExt, StreamExt};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;
use tokio_util::codec::{Framed, FramedParts};

/// Something the server said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A nettool server's message.
    Msg(ServerMsg),
    /// A line from a server that is not nettool (text mode).
    Line(String),
}

/// Whether the server speaks nettool's binary protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A nettool server: typed binary messages.
    Binary,
    /// Something else (netcat, a text-only server): plain lines.
    Text,
}

/// The sending half of a [`Conn`].
pub(crate) type MsgSink = Pin<Box<dyn Sink<ClientMsg, Error = WireError> + Send>>;

/// A connected chat session.
pub struct Conn {
    /// The protocol connected over.
    pub proto: Proto,
    /// Whether the server turned out to speak binary or text.
    pub mode: Mode,
    /// What the server sends, decoded; ends when the connection does.
    pub rx: BoxStream<'static, Result<Incoming, WireError>>,
    /// Where to send messages to the server.
    pub tx: MsgSink,
}

/// Connect over `cfg.proto`.
pub async fn connect(cfg: &ClientConfig) -> Result<Conn> {
    match cfg.proto {
        Proto::Tcp | Proto::Tls => connect_tcp(cfg).await,
        Proto::Udp => connect_udp(cfg).await,
        Proto::Quic => connect_quic(cfg).await,
    }
}

/// A stream that is plain TCP or TLS.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}
type Stream = Box<dyn Io>;

async fn connect_quic(cfg: &ClientConfig) -> Result<Conn> {
    let opts = crate::quic::endpoint::ClientOptions {
        trust: cfg.trust.clone(),
        kx: cfg.kx,
        connect_timeout: cfg.detect * 5,
        ..Default::default()
    };
    let link = crate::quic::client::connect(
        cfg.addr,
        &opts,
        cfg.nick.clone(),
        cfg.datagrams,
        cfg.max_frame,
    )
    .await?;
    Ok(Conn {
        proto: Proto::Quic,
        mode: Mode::Binary,
        rx: link.rx.map(|r| r.map(Incoming::Msg)).boxed(),
        tx: link.tx,
    })
}

async fn connect_tcp(cfg: &ClientConfig) -> Result<Conn> {
    let addr = cfg.addr;
    let failed = |e: std::io::Error| failed(format_args!("cannot connect to tcp {addr}"), e);
    let stream = timeout(cfg.detect * 5, TcpStream::connect(addr))
        .await
        .map_err(|_| failed(std::io::ErrorKind::TimedOut.into()))?
        .map_err(failed)?;
    let _ = stream.set_nodelay(true);
    let stream: Stream = match cfg.proto {
        Proto::Tls => {
            let log = crate::cert::SessionLog::new(true);
            let host = addr.to_string();
            Box::new(
                crate::tcp::tls::connect(
                    stream,
                    &host,
                    &cfg.trust,
                    cfg.kx,
                    crate::wire::ALPN_CHAT,
                    log,
                )
                .await?,
            )
        }
        _ => Box::new(stream),
    };
    let mut lines = Framed::new(stream, LineCodec::new(cfg.max_line));
    let first = match timeout(cfg.detect * BANNER_WAITS, lines.next()).await {
        Err(_) => None, // a server that waits for us to speak: not nettool
        Ok(None) => bail!("{} closed the connection", cfg.addr),
        Ok(Some(Err(e))) => return Err(e).context("reading the server's first line"),
        Ok(Some(Ok(Ok(line)))) if line.contains(BANNER_MARK) => {
            return upgrade(lines, cfg).await;
        }
        Ok(Some(Ok(Ok(line)))) => Some(line),
        Ok(Some(Ok(Err(e)))) => Some(format!("! {}", e.refusal())),
    };
    let (tx, rx) = lines.split();
    let rx = stream::iter(first.map(|l| Ok(Incoming::Line(l))))
        .chain(rx.filter_map(|r| async move { text_incoming(r) }));
    Ok(Conn {
        proto: cfg.proto,
        mode: Mode::Text,
        rx: rx.boxed(),
        tx: Box::pin(tx.with_flat_map(|m| stream::iter(text_of(m).map(Ok)))),
    })
}

/// Answer the banner with the preamble and `Hello`, and switch to binary frames.
async fn upgrade(lines: Framed<Stream, LineCodec>, cfg: &ClientConfig) -> Result<Conn> {
    let parts = lines.into_parts();
    let mut io = parts.io;
    io.write_all(PREAMBLE).await?;
    let mut next = FramedParts::new::<ClientMsg>(io, FrameCodec::new(cfg.max_frame));
    next.read_buf = parts.read_buf;
    let mut framed: Framed<Stream, FrameCodec<ServerMsg, ClientMsg>> = Framed::from_parts(next);
    framed
        .send(ClientMsg::Hello {
            nick: cfg.nick.clone(),
        })
        .await?;
    let (tx, rx) = framed.split();
    // A nettool server's frames start with a length below 16 MiB, so with a NUL byte: a
    // first "frame" too large to be one is a text line, the server having taken us for
    // a text peer (our preamble came after its detect window).
    let mut first = true;
    let rx = rx.map(move |r| {
        let was_first = std::mem::replace(&mut first, false);
        match r {
            Err(WireError::TooLarge { .. }) if was_first => {
                Err(WireError::Io(std::io::Error::other(
                    "the server took this client for a text peer (our preamble came after \
                     its detect window: a slow path, or a stalled host); connect again, or \
                     raise the server's --detect",
                )))
            }
            r => r,
        }
    });
    let rx = rx.filter_map(|r| async move {
        match r {
            Ok(Ok(m)) => Some(Ok(Incoming::Msg(m))),
            Ok(Err(e)) => {
                tracing::warn!("ignoring a malformed frame from the server: {e}");
                None
            }
            Err(e) => Some(Err(e)),
        }
    });
    Ok(Conn {
        proto: cfg.proto,
        mode: Mode::Binary,
        rx: rx.boxed(),
        tx: Box::pin(tx),
    })
}

async fn connect_udp(cfg: &ClientConfig) -> Result<Conn> {
    let sock = Arc::new(crate::udp::socket::connect(cfg.addr).await.map_err(|e| {
        failed(
            format_args!("cannot open a socket towards udp {}", cfg.addr),
            e,
        )
    })?);
    let refused = |e: std::io::Error| {
        crate::addr::failed_udp(format_args!("cannot join udp {}", cfg.addr), e)
    };
    let hello = binary::encode_datagram(&ClientMsg::Hello {
        nick: cfg.nick.clone(),
    })?;
    // A nettool server answers a Hello from an address it does not know with a Retry
    // token; the Hello is then repeated carrying it (see `crate::udp`).
    let mut token = None;
    let mut retries = 0;
    let mut buf = vec![0u8; 65_536];
    let mut wait = cfg.detect / 4;
    let mut tries = 0;
    while tries < cfg.hello_tries {
        let out = match token {
            None => hello.clone(),
            Some(token) => binary::encode_handshake(&Handshake::Hello {
                token,
                nick: cfg.nick.clone(),
            })?,
        };
        sock.send(&out).await.map_err(refused)?;
        match timeout(wait, sock.recv(&mut buf)).await {
            Err(_) => {
                wait *= 2;
                tries += 1;
            }
            Ok(Err(e)) => return Err(refused(e).into()),
            Ok(Ok(n)) => {
                if buf[..n].starts_with(&binary::HANDSHAKE_TAG) {
                    match binary::decode_handshake(&buf[..n]) {
                        Some(Handshake::Retry { token: t }) if retries < MAX_RETRIES => {
                            retries += 1;
                            token = Some(t);
                        }
                        Some(Handshake::Retry { .. }) => {
                            bail!("{} keeps refusing our address token", cfg.addr)
                        }
                        _ => {}
                    }
                    continue;
                }
                let first = datagram_incoming(&buf[..n]);
                let mode = match first.first() {
                    Some(Ok(Incoming::Msg(_))) => Mode::Binary,
                    _ => Mode::Text,
                };
                return Ok(udp_conn(sock, mode, first, cfg.max_datagram));
            }
        }
    }
    tracing::warn!(
        "no nettool server answered at {} over UDP; sending text lines",
        cfg.addr
    );
    Ok(udp_conn(sock, Mode::Text, Vec::new(), cfg.max_datagram))
}

/// `Retry`s accepted while joining over UDP (one is normal; a second follows when the
/// token expired in flight).
const MAX_RETRIES: u32 = 3;

fn udp_conn(
    sock: Arc<UdpSocket>,
    mode: Mode,
    first: Vec<Result<Incoming, WireError>>,
    max_datagram: usize,
) -> Conn {
    let recv = stream::unfold(
        (sock.clone(), vec![0u8; 65_536]),
        |(sock, mut buf)| async move {
            let items = match sock.recv(&mut buf).await {
                Ok(n) => datagram_incoming(&buf[..n]),
                Err(e) => queued_then(&sock, &mut buf, e),
            };
            Some((stream::iter(items), (sock, buf)))
        },
    )
    .flatten();
    let rx = stream::iter(first).chain(recv);
    let tx = futures_util::sink::unfold(sock, move |sock, msg: ClientMsg| async move {
        let bytes = match mode {
            Mode::Binary => binary::encode_datagram(&msg)?,
            Mode::Text => match text_of(msg) {
                Some(line) => format!("{line}\n").into(),
                None => return Ok(sock),
            },
        };
        if bytes.len() > max_datagram {
            return Err(WireError::TooLarge { max: max_datagram });
        }
        sock.send(&bytes).await?;
        Ok::<_, WireError>(sock)
    });
    Conn {
        proto: Proto::Udp,
        mode,
        rx: rx.boxed(),
        tx: Box::pin(tx),
    }
}

/// A receive error, after whatever datagrams were already queued. Linux reports an ICMP
/// error (port unreachable, once the server is gone) ahead of datagrams that arrived
/// before it, so a server's goodbye can sit behind the error that its exit caused (a
/// keepalive sent just after it quit): read those first, and the session ends as the
/// server said (`server shutdown`) rather than as a lost server.
fn queued_then(
    sock: &UdpSocket,
    buf: &mut [u8],
    e: std::io::Error,
) -> Vec<Result<Incoming, WireError>> {
    let mut items = Vec::new();
    // Bounded: a socket's receive buffer holds a bounded number of datagrams, and a
    // server that is gone sends no more.
    for _ in 0..1024 {
        match sock.try_recv(buf) {
            Ok(n) => items.extend(datagram_incoming(&buf[..n])),
            Err(_) => break,
        }
    }
    items.push(Err(WireError::Io(e)));
    items
}

/// A datagram as messages: the binary messages packed in it, or its text lines.
fn datagram_incoming(data: &[u8]) -> Vec<Result<Incoming, WireError>> {
    if data.starts_with(&binary::HANDSHAKE_TAG) {
        Vec::new() // a late or duplicated Retry: the join is done
    } else if binary::is_binary_datagram(data) {
        binary::decode_datagram_batch::<ServerMsg>(data)
            .into_iter()
            .filter_map(|m| match m {
                Ok(m) => Some(Ok(Incoming::Msg(m))),
                Err(e) => {
                    tracing::warn!("ignoring a malformed datagram from the server: {e}");
                    None
                }
            })
            .collect()
    } else {
        String::from_utf8_lossy(data)
            .lines()
            .map(|l| Ok(Incoming::Line(l.to_string())))
            .collect()
    }
}

fn text_incoming(
    r: Result<Result<String, WireError>, WireError>,
) -> Option<Result<Incoming, WireError>> {
    match r {
        Ok(Ok(line)) => Some(Ok(Incoming::Line(line))),
        Ok(Err(e)) => {
            tracing::warn!("ignoring a line from the server: {}", e.refusal());
            None
        }
        Err(e) => Some(Err(e)),
    }
}

/// What a text-mode connection sends for `msg` (the server's own commands where a
/// nettool server would understand them).
fn text_of(msg: ClientMsg) -> Option<String> {
    match msg {
        ClientMsg::Say { text, .. } => Some(text),
        ClientMsg::Nick(n) => Some(format!("/nick {n}")),
        ClientMsg::Who => Some("/who".into()),
        ClientMsg::WhoPage(n) => Some(format!("/who {n}")),
        ClientMsg::Hello { .. } | ClientMsg::Ping { .. } | ClientMsg::Bye => None,
    }
}

/// How long the client waits for a nettool server to show itself by default (over UDP,
/// a quarter of it for the first `Hello`, doubling; over TCP, [`BANNER_WAITS`] times it
/// for the banner).
pub(crate) const DEFAULT_DETECT: Duration = Duration::from_secs(1);

/// The TCP banner is waited for this many times `detect` (3 s by default) before the
/// client takes the server for a plain line server. When the last ACK of the handshake
/// is lost, the client is connected but the server is not: it accepts only when its
/// SYN-ACK, retransmitted after the kernel's initial 1 s timeout, is answered, and its
/// banner comes more than a second after `connect` returned. A one-second wait then
/// made a nettool client a text peer across a lossy link (the link lab's chat demo
/// at `loss=5% delay=50ms`, 2026-12-07).
pub(crate) const BANNER_WAITS: u32 = 3;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::LeaveReason;

    /// The kernel reports the port-unreachable error first; the goodbye queued before it
    /// must still come out first.
    #[tokio::test]
    async fn a_goodbye_queued_before_port_unreachable_is_read_before_the_error() {
        let server = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        sock.connect(server.local_addr().expect("addr"))
            .await
            .expect("connect");
        let sock = Arc::new(sock);
        let bye = ServerMsg::Bye {
            reason: LeaveReason::Shutdown,
        };
        let dgram = binary::encode_datagram(&bye).expect("encode");
        server
            .send_to(&dgram, sock.local_addr().expect("addr"))
            .await
            .expect("send");
        drop(server);
        // The goodbye is queued; a keepalive to the closed port brings the ICMP error.
        let mut conn = udp_conn(sock.clone(), Mode::Binary, Vec::new(), 1200);
        sock.send(b"ping").await.expect("send");
        // On loopback the ICMP error is delivered inside that send call: it is pending
        // now, ahead of the queued goodbye (without the fix the error comes out first).
        let first = timeout(Duration::from_secs(5), conn.rx.next())
            .await
            .expect("an item")
            .expect("stream open");
        assert_eq!(first.expect("the goodbye"), Incoming::Msg(bye));
        let second = timeout(Duration::from_secs(5), conn.rx.next())
            .await
            .expect("an item")
            .expect("stream open");
        assert!(
            matches!(&second, Err(WireError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused),
            "{second:?}"
        );
    }
}
