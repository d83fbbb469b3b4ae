//! One TCP connection: send the banner, tell a nettool peer (binary preamble) from a
//! text peer, join the room, then read until the peer goes, while a writer task drains
//! the peer's queue. Incomplete input is timed out ([`stall`](super::stall)); once the
//! server shuts down, the writer gets a bounded grace to flush.

use super::stall::{Guarded, TimedOut};
use super::tracker::{ConnGuard, ConnStats};
use super::{writer, TcpConfig};
use crate::transport::{Event, EventTx, Format, PeerId, PeerInfo, PeerSink};
use crate::wire::binary::{FrameCodec, WireError, PREAMBLE};
use crate::wire::outgoing::Form;
use crate::wire::text::{self, LineCodec};
use crate::wire::{ClientMsg, LeaveReason, Outgoing, Proto, ServerMsg};
use bytes::BytesMut;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_util::codec::{Decoder, Encoder, Framed, FramedParts};
use tokio_util::sync::CancellationToken;

/// Malformed binary frames tolerated from one peer before it is dropped.
const MAX_MALFORMED: u32 = 8;
/// What a text peer holding an incomplete line too long is told.
pub const LINE_TIMED_OUT: &str = "timed out: incomplete line";
/// What a nettool peer holding an incomplete frame too long is told.
pub const FRAME_TIMED_OUT: &str = "timed out: incomplete frame";

