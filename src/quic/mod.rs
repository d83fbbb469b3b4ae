//! QUIC (quinn, rustls on aws-lc-rs): the third transport, beside [`crate::tcp`] and
//! [`crate::udp`], for the chat room ([`QuicTransport`]) and the echo service
//! ([`echo`]).
//!
//! | module | owns |
//! | --- | --- |
//! | [`endpoint`] | sockets, transport parameters, server and client crypto, connecting |
//! | `transport` | the chat transport: Retry, the connection cap, one task per member |
//! | `member` | one member: its bidirectional stream in, its events to the room |
//! | `sink` | the room's handle: a bounded queue, and a writer with a stream per sender |
//! | [`client`] | the chat client's link: a stream of messages in, a sink of messages out |
//! | [`echo`] | the echo server (RFC 862 per stream, DATAGRAM echo) and its clients |
//! | [`stats`] | quinn's connection statistics as the bench's congestion-control view |
//!
//! # Chat over QUIC (ALPN `nettool-chat`)
//!
//! A member opens one bidirectional stream and sends nettool's preamble
//! (`\0nettool/1\n`, or `\0nettool/1d\n` for unreliable relay), then its messages as
//! frames (4-byte big-endian length, bincode), starting with `Hello`. The server answers
//! on that stream with what is for this member alone (welcome, `/who`, errors,
//! goodbye). Everything one *sender* says (its join, lines, rename, leave) comes on a
//! unidirectional stream of that sender's own, opened by the server, one per sender and
//! join: a packet lost from one sender's stream holds back that sender's lines only,
//! where TCP would hold back everyone's. With `\0nettool/1d\n` chat lines come as
//! DATAGRAM frames instead (in the UDP datagram form, `0x00 0x01` + bincode), unreliable
//! and counted per sender as over UDP, and the member may send its own lines that way.

pub mod client;
pub mod echo;
pub mod endpoint;
mod member;
mod sink;
pub mod stats;
mod transport;

pub use transport::QuicTransport;

use crate::tcp::writer::QueueLimits;
use crate::tcp::SlowPolicy;
use std::time::Duration;

/// Re-exported for the bind seam: a UDP socket for QUIC.
pub mod socket {
    pub use super::endpoint::socket as bind;
}

/// What a QUIC chat member's preamble says about delivery.
pub const PREAMBLE_DATAGRAMS: &[u8] = b"\0nettool/1d\n";

/// Default cap on QUIC connections.
pub const DEFAULT_MAX_CONNS: usize = 10_240;

/// QUIC chat limits and timeouts.
#[derive(Debug, Clone)]
pub struct QuicConfig {
    /// Connections at most; more are refused (CONNECTION_REFUSED).
    pub max_conns: usize,
    /// Largest frame a member may send.
    pub max_frame: usize,
    /// Outbound queue per member, and what happens when it is full (as TCP's).
    pub queue: QueueLimits,
    /// A connection silent this long is closed (clients send keep-alives).
    pub idle_timeout: Duration,
    /// The handshake and the member's `Hello` must be done within this long.
    pub handshake_timeout: Duration,
    /// Validate each client's address with a Retry before any state is kept.
    pub retry: bool,
    /// How long a closing member (or all of them at shutdown) may take to flush.
    pub grace: Duration,
}

impl Default for QuicConfig {
    fn default() -> Self {
        QuicConfig {
            max_conns: DEFAULT_MAX_CONNS,
            max_frame: crate::wire::binary::DEFAULT_MAX_FRAME,
            queue: QueueLimits {
                messages: crate::tcp::DEFAULT_QUEUE,
                bytes: crate::tcp::DEFAULT_QUEUE_BYTES,
                policy: SlowPolicy::default(),
            },
            idle_timeout: endpoint::DEFAULT_IDLE_TIMEOUT,
            handshake_timeout: crate::tcp::DEFAULT_HANDSHAKE_TIMEOUT,
            retry: true,
            grace: Duration::from_secs(5),
        }
    }
}
