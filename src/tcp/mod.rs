//! TCP: the listener, connection tracking, and per-connection reader/writer tasks.

use std::time::Duration;

/// TCP limits and timeouts.
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// Connections at most, joined or not; one more gets a refusal line and is closed.
    pub max_conns: usize,
    /// Longest text line (bytes).
    pub max_line: usize,
    /// Largest binary frame payload (bytes).
    pub max_frame: usize,
    /// Outbound messages queued per connection before it counts as too slow.
    pub queue: usize,
    /// How long a new connection has to show it is a nettool client before it is taken
    /// for a text peer.
    pub detect: Duration,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_conns: 1024,
            max_line: crate::wire::text::DEFAULT_MAX_LINE,
            max_frame: crate::wire::binary::DEFAULT_MAX_FRAME,
            queue: 1024,
            detect: Duration::from_millis(500),
        }
    }
}
