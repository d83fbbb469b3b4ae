//! One QUIC chat member, from the handshake to its leaving: the handshake and the
//! member's bidirectional stream (preamble, `Hello`) within the handshake timeout,
//! then its frames (and, in datagram mode, its DATAGRAM frames) as events for the room,
//! while the writer ([`super::sink`]) delivers what the room queues for it.

use super::{sink, QuicConfig, PREAMBLE_DATAGRAMS};
use crate::transport::{Event, EventTx, Format, PeerId, PeerInfo};
use crate::wire::binary::{self, FrameCodec, WireError, PREAMBLE};
use crate::wire::{ClientMsg, LeaveReason, Proto};
use futures_util::StreamExt;
use quinn::{Connection, ConnectionError};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

/// Malformed frames tolerated from one member before it is dropped.
const MAX_MALFORMED: u32 = 8;

/// Serve one incoming connection to its end.
pub(super) async fn run(
    peer: PeerId,
    incoming: quinn::Incoming,
    _permit: OwnedSemaphorePermit,
    cfg: QuicConfig,
    events: EventTx,
    shutdown: CancellationToken,
) {
    let addr = incoming.remote_address();
    let deadline = Instant::now() + cfg.handshake_timeout;
    let connecting = match incoming.accept() {
        Ok(c) => c,
        Err(e) => return tracing::debug!(%addr, error = %e, "QUIC connection not accepted"),
    };
    let conn = tokio::select! {
        c = timeout_at(deadline, connecting) => match c {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return tracing::info!(%addr, error = %e, "QUIC handshake failed"),
            Err(_) => return tracing::info!(%addr, "QUIC handshake timed out"),
        },
        _ = shutdown.cancelled() => return,
    };
    let alpn = conn
        .handshake_data()
        .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|d| d.protocol);
    if alpn.as_deref() != Some(crate::wire::ALPN_CHAT) {
        conn.close(0x2u32.into(), b"ALPN nettool-chat required");
        return tracing::info!(%addr, "QUIC client without ALPN nettool-chat refused");
    }
    let opened = tokio::select! {
        s = timeout_at(deadline, opening(&conn, cfg.max_frame)) => s,
        _ = shutdown.cancelled() => return,
    };
    let (send, mut frames, datagrams, nick) = match opened {
        Ok(Ok(Ok(o))) => o,
        Ok(Err(e)) => return tracing::debug!(%addr, error = %e, "QUIC member gone before joining"),
        Ok(Ok(Err(why))) => {
            conn.close(0x3u32.into(), why.as_bytes());
            return tracing::info!(%addr, %why, "QUIC member refused before joining");
        }
        Err(_) => {
            conn.close(0x3u32.into(), b"timed out: no nettool preamble and Hello");
            return tracing::info!(%addr, "QUIC member timed out before joining");
        }
    };
    let (sink, shared) = sink::queue(cfg.queue);
    let mut writer = tokio::spawn(sink::run(conn.clone(), send, shared, datagrams, cfg.grace));
    let info = PeerInfo {
        proto: Proto::Quic,
        addr,
        format: Format::Binary,
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
    let mut malformed = 0;
    let reason = loop {
        let ev = tokio::select! {
            f = frames.next() => match f {
                None => break Some(LeaveReason::Closed),
                Some(Ok(Ok(msg))) => Event::Message(peer, msg),
                Some(Ok(Err(e))) => {
                    malformed += 1;
                    if malformed > MAX_MALFORMED {
                        let why = "too many malformed frames".to_string();
                        let _ = events.send(Event::Invalid(peer, why.clone())).await;
                        break Some(LeaveReason::BadInput(why));
                    }
                    Event::Invalid(peer, e.refusal())
                }
                Some(Err(WireError::Io(_))) => break Some(lost(&conn)),
                Some(Err(e)) => {
                    let _ = events.send(Event::Invalid(peer, e.refusal())).await;
                    break Some(LeaveReason::BadInput(e.refusal()));
                }
            },
            d = conn.read_datagram(), if datagrams => match d {
                Ok(d) => match binary::decode_datagram::<ClientMsg>(&d[..]) {
                    Ok(msg) => Event::Message(peer, msg),
                    Err(e) => Event::Invalid(peer, e.refusal()),
                },
                Err(_) => break Some(lost(&conn)),
            },
            _ = &mut writer => break Some(LeaveReason::Closed),
            _ = shutdown.cancelled() => break None,
        };
        if events.send(ev).await.is_err() {
            break None;
        }
    };
    if let Some(reason) = reason {
        let _ = events.send(Event::Left(peer, reason)).await;
    }
    if !writer.is_finished() && timeout(cfg.grace, &mut writer).await.is_err() {
        writer.abort();
        conn.close(1u32.into(), b"closed");
    }
}

/// Why a member's connection ended, as the room says it.
fn lost(conn: &Connection) -> LeaveReason {
    match conn.close_reason() {
        Some(ConnectionError::TimedOut) => LeaveReason::TimedOut,
        Some(ConnectionError::ApplicationClosed(_)) | Some(ConnectionError::LocallyClosed) => {
            LeaveReason::Closed
        }
        Some(ConnectionError::Reset) => LeaveReason::Reset,
        Some(e) => LeaveReason::Error(e.to_string()),
        None => LeaveReason::Reset,
    }
}

type Frames = FramedRead<quinn::RecvStream, FrameCodec<ClientMsg, ()>>;

/// The member's stream, its preamble (datagram mode or not) and its `Hello`'s nick.
async fn opening(
    conn: &Connection,
    max_frame: usize,
) -> Result<Result<(quinn::SendStream, Frames, bool, Option<String>), String>, ConnectionError> {
    let (send, mut recv) = conn.accept_bi().await?;
    let mut pre = [0u8; 11];
    if recv.read_exact(&mut pre).await.is_err()
        || pre[..] != PREAMBLE[..11] && pre[..] != PREAMBLE_DATAGRAMS[..11]
    {
        return Ok(Err(
            "unrecognised preamble: send \\0nettool/1\\n, then frames".into(),
        ));
    }
    let datagrams = pre[..] == PREAMBLE_DATAGRAMS[..11];
    if datagrams {
        let mut nl = [0u8; 1];
        if recv.read_exact(&mut nl).await.is_err() || nl[0] != b'\n' {
            return Ok(Err("unrecognised preamble".into()));
        }
    }
    let mut frames = FramedRead::new(recv, FrameCodec::new(max_frame));
    match frames.next().await {
        Some(Ok(Ok(ClientMsg::Hello { nick }))) => Ok(Ok((send, frames, datagrams, nick))),
        _ => Ok(Err("the first frame must be Hello".into())),
    }
}
