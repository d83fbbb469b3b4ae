//! The text format for netcat, telnet, socat and Node.js peers: UTF-8 lines.
//!
//! Inbound, [`LineCodec`] caps line length (tokio-util's `LinesCodec` with a maximum)
//! and turns an oversize line or invalid UTF-8 into an error *item*, so one bad line
//! costs its sender an error message, not the connection. [`parse_line`] maps a line to
//! a [`ClientMsg`] (`/nick`, `/who`, `/quit` or chat). Outbound, [`render`] gives the
//! line a text peer sees for each [`ServerMsg`]; the nettool client prints the same.

use super::binary::WireError;
use super::message::{ClientMsg, ServerMsg};
use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder, LinesCodec, LinesCodecError};

/// The marker a nettool client looks for in the server's first line.
pub const BANNER_MARK: &str = "(nettool/1)";
/// Default cap on one text line, in bytes.
pub const DEFAULT_MAX_LINE: usize = 4096;

/// The first line a chat server sends on a new TCP connection.
pub fn banner() -> String {
    format!("* nettool chat {BANNER_MARK}: type to talk; /nick NAME, /who, /quit")
}

/// Capped, recoverable line decoding; encodes `String` lines (adding the newline).
pub struct LineCodec {
    inner: LinesCodec,
    max: usize,
}

impl LineCodec {
    pub fn new(max_line: usize) -> Self {
        LineCodec {
            inner: LinesCodec::new_with_max_length(max_line),
            max: max_line,
        }
    }

    fn map(
        &self,
        r: Result<Option<String>, LinesCodecError>,
    ) -> Result<Option<Result<String, WireError>>, WireError> {
        match r {
            // LinesCodec has already taken one `\r` off a `\r\n` ending.
            Ok(Some(line)) => Ok(Some(Ok(line))),
            Ok(None) => Ok(None),
            Err(LinesCodecError::MaxLineLengthExceeded) => {
                Ok(Some(Err(WireError::TooLarge { max: self.max })))
            }
            // LinesCodec has already consumed the offending line: the stream can go on.
            Err(LinesCodecError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                Ok(Some(Err(WireError::InvalidUtf8)))
            }
            Err(LinesCodecError::Io(e)) => Err(e.into()),
        }
    }
}

impl Decoder for LineCodec {
    type Item = Result<String, WireError>;
    type Error = WireError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, WireError> {
        let r = self.inner.decode(src);
        self.map(r)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, WireError> {
        let r = self.inner.decode_eof(src);
        self.map(r)
    }
}

impl Encoder<String> for LineCodec {
    type Error = WireError;

    fn encode(&mut self, line: String, dst: &mut BytesMut) -> Result<(), WireError> {
        self.inner.encode(line, dst).map_err(|e| match e {
            LinesCodecError::Io(e) => WireError::Io(e),
            LinesCodecError::MaxLineLengthExceeded => WireError::TooLarge { max: self.max },
        })
    }
}

/// A text peer's line as a message. `next_seq` numbers its chat lines.
/// `Ok(None)` for a blank line; `Err` with a user-facing message for an unknown command.
pub fn parse_line(line: &str, next_seq: &mut u64) -> Result<Option<ClientMsg>, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(None);
    }
    if let Some(cmd) = line.strip_prefix('/') {
        let mut words = cmd.split_whitespace();
        return match (words.next().unwrap_or(""), words.next()) {
            ("nick", Some(name)) if words.next().is_none() => {
                Ok(Some(ClientMsg::Nick(name.to_string())))
            }
            ("who", None) => Ok(Some(ClientMsg::Who)),
            ("who", Some(n)) if words.next().is_none() => match n.parse::<u32>() {
                Ok(page) if page >= 1 => Ok(Some(ClientMsg::WhoPage(page))),
                _ => Err(format!("/who {n}: the page is a number from 1")),
            },
            ("quit", None) => Ok(Some(ClientMsg::Bye)),
            _ => Err(format!(
                "unknown command /{cmd}; try /nick NAME, /who [PAGE], /quit"
            )),
        };
    }
    *next_seq += 1;
    Ok(Some(ClientMsg::Say {
        seq: *next_seq,
        sent_us: super::now_us(),
        text: line.to_string(),
    }))
}

/// The line (without newline) a person sees for `msg`; `None` for messages with nothing
/// to show (`Pong`). Control characters from the message's fields are shown escaped
/// (see [`defang`]), so the result is always exactly one line.
pub fn render(msg: &ServerMsg) -> Option<String> {
    render_raw(msg).map(defang)
}

/// `line` with every control character but tab escaped (`\n`, `\r`, `\u{1b}`): a chat
/// text from a binary peer, or a `\r` inside a text peer's line, must not start a forged
/// line (`* alice left`) or send terminal escapes to the people reading the room.
pub fn defang(line: String) -> String {
    let harmful = |c: char| c.is_control() && c != '\t';
    if !line.contains(harmful) {
        return line;
    }
    let mut out = String::with_capacity(line.len() + 8);
    for c in line.chars() {
        if harmful(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn render_raw(msg: &ServerMsg) -> Option<String> {
    Some(match msg {
        ServerMsg::Welcome { nick, members, .. } => {
            format!("* you are {nick}; {members} online")
        }
        ServerMsg::Chat { from, text, .. } => format!("{from}: {text}"),
        ServerMsg::Joined { nick, proto } => format!("* {nick} joined ({proto})"),
        ServerMsg::Left { nick, reason } => format!("* {nick} left ({reason})"),
        ServerMsg::Renamed { old, new } => format!("* {old} is now {new}"),
        ServerMsg::Members(members) => {
            let list: Vec<String> = members
                .iter()
                .map(|m| format!("{} ({}, {}s)", m.nick, m.proto, m.online_s))
                .collect();
            format!("* online: {}", list.join(", "))
        }
        ServerMsg::Pong { .. } => return None,
        ServerMsg::Error(why) => format!("! {why}"),
        ServerMsg::Bye { reason } => format!("* disconnected: {reason}"),
        ServerMsg::Presence {
            joined,
            left,
            online,
        } => format!("* {joined} joined, {left} left in the last second ({online} online)"),
        ServerMsg::WhoPage {
            page,
            pages,
            online,
        } if page < pages => {
            let next = page + 1;
            format!("* {online} online, page {page} of {pages}: /who {next} for more")
        }
        ServerMsg::WhoPage {
            page,
            pages,
            online,
        } => format!("* {online} online, page {page} of {pages}"),
    })
}
