//! One TCP connection: send the banner, tell a nettool peer (binary preamble) from a
//! text peer, join the room, then read until the peer goes, while a writer task drains
//! the peer's queue.

use super::tracker::{ConnGuard, ConnStats};
use super::{writer, TcpConfig};
use crate::transport::{Event, EventTx, Format, PeerId, PeerInfo};
use crate::wire::binary::{FrameCodec, WireError, PREAMBLE};
use crate::wire::outgoing::Form;
use crate::wire::text::{self, LineCodec};
use crate::wire::{ClientMsg, LeaveReason, Proto};
use bytes::BytesMut;
use futures::StreamExt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_util::codec::{Decoder, Encoder, Framed, FramedParts};
use tokio_util::sync::CancellationToken;

/// Malformed binary frames tolerated from one peer before it is dropped.
const MAX_MALFORMED: u32 = 8;
/// How long a closing connection's writer may take to flush.
const FLUSH_GRACE: Duration = Duration::from_secs(5);

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
    let peer = guard.peer;
    let banner = format!("{}\n", text::banner());
    if stream.write_all(banner.as_bytes()).await.is_err() {
        return;
    }
    let mut pre = BytesMut::with_capacity(1024);
    let detected = tokio::select! {
        d = detect(&mut stream, &mut pre, cfg.detect) => d,
        _ = shutdown.cancelled() => {
            let _ = stream.write_all(b"* disconnected: server shutdown\n").await;
            return;
        }
    };
    let format = match detected {
        Ok(Some(f)) => f,
        Ok(None) => return, // gone before joining
        Err(why) => {
            let _ = stream.write_all(format!("! {why}\n").as_bytes()).await;
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
    let (sink, queue) = writer::queue(cfg.queue);
    let form = match format {
        Format::Binary => Form::Frame,
        Format::Text => Form::Line,
    };
    let mut writer = tokio::spawn(writer::run(wr, queue, form, guard.stats.clone()));

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
            tokio::select! {
                r = read_text(peer, lines, &events) => r,
                _ = &mut writer => None,
            }
        }
        Format::Binary => {
            let mut frames =
                framed::<_, _, ()>(rd, pre, FrameCodec::<ClientMsg, ()>::new(cfg.max_frame));
            // A nettool client's first frame is its Hello; anything else is handled as
            // any later frame would be.
            let first = timeout_at(Instant::now() + cfg.detect, frames.next()).await;
            let (nick, first) = match first {
                Ok(Some(Ok(Ok(ClientMsg::Hello { nick })))) => (nick, None),
                Ok(other) => (None, other),
                Err(_) => (None, None),
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
            }
        }
    };
    // The writer ended (the room closed us) or the reader did: tell the room, then give
    // the writer a bounded time to flush what the room queued for this peer.
    let reason = reason.unwrap_or(LeaveReason::Closed);
    let _ = events.send(Event::Left(peer, reason)).await;
    if !writer.is_finished()
        && tokio::time::timeout(FLUSH_GRACE, &mut writer)
            .await
            .is_err()
    {
        writer.abort();
    }
    drop(guard);
}

/// Wait for the first bytes: a NUL starts the binary preamble, anything else is text,
/// silence for `window` is a text peer that listens first. `Ok(None)`: closed already.
async fn detect(
    stream: &mut TcpStream,
    pre: &mut BytesMut,
    window: Duration,
) -> Result<Option<Format>, String> {
    let deadline = Instant::now() + window;
    loop {
        let n = match timeout_at(deadline, stream.read_buf(pre)).await {
            Err(_) if pre.is_empty() => return Ok(Some(Format::Text)),
            Err(_) => return Err("incomplete nettool preamble".into()),
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
    mut lines: Framed<R, LineCodec>,
    events: &EventTx,
) -> Option<LeaveReason> {
    let mut seq = 0;
    loop {
        let ev = match lines.next().await {
            None => return Some(LeaveReason::Closed),
            Some(Err(e)) => return Some(io_reason(e)),
            Some(Ok(Ok(line))) => match text::parse_line(&line, &mut seq) {
                Ok(Some(msg)) => Event::Message(peer, msg),
                Ok(None) => continue,
                Err(why) => Event::Invalid(peer, why),
            },
            Some(Ok(Err(e))) => Event::Invalid(peer, e.refusal()),
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
    mut frames: Framed<R, FrameCodec<ClientMsg, ()>>,
    events: &EventTx,
) -> Option<LeaveReason> {
    let mut malformed = 0;
    loop {
        let item = match first.take() {
            Some(item) => Some(item),
            None => frames.next().await,
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
