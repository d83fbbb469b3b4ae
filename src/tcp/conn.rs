//! One TCP connection from accept to close: send the banner, tell a nettool peer
//! (binary preamble) from a text peer, join the room, then one loop over the peer's
//! [`Input`]s while a writer task drains the peer's queue. Runs inside the
//! connection's tracing span (peer id and address), so events here do not repeat them.
//!
//! How it ends: the peer closes (or breaks) its side; or the room closes ours (`/quit`,
//! a full room, a slow reader), and then the peer gets the goodbye, a FIN, and
//! [`TcpConfig::close_linger`] (1 s) to close its side before the connection is reset,
//! so that netcat, which keeps its side open after a FIN, exits too; or the server shuts
//! down, and the writer gets a bounded grace to flush.

use super::reader::{Input, Opening, PeerCodec, Reader};
use super::tls::Io;
use super::tracker::ConnGuard;
use super::{socket, writer, TcpConfig};
use crate::transport::{Event, EventTx, Format, PeerId, PeerInfo, PeerSink};
use crate::wire::binary::PREAMBLE;
use crate::wire::outgoing::Form;
use crate::wire::text;
use crate::wire::{LeaveReason, Outgoing, Proto, Refusal, ServerMsg};
use bytes::BytesMut;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_util::sync::CancellationToken;

/// How long a peer whose connection the server ends has to close its own side (the
/// default [`TcpConfig::close_linger`]).
pub(super) const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// How the serving part of a connection ended.
enum End {
    /// The peer's input ended, for this reason (`None`: the room is gone).
    Input(Option<LeaveReason>),
    /// The writer ended: the room closed the connection (or writing failed).
    Writer(bool),
    /// The server is shutting down.
    Shutdown,
}

