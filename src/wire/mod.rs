//! Wire formats: the typed messages ([`ClientMsg`], [`ServerMsg`]) and the two ways
//! they travel.
//!
//! * [`binary`]: nettool ↔ nettool. bincode 2 (serde, standard config, size limit)
//!   inside a 4-byte length-delimited frame on TCP, or one tagged datagram on UDP.
//! * [`text`]: UTF-8 lines for netcat, telnet, socat and Node.js peers.
//! * [`outgoing`]: a server message encoded lazily, at most once per form, and shared
//!   by every recipient of a broadcast.
//!
//! bincode is only ever named in `binary.rs`, so changing the encoding touches one file.

pub mod binary;
mod message;
pub mod outgoing;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing;
pub mod text;

pub use message::{ClientMsg, Handshake, LeaveReason, MemberInfo, Proto, Refusal, ServerMsg};
pub use outgoing::Outgoing;

/// The ALPN name of nettool's chat protocol, over QUIC (and offered over TLS).
pub const ALPN_CHAT: &[u8] = b"nettool-chat";
/// The ALPN name of nettool's echo service, over QUIC (and offered over TLS): every
/// bidirectional stream is echoed byte for byte until the client finishes it, every
/// DATAGRAM frame answered with one carrying the same bytes.
pub const ALPN_ECHO: &[u8] = b"nettool-echo";

/// Microseconds since the Unix epoch, the unit of every timestamp on the wire.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