/// Serve one accepted connection to the end.
pub async fn run(
    mut stream: TcpStream,
    addr: SocketAddr,
    guard: ConnGuard,
    cfg: TcpConfig,
    events: EventTx,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    if let Some(n) = cfg.sndbuf {
        if let Err(e) = socket2::SockRef::from(&stream).set_send_buffer_size(n) {
            tracing::debug!(%addr, error = %e, "cannot set the send buffer size");
        }
    }
    let peer = guard.peer;
    let handshake = Instant::now() + cfg.handshake_timeout;
    // The banner and the early refusals are small lines into an empty socket buffer; the
    // timeout only guards against a peer with a zero window.
    let banner = format!("{}\n", text::banner());
    let banner_sent = timeout(cfg.grace, stream.write_all(banner.as_bytes())).await;
    if !matches!(banner_sent, Ok(Ok(()))) {
        return;
    }
    let mut pre = BytesMut::with_capacity(1024);
    let detected = tokio::select! {
        d = detect(&mut stream, &mut pre, cfg.detect, handshake) => d,
        _ = shutdown.cancelled() => {
            let bye = b"* disconnected: server shutdown\n";
            let _ = timeout(cfg.grace, stream.write_all(bye)).await;
            return;
        }
    };
    let format = match detected {
        Ok(Some(f)) => f,
        Ok(None) => return, // gone before joining
        Err(why) => {
            tracing::info!(%addr, %why, "connection refused before joining");
            let line = format!("! {why}\n");
            let _ = timeout(cfg.grace, stream.write_all(line.as_bytes())).await;
            return;
        }
    };
    guard
        .stats
        .bytes_in
        .fetch_add(pre.len() as u64, Ordering::Relaxed);
    let (rd, wr) = stream.into_split();
    let rd = Counted {
        inner: rd,
        stats: guard.stats.clone(),
    };
    let info = PeerInfo {
        proto: Proto::Tcp,
        addr,
        format,
    };
    let form = match format {
        Format::Binary => Form::Frame,
        Format::Text => Form::Line,
    };
    let limits = writer::QueueLimits {
        messages: cfg.queue,
        bytes: cfg.queue_bytes,
        policy: cfg.slow,
    };
    let (sink, queue) = writer::queue(limits, form);
    let mut writer = tokio::spawn(writer::run(wr, queue, guard.stats.clone()));
    let stats = guard.stats.clone();

    let reason = match format {
        Format::Text => {
            let join = Event::Joined {
                peer,
                info,
                nick: None,
                sink: Box::new(sink),
            };
            if events.send(join).await.is_err() {
                return;
            }
            let lines = framed::<_, _, String>(rd, pre, LineCodec::new(cfg.max_line));
            let lines = Guarded::new(lines, stats, cfg.line_timeout, cfg.handshake_timeout);
            tokio::select! {
                r = read_text(peer, lines, &events) => r,
                _ = &mut writer => None,
                _ = shutdown.cancelled() => None,
            }
        }
        Format::Binary => {
            let frames =
                framed::<_, _, ()>(rd, pre, FrameCodec::<ClientMsg, ()>::new(cfg.max_frame));
            let mut frames = Guarded::new(frames, stats, cfg.line_timeout, cfg.handshake_timeout);
            // A nettool client's first frame is its Hello; anything else is handled as
            // any later frame would be. One that is on its way (partly here) is waited
            // for up to the handshake deadline.
            let mut first = timeout_at(Instant::now() + cfg.detect, frames.next()).await;
            if first.is_err() && frames.holding_partial() {
                first = Ok(frames.next().await);
            }
            let (nick, first) = match first {
                Ok(Some(Err(TimedOut))) => {
                    // Not a member yet: tell it through its own queue, then close.
                    let why = Outgoing::new(ServerMsg::Error(FRAME_TIMED_OUT.into()));
                    let _ = sink.send(&Arc::new(why));
                    drop(sink);
                    if timeout(cfg.grace, &mut writer).await.is_err() {
                        writer.abort();
                    }
                    return;
                }
                Ok(Some(Ok(Ok(Ok(ClientMsg::Hello { nick }))))) => (nick, None),
                Ok(Some(Ok(item))) => (None, Some(item)),
                Ok(None) | Err(_) => (None, None),
            };
            let join = Event::Joined {
                peer,
                info,
                nick,
                sink: Box::new(sink),
            };
            if events.send(join).await.is_err() {
                return;
            }
            tokio::select! {
                r = read_binary(peer, first, frames, &events) => r,
                _ = &mut writer => None,
                _ = shutdown.cancelled() => None,
            }
        }
    };
    // The writer ended (the room closed us), the reader did, or the server is shutting
    // down (the room then says goodbye and closes the queue): tell the room, then give
    // the writer a bounded time to flush what the room queued for this peer. A peer that
    // stopped reading cannot hold the connection, or the shutdown, past that.
    if !shutdown.is_cancelled() {
        let reason = reason.unwrap_or(LeaveReason::Closed);
        let _ = events.send(Event::Left(peer, reason)).await;
    }
    if !writer.is_finished() && timeout(cfg.grace, &mut writer).await.is_err() {
        tracing::info!(%peer, %addr, "writer did not flush in time; closing");
        writer.abort();
    }
    drop(guard);
}

/// Wait for the first bytes: a NUL starts the binary preamble, anything else is text,
/// silence for `window` is a text peer that listens first. A preamble must be complete
/// by `handshake`. `Ok(None)`: closed already.
async fn detect(
    stream: &mut TcpStream,
    pre: &mut BytesMut,
    window: Duration,
    handshake: Instant,
) -> Result<Option<Format>, String> {
    let first = Instant::now() + window;
    loop {
        let deadline = if pre.is_empty() { first } else { handshake };
        let n = match timeout_at(deadline, stream.read_buf(pre)).await {
            Err(_) if pre.is_empty() => return Ok(Some(Format::Text)),
            Err(_) => return Err("timed out: incomplete nettool preamble".into()),
            Ok(Ok(0)) => return Ok(None),
            Ok(Ok(n)) => n,
            Ok(Err(_)) => return Ok(None),
        };
        debug_assert!(n > 0);
        if pre.first() != Some(&0) {
            return Ok(Some(Format::Text));
        }
        let have = pre.len().min(PREAMBLE.len());
        if pre[..have] != PREAMBLE[..have] {
            return Err("unrecognised binary preamble".into());
        }
        if pre.len() >= PREAMBLE.len() {
            let _ = pre.split_to(PREAMBLE.len());
            return Ok(Some(Format::Binary));
        }
    }
}