/// Serve one accepted connection to the end.
pub(super) async fn run(
    stream: TcpStream,
    addr: SocketAddr,
    guard: ConnGuard,
    cfg: TcpConfig,
    events: EventTx,
    shutdown: CancellationToken,
) {
    socket::tune(&stream, cfg.sndbuf);
    let started = Instant::now();
    let peer = guard.peer;
    let handshake = started + cfg.handshake_timeout;
    // TLS first, if it is a TLS listener: the handshake counts against the same deadline.
    let mut stream = match &cfg.tls {
        None => Io::Plain(stream),
        Some(tls) => {
            let accepted = tokio::select! {
                a = timeout_at(handshake, tls.0.accept(stream)) => a,
                _ = shutdown.cancelled() => return,
            };
            match accepted {
                Ok(Ok(s)) => Io::Tls(Box::new(s)),
                Ok(Err(e)) => {
                    tracing::info!(error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::info!("TLS handshake timed out");
                    return;
                }
            }
        }
    };
    // The banner and the early refusals are small lines into an empty socket buffer; the
    // timeout only guards against a peer with a zero window.
    let banner = text::banner() + "\n";
    let sent = async {
        stream.write_all(banner.as_bytes()).await?;
        stream.flush().await
    };
    if !matches!(timeout(cfg.grace, sent).await, Ok(Ok(()))) {
        return;
    }
    let mut pre = BytesMut::with_capacity(1024);
    let detected = tokio::select! {
        d = detect(&mut stream, &mut pre, cfg.detect, handshake) => d,
        _ = shutdown.cancelled() => {
            let bye = ServerMsg::Bye { reason: LeaveReason::Shutdown };
            say_early(&mut stream, bye, cfg.grace).await;
            return;
        }
    };
    let format = match detected {
        Ok(Some(f)) => f,
        Ok(None) => return, // gone before joining
        Err(why) => {
            tracing::info!(%why, "refused before joining");
            say_early(&mut stream, ServerMsg::Refused(why), cfg.grace).await;
            return;
        }
    };
    let stats = guard.stats.clone();
    // What detection read counts as input too (a talker is never evicted as idle).
    stats
        .bytes_in
        .fetch_add(pre.len() as u64, Ordering::Relaxed);
    let (rd, wr) = stream.into_split();
    let codec = PeerCodec::new(format, cfg.max_line, cfg.max_frame);
    let mut reader = Reader::new(
        rd,
        // What detection read, in a buffer of its own size (none for a silent peer):
        // the reader holds it for the connection's life.
        BytesMut::from(&pre[..]),
        format,
        codec,
        stats.clone(),
        cfg.line_timeout,
        cfg.handshake_timeout,
    );
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
    let mut writer = tokio::spawn(writer::run(wr, queue, stats.clone(), cfg.coalesce));

    let (nick, first) = match reader.opening(cfg.detect).await {
        Opening::Join { nick, first } => (nick, first),
        Opening::TimedOut(why) => {
            // Not a member yet: tell it through its own queue, then close.
            let _ = sink.send(&Arc::new(Outgoing::new(ServerMsg::Error(why.into()))));
            drop(sink);
            if timeout(cfg.grace, &mut writer).await.is_err() {
                writer.abort();
            }
            return;
        }
    };
    let info = PeerInfo {
        proto: if cfg.tls.is_some() {
            Proto::Tls
        } else {
            Proto::Tcp
        },
        addr,
        format,
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
    let end = tokio::select! {
        r = read_loop(peer, first, &mut reader, &events) => End::Input(r),
        w = &mut writer => End::Writer(matches!(w, Ok(Ok(())))),
        _ = shutdown.cancelled() => End::Shutdown,
    };
    // Tell the room (unless it is shutting down: it then says goodbye and closes every
    // queue), then give the writer a bounded time to flush what the room queued for this
    // peer. A peer that stopped reading cannot hold the connection, or the shutdown,
    // past that.
    if !shutdown.is_cancelled() {
        let reason = match &end {
            End::Input(Some(reason)) => reason.clone(),
            _ => LeaveReason::Closed,
        };
        let _ = events.send(Event::Left(peer, reason)).await;
    }
    // An idle connection evicted at the cap is closed at once: its slot is wanted now.
    if matches!(end, End::Writer(true)) && !stats.evict.is_cancelled() {
        linger(&mut reader, cfg.close_linger).await;
    }
    if !writer.is_finished() && timeout(cfg.grace, &mut writer).await.is_err() {
        tracing::info!("writer did not flush in time; closing");
        writer.abort();
    }
    tracing::debug!(
        secs = started.elapsed().as_secs_f64(),
        bytes_in = stats.bytes_in.load(Ordering::Relaxed),
        bytes_out = stats.bytes_out.load(Ordering::Relaxed),
        "connection closed"
    );
}

/// Pass the peer's input to the room until it ends. Returns why it ended; `None` when
/// the room went away.
async fn read_loop(
    peer: PeerId,
    mut first: Option<Input>,
    reader: &mut Reader,
    events: &EventTx,
) -> Option<LeaveReason> {
    loop {
        let input = match first.take() {
            Some(input) => input,
            None => reader.next().await,
        };
        let ev = match input {
            Input::Message(msg) => Event::Message(peer, msg),
            Input::Refused(why) => Event::Invalid(peer, why),
            Input::TimedOut(why) => {
                // Tell the member (through the room) why it is being dropped.
                let _ = events.send(Event::Invalid(peer, why.to_string())).await;
                return Some(LeaveReason::TimedOut);
            }
            Input::Closed(reason) => return Some(reason),
        };
        if events.send(ev).await.is_err() {
            return None;
        }
    }
}

/// The server has said goodbye and sent its FIN: wait (bounded) for the peer to close
/// its side, reading and discarding what it still sends; if it does not, reset.
async fn linger(reader: &mut Reader, close_linger: Duration) {
    let closed = timeout(close_linger, async {
        while !matches!(reader.next().await, Input::Closed(_)) {}
    })
    .await;
    if closed.is_err() {
        tracing::debug!("peer kept its side open after the goodbye; resetting");
        reader.reset_on_close();
    }
}

/// Write `msg` as a text line to a connection that has no writer yet (best effort,
/// bounded by `grace`).
async fn say_early(stream: &mut Io, msg: ServerMsg, grace: Duration) {
    if let Some(line) = Outgoing::new(msg).bytes(Form::Line) {
        let said = async {
            stream.write_all(line).await?;
            stream.flush().await
        };
        let _ = timeout(grace, said).await;
    }
}

/// Wait for the first bytes: a NUL starts the binary preamble, anything else is text,
/// silence for `window` is a text peer that listens first. A preamble must be complete
/// by `handshake`. `Ok(None)`: closed already.
async fn detect(
    stream: &mut Io,
    pre: &mut BytesMut,
    window: Duration,
    handshake: Instant,
) -> Result<Option<Format>, Refusal> {
    let first = Instant::now() + window;
    loop {
        let deadline = if pre.is_empty() { first } else { handshake };
        match timeout_at(deadline, stream.read_buf(pre)).await {
            Err(_) if pre.is_empty() => return Ok(Some(Format::Text)),
            Err(_) => return Err(Refusal::PreambleTimedOut),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(None),
            Ok(Ok(_)) => {}
        }
        if pre.first() != Some(&0) {
            return Ok(Some(Format::Text));
        }
        let have = pre.len().min(PREAMBLE.len());
        if pre[..have] != PREAMBLE[..have] {
            return Err(Refusal::BadPreamble);
        }
        if pre.len() >= PREAMBLE.len() {
            let _ = pre.split_to(PREAMBLE.len());
            return Ok(Some(Format::Binary));
        }
    }
}
