//! The chat client's QUIC link: connect (certificate checked as told), open the
//! member's stream with the preamble and `Hello`, and merge what arrives — the member's
//! own stream, every sender's unidirectional stream (each read on its own, so a held-up
//! sender holds up no other), and DATAGRAM frames — into one stream of messages.

use super::endpoint::{self, ClientOptions};
use super::PREAMBLE_DATAGRAMS;
use crate::cert::SessionLog;
use crate::wire::binary::{self, FrameCodec, WireError, PREAMBLE};
use crate::wire::{ClientMsg, ServerMsg};
use anyhow::Result;
use futures_util::stream::BoxStream;
use futures_util::{Sink, StreamExt};
use quinn::{Connection, ConnectionError};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;

/// Messages buffered between the streams' readers and the client.
const INBOX: usize = 1024;

/// A joined QUIC chat session's two halves.
pub struct ChatLink {
    /// What the server says, from every stream and datagram; ends with the connection.
    pub rx: BoxStream<'static, Result<ServerMsg, WireError>>,
    /// Where the member's messages go (lines as DATAGRAM frames in datagram mode).
    pub tx: Pin<Box<dyn Sink<ClientMsg, Error = WireError> + Send>>,
}

type Item = Result<ServerMsg, WireError>;

/// Connect to the chat server at `addr` and say `Hello` as `nick`.
pub async fn connect(
    addr: SocketAddr,
    opts: &ClientOptions,
    nick: Option<String>,
    datagrams: bool,
    max_frame: usize,
) -> Result<ChatLink> {
    crate::cert::warn_if_insecure(&opts.trust);
    let ep = endpoint::client_endpoint(addr)?;
    let (cfg, verifier) =
        endpoint::client_config(addr, opts, crate::wire::ALPN_CHAT, SessionLog::new(true))?;
    let conn = endpoint::connect(&ep, addr, cfg, &verifier, opts.connect_timeout).await?;
    let (mut send, recv) = conn.open_bi().await?;
    send.write_all(if datagrams {
        PREAMBLE_DATAGRAMS
    } else {
        PREAMBLE
    })
    .await?;
    send.write_all(&binary::encode_frame(&ClientMsg::Hello { nick })?)
        .await?;
    let (tx, rx) = mpsc::channel::<Item>(INBOX);
    tokio::spawn(read_frames(recv, tx.clone(), max_frame));
    tokio::spawn(accept_senders(conn.clone(), tx.clone(), max_frame));
    if datagrams {
        tokio::spawn(read_datagrams(conn.clone(), tx));
    }
    // Dropping the receiving half closes the connection (and keeps the endpoint alive
    // until then).
    let guard = Closer(conn.clone(), ep);
    let rx = futures_util::stream::unfold((rx, guard), |(mut rx, g)| async move {
        rx.recv().await.map(|item| (item, (rx, g)))
    });
    let tx = futures_util::sink::unfold(
        (conn, send),
        move |(conn, mut send), msg: ClientMsg| async move {
            if datagrams && matches!(msg, ClientMsg::Say { .. }) {
                let d = binary::encode_datagram(&msg)?;
                if conn.max_datagram_size().is_some_and(|max| d.len() <= max) {
                    conn.send_datagram(d)
                        .map_err(|e| WireError::Io(io::Error::other(e)))?;
                    return Ok((conn, send));
                }
            }
            let f = binary::encode_frame(&msg)?;
            send.write_all(&f)
                .await
                .map_err(|e| WireError::Io(e.into()))?;
            Ok::<_, WireError>((conn, send))
        },
    );
    Ok(ChatLink {
        rx: rx.boxed(),
        tx: Box::pin(tx),
    })
}

/// Closes the connection when the client is done with it.
struct Closer(Connection, #[allow(dead_code)] quinn::Endpoint);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.close(0u32.into(), b"bye");
    }
}

/// Forward every frame of one stream; a broken stream is reported unless the
/// connection was closed on purpose.
async fn read_frames(recv: quinn::RecvStream, tx: mpsc::Sender<Item>, max_frame: usize) {
    let mut frames = FramedRead::new(recv, FrameCodec::<ServerMsg, ()>::new(max_frame));
    while let Some(f) = frames.next().await {
        let item = match f {
            Ok(Ok(m)) => Ok(m),
            Ok(Err(e)) => {
                tracing::warn!("ignoring a malformed frame from the server: {e}");
                continue;
            }
            Err(e) => Err(e),
        };
        let end = item.is_err();
        if tx.send(item).await.is_err() || end {
            return;
        }
    }
}

/// Read each sender's stream as it opens; report how the connection ended.
async fn accept_senders(conn: Connection, tx: mpsc::Sender<Item>, max_frame: usize) {
    loop {
        match conn.accept_uni().await {
            Ok(s) => {
                tokio::spawn(read_frames(s, tx.clone(), max_frame));
            }
            Err(e) => {
                if let Some(err) = ended(&e) {
                    let _ = tx.send(Err(WireError::Io(err))).await;
                }
                return;
            }
        }
    }
}

async fn read_datagrams(conn: Connection, tx: mpsc::Sender<Item>) {
    while let Ok(d) = conn.read_datagram().await {
        for m in binary::decode_datagram_batch::<ServerMsg>(&d) {
            match m {
                Ok(m) => {
                    if tx.send(Ok(m)).await.is_err() {
                        return;
                    }
                }
                Err(e) => tracing::warn!("ignoring a malformed datagram from the server: {e}"),
            }
        }
    }
}

/// How a connection's end is told to the client: `None` when closed on purpose (by us,
/// or by the server after its goodbye).
fn ended(e: &ConnectionError) -> Option<io::Error> {
    match e {
        ConnectionError::LocallyClosed => None,
        ConnectionError::ApplicationClosed(c) if c.error_code == 0u32.into() => None,
        ConnectionError::TimedOut => Some(io::Error::new(
            io::ErrorKind::TimedOut,
            "the connection timed out (no answer to keep-alives)",
        )),
        ConnectionError::ApplicationClosed(c) => Some(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            format!(
                "the server closed the connection: {}",
                String::from_utf8_lossy(&c.reason)
            ),
        )),
        e => Some(io::Error::new(
            io::ErrorKind::ConnectionReset,
            e.to_string(),
        )),
    }
}
