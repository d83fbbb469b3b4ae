//! The text format for netcat, telnet, socat and Node.js peers: UTF-8 lines.
//!
//! Inbound, [`LineCodec`] caps line length (tokio-util's `LinesCodec` with a maximum)
//! and turns an oversize line or invalid UTF-8 into an error *item*, so one bad line
//! costs its sender an error message, not the connection. [`parse_line`] maps a line to
//! a [`ClientMsg`] (`/nick`, `/who`, `/quit` or chat); a [`LineParser`] keeps one
//! peer's chat-line numbering, for TCP and UDP alike.
//!
//! Outbound, this is the only place protocol lines are spelled: [`render`] gives the
//! line a text peer sees for each [`ServerMsg`] (the nettool client prints the same),
//! and [`line_within`] the longest form that fits a byte budget (a UDP challenge to an
//! address that may get only 3× what it sent). [`is_server_line`] and [`proof`] read
//! the two things a UDP server checks in a stranger's line; [`parse_notice`] reads a
//! counted notice back into its message for programs that read a server as text.

use super::binary::WireError;
use super::message::{ClientMsg, ServerMsg};
use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder, LinesCodec, LinesCodecError};

/// The marker a nettool client looks for in the server's first line.
pub const BANNER_MARK: &str = "(nettool/1)";
/// Default cap on one text line, in bytes.
pub const DEFAULT_MAX_LINE: usize = 4096;

