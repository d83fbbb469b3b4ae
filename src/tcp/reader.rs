//! The reading half of a TCP peer, one path for both formats: a [`Reader`] turns the
//! bytes of a text peer (lines) or a nettool peer (frames) into a flat [`Input`] —
//! a message, refused input, a time-out on incomplete input, or the end with its
//! reason — so the connection has one loop whatever the peer speaks.
//!
//! Underneath: a `FramedRead` over the connection's read half (the bytes read while
//! telling the formats apart come first), a [`PeerCodec`] for the format, and the
//! slowloris guard ([`stall`](super::stall)).

use super::stall::{Guarded, TimedOut};
use super::tls::ReadSide;
use super::tracker::ConnStats;
use crate::transport::Format;
use crate::wire::binary::{FrameCodec, WireError, PREAMBLE};
use crate::wire::text::{LineCodec, LineParser};
use crate::wire::{ClientMsg, LeaveReason};
use bytes::BytesMut;
use std::io::{self, Cursor};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, Chain, ReadBuf};
use tokio::time::{timeout_at, Instant};
use tokio_util::codec::{Decoder, FramedRead};

/// Malformed binary frames tolerated from one peer before it is dropped.
const MAX_MALFORMED: u32 = 8;
/// What a text peer holding an incomplete line too long is told.
pub(super) const LINE_TIMED_OUT: &str = "timed out: incomplete line";
/// What a nettool client whose preamble came after the detect window is told (it was
/// taken for a text peer; its frames would read as lines of garbage): the connection is
/// closed, nothing it sent reaches the room.
pub(super) const LATE_PREAMBLE: &str = "a nettool preamble after the server's detect window: \
     this connection was taken for a text peer; connect again (on a slow path, the server's \
     --detect is too short)";
/// What a nettool peer holding an incomplete frame too long is told.
pub(super) const FRAME_TIMED_OUT: &str = "timed out: incomplete frame";

/// What a peer's input amounts to, one at a time.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Input {
    /// A well-formed message.
    Message(ClientMsg),
    /// Input that was refused with this sentence; the peer stays (unless a `Closed`
    /// follows).
    Refused(String),
    /// An incomplete line or frame was held too long; the peer is told this and dropped.
    TimedOut(&'static str),
    /// The input has ended (closed, reset, or input that ends the connection).
    Closed(LeaveReason),
}

