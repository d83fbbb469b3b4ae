//! Joining a load member, and its two halves in either mode: binary through the
//! library's client (TCP or UDP), or text lines over TCP for servers that are not
//! nettool. Names and the text-mode line format live here too.

use super::LoadConfig;
use crate::chat::client::{self, connect::MsgSink, ClientConfig, Incoming, Mode};
use crate::wire::binary::WireError;
use crate::wire::{now_us, ClientMsg, Proto, ServerMsg};
use anyhow::{anyhow, bail, Context, Result};
use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use std::fmt::Write as _;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};
use tokio_util::codec::{Decoder, FramedRead};

/// How long one join (connect and welcome) may take.
const JOIN_WAIT: Duration = Duration::from_secs(15);
/// The first word of a text-mode load line: `nt IDX SEQ SENT_US TEXT`.
const LINE_TAG: &str = "nt";
/// A text-mode member's keepalive: none (TCP needs none).
const NO_KEEPALIVE: Duration = Duration::from_secs(3600);

/// A text-mode member's read buffer (a load line is ~100 bytes).
const TEXT_READ: usize = 16 * 1024;
/// A text line longer than this cannot be a load line: it is dropped unread.
const TEXT_MAX_LINE: usize = 64 * 1024;

/// What a member's receiving half yields.
#[derive(Debug)]
pub(super) enum Got {
    /// A nettool server's message (binary mode).
    Msg(ServerMsg),
    /// Text mode: every complete line one read brought, and when that read returned
    /// (µs since the epoch, [`now_us`]). One clock read and no allocation per line, so
    /// at hundreds of thousands of lines a second the load generator's own cost stays
    /// out of the latency it measures.
    Lines {
        /// Lines, each ending in `\n` (the last one may not, at the stream's end).
        chunk: Bytes,
        /// When the read that brought them returned.
        at_us: u64,
    },
}

/// What a member receives.
pub(super) type Rx = futures_util::stream::BoxStream<'static, Result<Got, WireError>>;

/// Member `idx`'s nickname: `t{idx}` over TCP, `u{idx}` over UDP, `s{idx}` over
/// TLS, `q{idx}` over QUIC.
pub fn nick_of(idx: usize, proto: Proto) -> String {
    let c = match proto {
        Proto::Tcp => 't',
        Proto::Udp => 'u',
        Proto::Tls => 's',
        Proto::Quic => 'q',
    };
    format!("{c}{idx}")
}

