//! The typed messages of the chat protocol, one enum per direction.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The transport protocol a member came in on. Shown to users, never branched on by the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// Transmission Control Protocol: a stream connection.
    Tcp,
    /// User Datagram Protocol: one datagram per message.
    Udp,
    // New variants go last: the binary codec numbers variants in order.
    /// QUIC (over UDP): streams and DATAGRAM frames in one encrypted connection.
    Quic,
    /// TCP with TLS.
    Tls,
}

impl Proto {
    /// Every protocol, in the order the bench shows them.
    pub const ALL: [Proto; 4] = [Proto::Tcp, Proto::Tls, Proto::Udp, Proto::Quic];

    /// Whether it runs over UDP (so it needs a UDP port).
    pub fn is_udp(self) -> bool {
        matches!(self, Proto::Udp | Proto::Quic)
    }

    /// Whether it carries a certificate (TLS or QUIC).
    pub fn is_secure(self) -> bool {
        matches!(self, Proto::Tls | Proto::Quic)
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Quic => "quic",
            Proto::Tls => "tls",
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
    // New variants go last: the binary codec numbers variants in order.
    /// A member on another server of a cluster: that server fell silent (it died, or
    /// its link to the bus did) and the bus's heartbeats expired.
    ServerLost(String),
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
            LeaveReason::ServerLost(server) => write!(f, "its server {server} went silent"),
        }
    }
}

/// One line of a `/who` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// The member's nickname.
    pub nick: String,
    /// The protocol the member is connected over.
    pub proto: Proto,
    /// Seconds since the member joined.
    pub online_s: u64,
    /// The server it is on, in a room that spans servers (`--cluster`); `None` otherwise.
    pub server: Option<String>,
}

/// Client → server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// Join (or, over UDP, repeat the join when the `Welcome` was lost).
    Hello {
        /// The nickname asked for; the server picks one if `None`.
        nick: Option<String>,
    },
    /// A chat line. `seq` counts the sender's lines from 1; `sent_us` is its send time.
    Say {
        /// The sender's line number, counting from 1.
        seq: u64,
        /// When the sender sent it, in µs since the Unix epoch.
        sent_us: u64,
        /// The line itself.
        text: String,
    },
    /// Rename.
    Nick(String),
    /// List members.
    Who,
    /// Keepalive (UDP), also answered with `Pong` so a client can time the path.
    Ping {
        /// The client's clock when sent, in µs; echoed in the `Pong`.
        t_us: u64,
    },
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
        /// The nickname you were given (the one asked for, or one the server chose).
        nick: String,
        /// The protocol you are connected over.
        proto: Proto,
        /// Members online, including you.
        members: u32,
        /// How often, in ms, a UDP client must send something to stay a member.
        keepalive_ms: u64,
    },
    /// A member's chat line, relayed with the sender's own sequence number and send time.
    Chat {
        /// The sender's nickname.
        from: String,
        /// The sender's own sequence number for the line, from 1.
        seq: u64,
        /// When the sender sent it, in µs since the Unix epoch.
        sent_us: u64,
        /// The line itself.
        text: String,
    },
    /// A member joined the room.
    Joined {
        /// Its nickname.
        nick: String,
        /// The protocol it joined over.
        proto: Proto,
    },
    /// A member left the room.
    Left {
        /// Its nickname.
        nick: String,
        /// Why it left.
        reason: LeaveReason,
    },
    /// A member changed its nickname.
    Renamed {
        /// The nickname it had.
        old: String,
        /// The nickname it has now.
        new: String,
    },
    /// Members online, the answer to `/who` (one page of it in a large room).
    Members(Vec<MemberInfo>),
    /// The answer to a `Ping`.
    Pong {
        /// The `t_us` of the ping answered, echoed unchanged.
        t_us: u64,
    },
    /// Your last input was refused; you stay connected unless a `Bye` follows.
    Error(String),
    /// You are being disconnected.
    Bye {
        /// Why you are disconnected.
        reason: LeaveReason,
    },
    // New variants go last: the binary codec numbers variants in order.
    /// In a large room, joins and leaves are not announced one by one: this sums them
    /// up once per second (`* 37 joined, 5 left in the last second (20000 online)`).
    Presence {
        /// Members that joined in the last second.
        joined: u32,
        /// Members that left in the last second.
        left: u32,
        /// Members online now.
        online: u32,
    },
    /// Follows the `Members` messages of one `/who` page: which page this was, of how
    /// many, and how many are online.
    WhoPage {
        /// This page's number, from 1.
        page: u32,
        /// Pages in all.
        pages: u32,
        /// Members online now.
        online: u32,
    },
    /// You were turned away before joining; the server closes (TCP) or forgets you (UDP).
    Refused(Refusal),
    /// Messages meant for you were discarded because you read too slowly (the
    /// drop-oldest policy); sent ahead of the next message you do get.
    Dropped {
        /// Messages discarded since the last one delivered.
        count: u64,
    },
    /// UDP, to a text peer whose address is not validated yet: send the line
    /// `/ok CODE` to join (see `crate::udp`).
    Challenge {
        /// The code to send back as `/ok CODE`.
        code: String,
    },
    /// UDP, to a text peer that was dropped after `idle_ms` of silence and has spoken
    /// again: it is not a member any more; `/ok CODE` rejoins.
    Expired {
        /// The silence, in ms, after which the peer was dropped.
        idle_ms: u64,
        /// The code to send back as `/ok CODE` to rejoin.
        code: String,
    },
    /// UDP, to a silent text member: it will be dropped in `in_ms` unless it sends
    /// something.
    IdleWarning {
        /// Time left before the member is dropped, in ms.
        in_ms: u64,
    },
    /// A notice about the room itself (`* cluster link lost: …`).
    Notice(String),
}

/// Why a peer is turned away before it joins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// TCP: the server holds its maximum of `max` connections.
    ServerFull {
        /// The connection cap.
        max: u64,
    },
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
    Retry {
        /// The token to send back, bound to the client's address.
        token: [u8; 8],
    },
    /// Client → server: a `Hello` carrying the token of a `Retry`.
    Hello {
        /// The token of the server's `Retry`, bound to the client's address.
        token: [u8; 8],
        /// The nickname asked for, if any.
        nick: Option<String>,
    },
}