/// How a connection starts, once the peer's format is known.
#[derive(Debug)]
pub(super) enum Opening {
    /// Join as `nick` (a nettool peer's `Hello`), then handle `first` if any.
    Join {
        nick: Option<String>,
        first: Option<Input>,
    },
    /// A nettool peer began its `Hello` and did not finish it in time.
    TimedOut(&'static str),
}

/// One item of a peer's input, as its codec sees it.
#[derive(Debug)]
pub(super) enum Item {
    Msg(ClientMsg),
    /// A text peer's blank line: nothing to do, but a complete item (the stall guard
    /// counts it as one).
    Blank,
    /// Refused, the stream carries on (a bad line, an unknown command).
    Refused(String),
    /// A frame that is well delimited but does not decode.
    Malformed(String),
    /// A text peer's line that is a nettool client's preamble: it came too late.
    LatePreamble,
}

/// A peer's bytes in its format: text lines parsed into messages (numbered by the
/// peer's [`LineParser`]), or binary frames.
pub(super) enum PeerCodec {
    Text {
        lines: LineCodec,
        parser: LineParser,
    },
    Binary(FrameCodec<ClientMsg, ()>),
}

impl PeerCodec {
    /// The codec for `format`, with its line or frame cap.
    pub(super) fn new(format: Format, max_line: usize, max_frame: usize) -> Self {
        match format {
            Format::Text => PeerCodec::Text {
                lines: LineCodec::new(max_line),
                parser: LineParser::default(),
            },
            Format::Binary => PeerCodec::Binary(FrameCodec::new(max_frame)),
        }
    }
}

impl Decoder for PeerCodec {
    type Item = Item;
    type Error = WireError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Item>, WireError> {
        match self {
            PeerCodec::Text { lines, parser } => Ok(lines.decode(src)?.map(|l| text(parser, l))),
            PeerCodec::Binary(frames) => Ok(frames.decode(src)?.map(frame)),
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Item>, WireError> {
        match self {
            PeerCodec::Text { lines, parser } => {
                Ok(lines.decode_eof(src)?.map(|l| text(parser, l)))
            }
            PeerCodec::Binary(frames) => Ok(frames.decode_eof(src)?.map(frame)),
        }
    }
}

fn frame(decoded: Result<ClientMsg, WireError>) -> Item {
    match decoded {
        Ok(msg) => Item::Msg(msg),
        Err(e) => Item::Malformed(e.refusal()),
    }
}

fn text(parser: &mut LineParser, line: Result<String, WireError>) -> Item {
    match line {
        // No text peer starts a line with NUL; a nettool client does, with its preamble.
        Ok(line) if PREAMBLE.strip_suffix(b"\n") == Some(line.as_bytes()) => Item::LatePreamble,
        Ok(line) => match parser.parse(&line) {
            Ok(Some(msg)) => Item::Msg(msg),
            Ok(None) => Item::Blank,
            Err(why) => Item::Refused(why),
        },
        Err(e) => Item::Refused(e.refusal()),
    }
}

/// The read half, with the bytes read during detection in front.
type Source = Counted<Chain<Cursor<BytesMut>, ReadSide>>;

/// The read buffer a connection starts with. tokio-util's default, 8 KiB allocated up
/// front, cost every idle member that much (measured: 10.0 → 7.0 KB of server RSS per
/// idle text connection); a peer that has sent something gets [`TALKER_BUF`], since
/// under load a small buffer means more reads (0.23 → 0.30 µs of server CPU per
/// delivery at 10 × 14 000 msg/s with 1 KiB throughout).
const READ_BUF: usize = 1024;
/// The read buffer of a peer that has sent its first message.
const TALKER_BUF: usize = 8 * 1024;

/// A peer's input as [`Input`]s.
pub(super) struct Reader {
    frames: Guarded<Source, PeerCodec>,
    format: Format,
    malformed: u32,
    /// Has sent a message: its read buffer has been grown to [`TALKER_BUF`].
    talker: bool,
    /// Input that ends the connection, due after the refusal that says why.
    closing: Option<LeaveReason>,
}

impl Reader {
    /// Read `rd` in `format`, starting with `pre` (bytes already read), counting bytes
    /// into `stats`. An incomplete item may wait `line_timeout`, the first one at most
    /// `handshake`.
    pub(super) fn new(
        rd: ReadSide,
        pre: BytesMut,
        format: Format,
        codec: PeerCodec,
        stats: Arc<ConnStats>,
        line_timeout: Duration,
        handshake: Duration,
    ) -> Self {
        let source = Counted {
            inner: Cursor::new(pre).chain(rd),
            stats: stats.clone(),
        };
        let frames = FramedRead::with_capacity(source, codec, READ_BUF);
        Reader {
            frames: Guarded::new(frames, stats, line_timeout, handshake),
            format,
            malformed: 0,
            talker: false,
            closing: None,
        }
    }

    /// Make the connection's coming close a reset (see `socket::reset_on_close`).
    pub(super) fn reset_on_close(&self) {
        self.frames.get_ref().inner.get_ref().1.reset_on_close();
    }

    /// How the connection starts. A text peer joins at once; a nettool peer's first
    /// frame is its `Hello`, waited for `detect` (or, once begun, up to the handshake
    /// deadline); anything else is handled as any later input would be.
    pub(super) async fn opening(&mut self, detect: Duration) -> Opening {
        if self.format == Format::Text {
            return Opening::Join {
                nick: None,
                first: None,
            };
        }
        let first = match timeout_at(Instant::now() + detect, self.next()).await {
            Ok(input) => Some(input),
            Err(_) if self.frames.holding_partial() => Some(self.next().await),
            Err(_) => None,
        };
        match first {
            Some(Input::TimedOut(why)) => Opening::TimedOut(why),
            Some(Input::Message(ClientMsg::Hello { nick })) => Opening::Join { nick, first: None },
            first => Opening::Join { nick: None, first },
        }
    }

    /// The next input. After a `Closed`, there is no more.
    pub(super) async fn next(&mut self) -> Input {
        if let Some(reason) = self.closing.take() {
            return Input::Closed(reason);
        }
        loop {
            let item = match self.frames.next().await {
                None => return Input::Closed(LeaveReason::Closed),
                Some(Err(TimedOut)) => {
                    return Input::TimedOut(match self.format {
                        Format::Text => LINE_TIMED_OUT,
                        Format::Binary => FRAME_TIMED_OUT,
                    })
                }
                Some(Ok(item)) => item,
            };
            if !self.talker {
                self.talker = true;
                self.frames.read_buffer_mut().reserve(TALKER_BUF);
            }
            return match item {
                Ok(Item::Msg(msg)) => Input::Message(msg),
                Ok(Item::Blank) => continue,
                Ok(Item::Refused(why)) => Input::Refused(why),
                Ok(Item::LatePreamble) => self.refuse_and_close(LATE_PREAMBLE.into()),
                Ok(Item::Malformed(why)) => {
                    self.malformed += 1;
                    if self.malformed > MAX_MALFORMED {
                        self.refuse_and_close("too many malformed frames".into())
                    } else {
                        Input::Refused(why)
                    }
                }
                Err(WireError::Io(e)) => Input::Closed(io_reason(&e)),
                // An oversize frame: the stream cannot be trusted after it.
                Err(e) => self.refuse_and_close(e.refusal()),
            };
        }
    }

    fn refuse_and_close(&mut self, why: String) -> Input {
        self.closing = Some(LeaveReason::BadInput(why.clone()));
        Input::Refused(why)
    }
}

fn io_reason(e: &io::Error) -> LeaveReason {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => LeaveReason::Reset,
        _ => LeaveReason::Error(e.to_string()),
    }
}

/// A reader that counts the bytes it reads into the connection's stats.
pub(super) struct Counted<R> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::binary::encode_frame;

