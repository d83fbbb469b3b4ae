//! The typed messages of the chat protocol, one enum per direction.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The transport protocol a member came in on. Shown to users, never branched on by the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// Why a member left the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeaveReason {
    /// The member said `/quit` (or sent a binary `Bye`).
    Quit,
    /// TCP: the peer closed its side cleanly.
    Closed,
    /// TCP: the connection was reset.
    Reset,
    /// UDP: no datagram for the idle timeout.
    TimedOut,
    /// Its outbound queue filled up: it did not read fast enough.
    TooSlow,
    /// The server is shutting down.
    Shutdown,
    /// It sent input the server could not accept (oversize frame, too many malformed frames).
    BadInput(String),
    /// An I/O error other than a reset.
    Error(String),
}

impl fmt::Display for LeaveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaveReason::Quit => f.write_str("quit"),
            LeaveReason::Closed => f.write_str("closed"),
            LeaveReason::Reset => f.write_str("reset"),
            LeaveReason::TimedOut => f.write_str("timed out"),
            LeaveReason::TooSlow => f.write_str("too slow"),
            LeaveReason::Shutdown => f.write_str("server shutdown"),
            LeaveReason::BadInput(why) => write!(f, "bad input: {why}"),
            LeaveReason::Error(why) => write!(f, "error: {why}"),
        }
    }
}

/// One line of a `/who` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub nick: String,
    pub proto: Proto,
    /// Seconds since the member joined.
    pub online_s: u64,
}

/// Client → server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// Join (or, over UDP, repeat the join when the `Welcome` was lost).
    Hello { nick: Option<String> },
    /// A chat line. `seq` counts the sender's lines from 1; `sent_us` is its send time.
    Say {
        seq: u64,
        sent_us: u64,
        text: String,
    },
    /// Rename.
    Nick(String),
    /// List members.
    Who,
    /// Keepalive (UDP), also answered with `Pong` so a client can time the path.
    Ping { t_us: u64 },
    /// Leave.
    Bye,
    /// List members, page `n` (from 1) of a large room; `Who` is page 1.
    WhoPage(u32),
}

/// Server → client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerMsg {
    /// You joined as `nick`; `members` are online including you. A UDP client must send
    /// something at least every `keepalive_ms`.
    Welcome {
        nick: String,
        proto: Proto,
        members: u32,
        keepalive_ms: u64,
    },
    /// A member's chat line, relayed with the sender's own sequence number and send time.
    Chat {
        from: String,
        seq: u64,
        sent_us: u64,
        text: String,
    },
    Joined {
        nick: String,
        proto: Proto,
    },
    Left {
        nick: String,
        reason: LeaveReason,
    },
    Renamed {
        old: String,
        new: String,
    },
    Members(Vec<MemberInfo>),
    Pong {
        t_us: u64,
    },
    /// Your last input was refused; you stay connected unless a `Bye` follows.
    Error(String),
    /// You are being disconnected.
    Bye {
        reason: LeaveReason,
    },
    // New variants go last: the binary codec numbers variants in order.
    /// In a large room, joins and leaves are not announced one by one: this sums them
    /// up once per second (`* 37 joined, 5 left in the last second (20000 online)`).
    Presence {
        joined: u32,
        left: u32,
        online: u32,
    },
    /// Follows the `Members` messages of one `/who` page: which page this was, of how
    /// many, and how many are online.
    WhoPage {
        page: u32,
        pages: u32,
        online: u32,
    },
    /// You were turned away before joining; the server closes (TCP) or forgets you (UDP).
    Refused(Refusal),
    /// Messages meant for you were discarded because you read too slowly (the
    /// drop-oldest policy); sent ahead of the next message you do get.
    Dropped {
        count: u64,
    },
    /// UDP, to a text peer whose address is not validated yet: send the line
    /// `/ok CODE` to join (see `crate::udp`).
    Challenge {
        code: String,
    },
    /// UDP, to a text peer that was dropped after `idle_ms` of silence and has spoken
    /// again: it is not a member any more; `/ok CODE` rejoins.
    Expired {
        idle_ms: u64,
        code: String,
    },
    /// UDP, to a silent text member: it will be dropped in `in_ms` unless it sends
    /// something.
    IdleWarning {
        in_ms: u64,
    },
}

/// Why a peer is turned away before it joins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// TCP: the server holds its maximum of `max` connections.
    ServerFull { max: u64 },
    /// UDP: the registry of members is full.
    RoomFull,
    /// TCP: a nettool preamble was begun and not finished in time.
    PreambleTimedOut,
    /// TCP: the first byte was NUL, but what followed is not nettool's preamble.
    BadPreamble,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::ServerFull { max } => {
                write!(f, "server full ({max} connections); try again later")
            }
            Refusal::RoomFull => f.write_str("room is full"),
            Refusal::PreambleTimedOut => f.write_str("timed out: incomplete nettool preamble"),
            Refusal::BadPreamble => f.write_str("unrecognised binary preamble"),
        }
    }
}

/// UDP address validation, below the room (like QUIC's Retry token, RFC 9000 §8.1): a
/// server keeps no state for an address it has not validated, so it answers a stranger's
/// `Hello` with a `Retry` carrying a token bound to that address, and only a `Hello`
/// that carries the token back joins the room. The room never sees these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Handshake {
    /// Server → client: say `Hello` again with this token.
    Retry { token: [u8; 8] },
    /// Client → server: a `Hello` carrying the token of a `Retry`.
    Hello {
        token: [u8; 8],
        nick: Option<String>,
    },
}