/// What an idle text connection closed to make room at the server's connection cap is
/// told (it never joined, so it gets no `Bye`).
pub const EVICTED: &str = "* disconnected: server full, and this connection was idle\n";

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
    /// A codec refusing lines longer than `max_line` bytes (without the newline).
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
/// Transports keep the numbering in a [`LineParser`].
pub fn parse_line(line: &str, next_seq: &mut u64) -> Result<Option<ClientMsg>, String> {
    let line = line_end(line);
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

/// One text peer's lines as messages: the one place where a text peer's chat lines are
/// numbered (from 1), for TCP and UDP peers alike.
#[derive(Debug, Default, Clone)]
pub struct LineParser {
    next_seq: u64,
}

impl LineParser {
    /// See [`parse_line`].
    pub fn parse(&mut self, line: &str) -> Result<Option<ClientMsg>, String> {
        parse_line(line, &mut self.next_seq)
    }
}

/// What a UDP text peer types, before its code, to prove its address.
pub const OK_COMMAND: &str = "/ok ";
/// How a notice line starts.
const NOTICE: &str = "* ";
/// How a refusal or error line starts.
const REFUSAL: &str = "! ";

/// The code in a proof-of-address line (`/ok K7Q2MX`), if it is one.
pub fn proof(line: &str) -> Option<&str> {
    line_end(line).strip_prefix(OK_COMMAND)
}

/// A line without its ending: `\n`, `\r\n`, or telnet's `\r\0` (RFC 854: a bare CR is
/// sent as CR NUL, which telnet does when its input is piped).
fn line_end(line: &str) -> &str {
    let line = line.trim_end_matches('\n');
    let line = line.strip_suffix("\r\0").unwrap_or(line);
    line.trim_end_matches(['\r', '\n'])
}

/// Whether a line is one a server sends (a notice or a refusal): a server never answers
/// such a line from a stranger, so two servers cannot be set to answer each other.
pub fn is_server_line(line: &str) -> bool {
    line.starts_with(NOTICE) || line.starts_with(REFUSAL)
}

/// The line (without newline) a person sees for `msg`; `None` for messages with nothing
/// to show (`Pong`). Control characters from the message's fields are shown escaped
/// (see [`defang`]), so the result is always exactly one line.
pub fn render(msg: &ServerMsg) -> Option<String> {
    forms(msg).into_iter().next().map(defang)
}

/// The longest rendering of `msg` that fits in `budget` bytes, newline included: the
/// answer to an address that has not proved itself, which may get at most 3× the bytes
/// it sent. A challenge has shorter forms for short input, down to `* /join` (8 bytes,
/// no code) which asks for a line long enough to carry the code back; other messages
/// have one form. `None` when no form fits.
pub fn line_within(msg: &ServerMsg, budget: usize) -> Option<String> {
    forms(msg)
        .into_iter()
        .map(|l| defang(l) + "\n")
        .find(|l| l.len() <= budget)
}

/// The message a notice line stands for, for programs that read a server as a text peer
/// (the bench's slow readers): `Some` only for a line that is exactly the rendering of
/// a counted notice (`Dropped`).
pub fn parse_notice(line: &str) -> Option<ServerMsg> {
    let line = line.trim_end_matches(['\r', '\n']);
    let count = line
        .strip_prefix(REFUSAL)?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    let msg = ServerMsg::Dropped { count };
    (render(&msg).as_deref() == Some(line)).then_some(msg)
}

/// `line` with every control character but tab escaped (`\n`, `\r`, `\u{1b}`): a chat
/// text from a binary peer, or a `\r` inside a text peer's line, must not start a forged
/// line (`* alice left`) or send terminal escapes to the people reading the room.
pub fn defang(line: String) -> String {
    let harmful = |c: char| c.is_control() && c != '\t';
    // The common case without decoding: a control character is a byte below 0x20 (but
    // tab), 0x7f, or U+0080..=U+009F, whose UTF-8 starts with 0xc2.
    let maybe = |b: &u8| (*b < 0x20 && *b != b'\t') || *b == 0x7f || *b == 0xc2;
    if !line.as_bytes().iter().any(maybe) || !line.contains(harmful) {
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

/// Milliseconds as a person reads them: `30 s`, `0.4 s`.
fn secs(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// Every rendering of `msg`, longest first (most messages have exactly one; `Pong` none).
fn forms(msg: &ServerMsg) -> Vec<String> {
    let one = match msg {
        ServerMsg::Welcome { nick, members, .. } => {
            format!("{NOTICE}you are {nick}; {members} online")
        }
        ServerMsg::Chat { from, text, .. } => format!("{from}: {text}"),
        ServerMsg::Joined { nick, proto } => format!("{NOTICE}{nick} joined ({proto})"),
        ServerMsg::Left { nick, reason } => format!("{NOTICE}{nick} left ({reason})"),
        ServerMsg::Renamed { old, new } => format!("{NOTICE}{old} is now {new}"),
        ServerMsg::Members(members) => {
            let list: Vec<String> = members
                .iter()
                .map(|m| match &m.server {
                    Some(server) => {
                        format!("{} ({} on {server}, {}s)", m.nick, m.proto, m.online_s)
                    }
                    None => format!("{} ({}, {}s)", m.nick, m.proto, m.online_s),
                })
                .collect();
            format!("{NOTICE}online: {}", list.join(", "))
        }
        ServerMsg::Pong { .. } => return Vec::new(),
        ServerMsg::Error(why) => format!("{REFUSAL}{why}"),
        ServerMsg::Bye { reason } => format!("{NOTICE}disconnected: {reason}"),
        ServerMsg::Presence {
            joined,
            left,
            online,
        } => format!("{NOTICE}{joined} joined, {left} left in the last second ({online} online)"),
        ServerMsg::WhoPage {
            page,
            pages,
            online,
        } if page < pages => {
            let next = page + 1;
            format!("{NOTICE}{online} online, page {page} of {pages}: /who {next} for more")
        }
        ServerMsg::WhoPage {
            page,
            pages,
            online,
        } => format!("{NOTICE}{online} online, page {page} of {pages}"),
        ServerMsg::Refused(why) => format!("{REFUSAL}{why}"),
        ServerMsg::Dropped { count } => {
            let s = if *count == 1 { "" } else { "s" };
            format!("{REFUSAL}{count} message{s} dropped: you are reading too slowly")
        }
        ServerMsg::Challenge { code } => return challenge_forms(code, true),
        ServerMsg::Expired { idle_ms, code } => {
            let mut forms = vec![
                format!(
                    "{NOTICE}you were dropped after {} of silence; to rejoin, send the line: {OK_COMMAND}{code}",
                    secs(*idle_ms)
                ),
                format!("{NOTICE}dropped for silence; type {OK_COMMAND}{code}"),
                format!("{NOTICE}dropped: {OK_COMMAND}{code}"),
            ];
            forms.extend(challenge_forms(code, false));
            return forms;
        }
        ServerMsg::Notice(text) => format!("{NOTICE}{text}"),
        ServerMsg::IdleWarning { in_ms } => format!(
            "{NOTICE}you will be dropped in {} unless you send something",
            secs(*in_ms)
        ),
    };
    vec![one]
}

/// A challenge's forms, longest first (`full`: starting with the documented one). None
/// starts with the `/ok` line itself, so a reflector echoing a challenge back does not
/// pass; the last has no code and fits 3× a 3-byte line (`hi` and its newline).
fn challenge_forms(code: &str, full: bool) -> Vec<String> {
    let mut forms = Vec::with_capacity(4);
    if full {
        forms.push(format!(
            "{NOTICE}to join, send the line: {OK_COMMAND}{code}"
        ));
    }
    forms.push(format!("{NOTICE}type {OK_COMMAND}{code}"));
    forms.push(format!("{NOTICE}{OK_COMMAND}{code}"));
    forms.push(format!("{NOTICE}/join"));
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defang_escapes_every_control_character_and_nothing_else() {
        // C0 controls, DEL and C1 controls (U+0085 NEL, U+009B CSI) are escaped; a tab,
        // and characters that share the C1 controls' first UTF-8 byte (U+00A2), are not.
        let cases = [
            ("a\rb\x1b[31m", "a\\rb\\u{1b}[31m"),
            ("del\x7f", "del\\u{7f}"),
            ("nel\u{85} csi\u{9b}", "nel\\u{85} csi\\u{9b}"),
            ("tab\tcent \u{a2} \u{a0}x é", "tab\tcent \u{a2} \u{a0}x é"),
        ];
        for (raw, want) in cases {
            assert_eq!(defang(raw.to_string()), want, "{raw:?}");
        }
    }

    #[test]
    fn a_challenge_takes_the_longest_form_that_fits_three_times_the_input() {
        let c = ServerMsg::Challenge {
            code: "K7Q2MX".into(),
        };
        let at = |input: usize| line_within(&c, 3 * input);
        assert_eq!(at(1), None);
        assert_eq!(at(2), None);
        assert_eq!(at(3).as_deref(), Some("* /join\n"));
        assert_eq!(at(4).as_deref(), Some("* /join\n"));
        assert_eq!(at(5).as_deref(), Some("* /ok K7Q2MX\n"));
        assert_eq!(at(6).as_deref(), Some("* type /ok K7Q2MX\n"));
        assert_eq!(at(12).as_deref(), Some("* type /ok K7Q2MX\n"));
        let full = "* to join, send the line: /ok K7Q2MX\n";
        assert_eq!(at(13).as_deref(), Some(full));
        assert_eq!(render(&c).map(|l| l + "\n").as_deref(), Some(full));
    }

    #[test]
    fn a_dropped_member_is_told_so_when_its_line_leaves_room_for_it() {
        let e = ServerMsg::Expired {
            idle_ms: 30_000,
            code: "K7Q2MX".into(),
        };
        let at = |input: usize| line_within(&e, 3 * input);
        assert_eq!(
            at(30).as_deref(),
            Some(
                "* you were dropped after 30 s of silence; to rejoin, send the line: /ok K7Q2MX\n"
            )
        );
        assert_eq!(
            at(13).as_deref(),
            Some("* dropped for silence; type /ok K7Q2MX\n")
        );
        assert_eq!(at(8).as_deref(), Some("* dropped: /ok K7Q2MX\n"));
        assert_eq!(at(6).as_deref(), Some("* type /ok K7Q2MX\n"));
        assert_eq!(at(3).as_deref(), Some("* /join\n"));
    }

    #[test]
    fn notices_read_as_people_expect() {
        let warn = ServerMsg::IdleWarning { in_ms: 10_000 };
        assert_eq!(
            render(&warn).as_deref(),
            Some("* you will be dropped in 10 s unless you send something")
        );
        let warn = ServerMsg::IdleWarning { in_ms: 133 };
        assert_eq!(
            render(&warn).as_deref(),
            Some("* you will be dropped in 0.1 s unless you send something")
        );
        let full = ServerMsg::Refused(crate::wire::Refusal::ServerFull { max: 4 });
        assert_eq!(
            render(&full).as_deref(),
            Some("! server full (4 connections); try again later")
        );
        for (count, line) in [
            (1, "! 1 message dropped: you are reading too slowly"),
            (37, "! 37 messages dropped: you are reading too slowly"),
        ] {
            let msg = ServerMsg::Dropped { count };
            assert_eq!(render(&msg).as_deref(), Some(line));
            assert_eq!(parse_notice(line), Some(msg));
        }
        assert_eq!(parse_notice("! 3 messages dropped: you are reading"), None);
        assert_eq!(
            parse_notice("! 1 messages dropped: you are reading too slowly"),
            None
        );
        assert_eq!(parse_notice("alice: 3 messages dropped"), None);
    }

    #[test]
    fn telnet_line_endings_are_line_endings() {
        let mut seq = 1;
        assert_eq!(parse_line("/who\r\0", &mut seq), Ok(Some(ClientMsg::Who)));
        assert_eq!(proof("/ok K7Q2MX\r\0"), Some("K7Q2MX"));
    }

    #[test]
    fn proofs_and_server_lines() {
        assert_eq!(proof("/ok K7Q2MX\r\n"), Some("K7Q2MX"));
        assert_eq!(proof("/okay"), None);
        assert!(is_server_line("* to join, send the line: /ok ABCDEF"));
        assert!(is_server_line("! room is full"));
        assert!(!is_server_line("hello *"));
    }
}
