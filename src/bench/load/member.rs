//! Joining a load member, and its two halves in either mode: binary through the
//! library's client (TCP or UDP), or text lines over TCP for servers that are not
//! nettool. Names and the text-mode line format live here too.

use super::LoadConfig;
use crate::chat::client::{self, connect::MsgSink, ClientConfig, Incoming, Mode};
use crate::wire::binary::WireError;
use crate::wire::{ClientMsg, Proto, ServerMsg};
use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use std::fmt::Write as _;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// How long one join (connect and welcome) may take.
const JOIN_WAIT: Duration = Duration::from_secs(15);
/// The first word of a text-mode load line: `nt IDX SEQ SENT_US TEXT`.
const LINE_TAG: &str = "nt";
/// A text-mode member's keepalive: none (TCP needs none).
const NO_KEEPALIVE: Duration = Duration::from_secs(3600);

/// What a member receives.
pub(super) type Rx = futures_util::stream::BoxStream<'static, Result<Incoming, WireError>>;

/// Member `idx`'s nickname: `t{idx}` over TCP, `u{idx}` over UDP.
pub fn nick_of(idx: usize, proto: Proto) -> String {
    match proto {
        Proto::Tcp => format!("t{idx}"),
        Proto::Udp => format!("u{idx}"),
    }
}

/// The member index in a nickname made by [`nick_of`].
pub fn sender_index(nick: &str) -> Option<usize> {
    let rest = nick.strip_prefix('t').or_else(|| nick.strip_prefix('u'))?;
    rest.parse().ok()
}

/// A member's sending half.
pub(super) enum Tx {
    Binary(MsgSink),
    /// Text lines, and a buffer to format them in.
    Text(OwnedWriteHalf, String),
}

impl Tx {
    /// Queue `msg` from member `idx` (text mode: a `Say` as a load line; other messages
    /// have no text form here and are skipped). `false`: the connection is gone.
    pub(super) async fn feed(&mut self, idx: usize, msg: ClientMsg) -> bool {
        match self {
            Tx::Binary(s) => s.feed(msg).await.is_ok(),
            Tx::Text(w, line) => {
                let ClientMsg::Say { seq, sent_us, text } = msg else {
                    return true;
                };
                line.clear();
                let _ = writeln!(line, "{LINE_TAG} {idx} {seq} {sent_us} {text}");
                w.write_all(line.as_bytes()).await.is_ok()
            }
        }
    }

    /// Send what was queued. `false`: the connection is gone.
    pub(super) async fn flush(&mut self) -> bool {
        match self {
            Tx::Binary(s) => s.flush().await.is_ok(),
            Tx::Text(..) => true,
        }
    }

    /// Text mode: say `probe`.
    pub(super) async fn probe(&mut self) -> bool {
        match self {
            Tx::Binary(_) => true,
            Tx::Text(w, _) => w.write_all(b"probe\n").await.is_ok(),
        }
    }

    /// Leave the room, if the mode has a way to say so.
    pub(super) async fn bye(&mut self) {
        if let Tx::Binary(s) = self {
            let _ = s.send(ClientMsg::Bye).await;
        }
    }
}

/// (sender index, seq, sent_us) of a text-mode load line, wherever the server put it
/// in the line it relays (`nick: …`, `<user3> …`).
pub(super) fn parse_text_line(line: &str) -> Option<(usize, u64, u64)> {
    let mut words = line
        .split_whitespace()
        .skip_while(|w| *w != LINE_TAG)
        .skip(1);
    let idx = words.next()?.parse().ok()?;
    let seq = words.next()?.parse().ok()?;
    let sent = words.next()?.parse().ok()?;
    Some((idx, seq, sent))
}

/// Join as `nick`: the sending half, the receiving half, and the keepalive period the
/// server asked for.
pub(super) async fn connect(
    cfg: &LoadConfig,
    proto: Proto,
    nick: &str,
) -> Result<(Tx, Rx, Duration)> {
    if cfg.text_mode {
        let s = timeout(JOIN_WAIT, TcpStream::connect(cfg.addr))
            .await
            .map_err(|_| anyhow!("{nick}: connect timed out"))?
            .with_context(|| format!("{nick}: connect"))?;
        s.set_nodelay(true)?;
        let (rd, wr) = s.into_split();
        return Ok((Tx::Text(wr, String::new()), lines(rd), NO_KEEPALIVE));
    }
    let mut ccfg = ClientConfig {
        addr: cfg.addr,
        proto,
        nick: Some(nick.to_string()),
        ..Default::default()
    };
    if proto == Proto::Tcp {
        // A load member knows it joins a nettool server: over a lossy path a lost
        // banner costs a retransmission timeout, which is no reason to fall back to
        // text. (Over UDP `detect` paces the Hello retries: keep it.)
        ccfg.detect = JOIN_WAIT;
    }
    let mut conn = timeout(JOIN_WAIT, client::connect(&ccfg))
        .await
        .map_err(|_| anyhow!("{nick}: connect timed out"))?
        .with_context(|| format!("{nick}: connect"))?;
    if conn.mode != Mode::Binary {
        bail!("{} is not a nettool server: use text mode", cfg.addr);
    }
    // After the Welcome, this client is a member.
    let deadline = Instant::now() + JOIN_WAIT;
    loop {
        match tokio::time::timeout_at(deadline, conn.rx.next()).await {
            Ok(Some(Ok(Incoming::Msg(ServerMsg::Welcome {
                nick: got,
                keepalive_ms,
                ..
            })))) => {
                if got != nick {
                    bail!("{nick}: the server named it {got}");
                }
                let keepalive = Duration::from_millis(keepalive_ms.max(2));
                return Ok((Tx::Binary(conn.tx), conn.rx, keepalive));
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => bail!("{nick}: receive error before the welcome: {e}"),
            Ok(None) => bail!("{nick}: closed before the welcome"),
            Err(_) => bail!("{nick}: no welcome within {JOIN_WAIT:?}"),
        }
    }
}

/// A text-mode member's lines, as a stream.
fn lines(rd: OwnedReadHalf) -> Rx {
    let lines = BufReader::new(rd).lines();
    futures_util::stream::unfold(lines, |mut lines| async move {
        match lines.next_line().await {
            Ok(Some(l)) => Some((Ok(Incoming::Line(l)), lines)),
            Ok(None) => None,
            Err(e) => Some((Err(e.into()), lines)),
        }
    })
    .boxed()
}
