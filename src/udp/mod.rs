//! UDP: socket setup, the peer registry keyed by `SocketAddr`, idle expiry.

use std::time::Duration;

/// UDP limits and timeouts.
#[derive(Debug, Clone)]
pub struct UdpConfig {
    /// Largest datagram accepted or sent (bytes).
    pub max_datagram: usize,
    /// Registered peers at most.
    pub max_peers: usize,
    /// A peer silent this long is dropped.
    pub idle_timeout: Duration,
}

impl Default for UdpConfig {
    fn default() -> Self {
        UdpConfig {
            max_datagram: crate::wire::binary::DEFAULT_MAX_DATAGRAM,
            max_peers: 1024,
            idle_timeout: Duration::from_secs(30),
        }
    }
}
