//! What a room can be told ([`RoomConfig`], each default a constant beside it) and
//! what it counts ([`RoomStats`]).

use std::time::Duration;

/// Default room size: 10 000 members over each of TCP and UDP.
pub const DEFAULT_MAX_MEMBERS: usize = 20_000;
/// Default size beyond which joins and leaves are summed up, not announced one by one.
pub const DEFAULT_ANNOUNCE_LIMIT: usize = 100;
/// Default number of members in one `/who` page.
pub const DEFAULT_WHO_PAGE: usize = 64;

/// Room limits.
#[derive(Debug, Clone)]
pub struct RoomConfig {
    /// Members at most; one more is refused with an error.
    pub max_members: usize,
    /// Longest chat line in bytes (so every relayed message fits a UDP datagram).
    pub max_text: usize,
    /// How often UDP clients must send something (told to them in `Welcome`).
    pub keepalive: Duration,
    /// Beyond this many members, joins, leaves and renames are no longer announced one
    /// by one (see the module docs).
    pub announce_limit: usize,
    /// Members per `/who` page.
    pub who_page: usize,
    /// This server's name in a room across servers (`--cluster`): shown in `/who` and
    /// deciding nickname clashes (see `room::relay`); `None` for a room on one server.
    pub server: Option<String>,
}

/// Default [`RoomConfig::max_text`].
pub const DEFAULT_MAX_TEXT: usize = 1024;
/// Default [`RoomConfig::keepalive`]: a third of the UDP transport's default idle timeout.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(10);

impl Default for RoomConfig {
    fn default() -> Self {
        RoomConfig {
            max_members: DEFAULT_MAX_MEMBERS,
            max_text: DEFAULT_MAX_TEXT,
            keepalive: DEFAULT_KEEPALIVE,
            announce_limit: DEFAULT_ANNOUNCE_LIMIT,
            who_page: DEFAULT_WHO_PAGE,
            server: None,
        }
    }
}

/// What the room counted over its life.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RoomStats {
    /// Members that joined.
    pub joined: u64,
    /// Peers turned away (the room was full).
    pub refused: u64,
    /// Messages members sent (chat lines and commands).
    pub messages_in: u64,
    /// Chat messages handed to members' sinks.
    pub delivered: u64,
    /// Members dropped because their queue was full (too slow).
    pub dropped_slow: u64,
    /// Inputs refused as invalid (the member stayed).
    pub invalid: u64,
    /// `Presence` summaries broadcast (a large room's joins and leaves).
    pub presence: u64,
}