/// The member index in a nickname made by [`nick_of`].
pub fn sender_index(nick: &str) -> Option<usize> {
    let rest = nick.strip_prefix(['t', 'u', 's', 'q'])?;
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
pub(super) fn parse_text_line(line: &[u8]) -> Option<(usize, u64, u64)> {
    // The load formats its lines with single spaces ([`LINE_TAG`] first) and servers
    // relay them as they are.
    const TAG: &[u8] = b" nt ";
    let at = if line.starts_with(&TAG[1..]) {
        TAG.len() - 1
    } else {
        line.windows(TAG.len()).position(|w| w == TAG)? + TAG.len()
    };
    let mut words = line[at..].split(|b| *b == b' ');
    let idx = decimal(words.next()?)?;
    let seq = decimal(words.next()?)?;
    let sent = decimal(words.next()?)?;
    Some((usize::try_from(idx).ok()?, seq, sent))
}

/// An unsigned decimal number, all of `w`; `None` if it is not one or overflows.
fn decimal(w: &[u8]) -> Option<u64> {
    if w.is_empty() {
        return None;
    }
    w.iter().try_fold(0u64, |n, &b| {
        let d = b.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// Join the server at `addr` as `nick`: the sending half, the receiving half, and the keepalive period the
/// server asked for.
pub(super) async fn connect(
    cfg: &LoadConfig,
    addr: std::net::SocketAddr,
    proto: Proto,
    nick: &str,
) -> Result<(Tx, Rx, Duration)> {
    if cfg.text_mode {
        let s = timeout(JOIN_WAIT, TcpStream::connect(addr))
            .await
            .map_err(|_| anyhow!("{nick}: connect timed out"))?
            .with_context(|| format!("{nick}: connect"))?;
        s.set_nodelay(true)?;
        let (rd, wr) = s.into_split();
        return Ok((Tx::Text(wr, String::new()), lines(rd), NO_KEEPALIVE));
    }
    let mut ccfg = ClientConfig {
        addr,
        proto,
        nick: Some(nick.to_string()),
        trust: cfg.trust.clone(),
        kx: cfg.kx,
        datagrams: cfg.datagrams,
        ..Default::default()
    };
    if matches!(proto, Proto::Tcp | Proto::Tls | Proto::Quic) {
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
        bail!("{addr} is not a nettool server: use text mode");
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
                let rx = conn.rx.map(|r| r.map(Got::from)).boxed();
                return Ok((Tx::Binary(conn.tx), rx, keepalive));
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => bail!("{nick}: receive error before the welcome: {e}"),
            Ok(None) => bail!("{nick}: closed before the welcome"),
            Err(_) => bail!("{nick}: no welcome within {JOIN_WAIT:?}"),
        }
    }
}

impl From<Incoming> for Got {
    fn from(i: Incoming) -> Got {
        match i {
            Incoming::Msg(m) => Got::Msg(m),
            Incoming::Line(l) => Got::Lines {
                chunk: Bytes::from(l),
                at_us: now_us(),
            },
        }
    }
}

/// A text-mode member's lines, a read's worth at a time, stamped when the read
/// returned (the decoder runs right after each read).
fn lines(rd: OwnedReadHalf) -> Rx {
    FramedRead::with_capacity(rd, LineChunks, TEXT_READ)
        .map(|r| {
            r.map(|chunk| Got::Lines {
                chunk,
                at_us: now_us(),
            })
        })
        .boxed()
}

/// Every complete line in the buffer as one chunk (a last line without its newline at
/// the stream's end too); a line longer than [`TEXT_MAX_LINE`] is dropped.
struct LineChunks;

impl Decoder for LineChunks {
    type Item = Bytes;
    type Error = WireError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, WireError> {
        if let Some(end) = buf.iter().rposition(|b| *b == b'\n') {
            return Ok(Some(buf.split_to(end + 1).freeze()));
        }
        if buf.len() > TEXT_MAX_LINE {
            buf.clear();
        }
        Ok(None)
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, WireError> {
        match self.decode(buf)? {
            Some(chunk) => Ok(Some(chunk)),
            None if buf.is_empty() => Ok(None),
            None => Ok(Some(buf.split().freeze())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_load_line_wherever_the_server_put_it() {
        assert_eq!(
            parse_text_line(b"t3: nt 3 17 1700000000000000 x"),
            Some((3, 17, 1700000000000000))
        );
        assert_eq!(
            parse_text_line(b"<user3> nt 3 17 99 text"),
            Some((3, 17, 99))
        );
        assert_eq!(parse_text_line(b"nt 0 1 2"), Some((0, 1, 2)));
        assert_eq!(parse_text_line(b"nt: nt 4 5 6"), Some((4, 5, 6)));
        let ours = format!("{LINE_TAG} 7 8 9 text");
        assert_eq!(
            parse_text_line(format!("t7: {ours}").as_bytes()),
            Some((7, 8, 9))
        );
    }

    #[test]
    fn a_read_yields_its_complete_lines_and_keeps_the_rest() {
        let mut buf = BytesMut::from(&b"a\nb\npart"[..]);
        assert_eq!(
            LineChunks.decode(&mut buf).ok().flatten().as_deref(),
            Some(&b"a\nb\n"[..])
        );
        assert_eq!(LineChunks.decode(&mut buf).ok().flatten(), None);
        assert_eq!(&buf[..], b"part");
        assert_eq!(
            LineChunks.decode_eof(&mut buf).ok().flatten().as_deref(),
            Some(&b"part"[..])
        );
        assert_eq!(LineChunks.decode_eof(&mut buf).ok().flatten(), None);
        let mut long = BytesMut::from(&vec![b'x'; TEXT_MAX_LINE + 1][..]);
        assert_eq!(LineChunks.decode(&mut long).ok().flatten(), None);
        assert!(
            long.is_empty(),
            "a line too long for a load line is dropped"
        );
    }

    #[test]
    fn refuses_what_is_not_a_load_line() {
        for line in [
            &b""[..],
            b"probe",
            b"t3: hello",
            b"t3: nt 3 17",
            b"t3: nt 3 x 99",
            b"t3: nt -3 17 99",
            b"t3: nt 3 17 99999999999999999999999",
            b"t3: int 3 17 99",
            b"t3: nt 3  17 99",
            "t3: nt 3 1\u{0663} 9".as_bytes(),
        ] {
            assert_eq!(
                parse_text_line(line),
                None,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