/// Frame `rd`, starting with the bytes already read during detection. (Built from parts
/// so that those bytes are decoded at once, not only after the next read.)
fn framed<R: AsyncRead, D: Decoder + Encoder<I>, I>(
    rd: R,
    pre: BytesMut,
    codec: D,
) -> Framed<R, D> {
    let mut parts = FramedParts::new::<I>(rd, codec);
    parts.read_buf = pre;
    Framed::from_parts(parts)
}

/// Text peer: parse lines into messages until EOF or an error. Returns why it ended;
/// `None` when the room went away.
async fn read_text<R: AsyncRead + Unpin>(
    peer: PeerId,
    mut lines: Guarded<R, LineCodec>,
    events: &EventTx,
) -> Option<LeaveReason> {
    let mut seq = 0;
    loop {
        let ev = match lines.next().await {
            None => return Some(LeaveReason::Closed),
            Some(Err(TimedOut)) => return timed_out(peer, LINE_TIMED_OUT, events).await,
            Some(Ok(Err(e))) => return Some(io_reason(e)),
            Some(Ok(Ok(Ok(line)))) => match text::parse_line(&line, &mut seq) {
                Ok(Some(msg)) => Event::Message(peer, msg),
                Ok(None) => continue,
                Err(why) => Event::Invalid(peer, why),
            },
            Some(Ok(Ok(Err(e)))) => Event::Invalid(peer, e.refusal()),
        };
        if events.send(ev).await.is_err() {
            return None;
        }
    }
}

type BinaryItem = Result<Result<ClientMsg, WireError>, WireError>;

/// nettool peer: decode frames until EOF; an oversize frame or too many malformed ones
/// end the connection with `BadInput`.
async fn read_binary<R: AsyncRead + Unpin>(
    peer: PeerId,
    mut first: Option<BinaryItem>,
    mut frames: Guarded<R, FrameCodec<ClientMsg, ()>>,
    events: &EventTx,
) -> Option<LeaveReason> {
    let mut malformed = 0;
    loop {
        let item = match first.take() {
            Some(item) => Some(item),
            None => match frames.next().await {
                Some(Err(TimedOut)) => return timed_out(peer, FRAME_TIMED_OUT, events).await,
                Some(Ok(item)) => Some(item),
                None => None,
            },
        };
        let ev = match item {
            None => return Some(LeaveReason::Closed),
            Some(Ok(Ok(msg))) => Event::Message(peer, msg),
            Some(Ok(Err(e))) => {
                malformed += 1;
                if malformed > MAX_MALFORMED {
                    let why = "too many malformed frames".to_string();
                    let _ = events.send(Event::Invalid(peer, why.clone())).await;
                    return Some(LeaveReason::BadInput(why));
                }
                Event::Invalid(peer, e.refusal())
            }
            Some(Err(WireError::Io(e))) => return Some(io_reason(WireError::Io(e))),
            Some(Err(e)) => {
                let why = e.refusal();
                let _ = events.send(Event::Invalid(peer, why.clone())).await;
                return Some(LeaveReason::BadInput(why));
            }
        };
        if events.send(ev).await.is_err() {
            return None;
        }
    }
}

/// Tell a member (through the room) why it is being dropped for holding incomplete input.
async fn timed_out(peer: PeerId, why: &str, events: &EventTx) -> Option<LeaveReason> {
    let _ = events.send(Event::Invalid(peer, why.to_string())).await;
    Some(LeaveReason::TimedOut)
}

fn io_reason(e: WireError) -> LeaveReason {
    match e {
        WireError::Io(e) => match e.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => LeaveReason::Reset,
            _ => LeaveReason::Error(e.to_string()),
        },
        other => LeaveReason::BadInput(other.refusal()),
    }
}

/// A reader that counts the bytes it reads into the connection's stats.
struct Counted<R> {
    inner: R,
    stats: Arc<ConnStats>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Counted<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
        r
    }
}