    fn items(codec: &mut PeerCodec, bytes: &[u8]) -> Vec<Item> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(item) = codec.decode_eof(&mut buf).expect("no stream error") {
            out.push(item);
        }
        out
    }

    #[test]
    fn text_lines_are_numbered_once_and_blank_lines_are_items() {
        let mut codec = PeerCodec::new(Format::Text, 64, 64);
        let got = items(&mut codec, b"one\n\n/bogus\ntwo\r\n/who\n");
        let seqs: Vec<String> = got
            .iter()
            .map(|i| match i {
                Item::Msg(ClientMsg::Say { seq, text, .. }) => format!("{seq}:{text}"),
                Item::Msg(m) => format!("{m:?}"),
                Item::Blank => "blank".into(),
                Item::Refused(why) => format!("refused {why}"),
                Item::Malformed(why) => format!("malformed {why}"),
                Item::LatePreamble => "late preamble".into(),
            })
            .collect();
        assert_eq!(
            seqs,
            [
                "1:one",
                "blank",
                "refused unknown command /bogus; try /nick NAME, /who [PAGE], /quit",
                "2:two",
                "Who"
            ]
        );
        // An over-long line is refused and the next one still numbered in turn.
        let got = items(
            &mut codec,
            &[b"x".repeat(100), b"\nthree\n".to_vec()].concat(),
        );
        assert!(matches!(&got[0], Item::Refused(why) if why.contains("longer than 64")));
        assert!(matches!(&got[1], Item::Msg(ClientMsg::Say { seq: 3, .. })));
    }

    #[test]
    fn binary_frames_decode_and_a_bad_payload_is_malformed_not_fatal() {
        let mut codec = PeerCodec::new(Format::Binary, 64, 64);
        let mut bytes = encode_frame(&ClientMsg::Who).unwrap().to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 2, 0xff, 0xff]);
        bytes.extend_from_slice(&encode_frame(&ClientMsg::Bye).unwrap());
        let got = items(&mut codec, &bytes);
        assert!(matches!(got[0], Item::Msg(ClientMsg::Who)));
        assert!(matches!(got[1], Item::Malformed(_)));
        assert!(matches!(got[2], Item::Msg(ClientMsg::Bye)));
    }
}
