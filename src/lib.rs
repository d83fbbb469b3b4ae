//! nettool: one chat room and one echo service over TCP *and* UDP, and a benchmark that
//! measures the difference.
//!
//! Module map (protocol differences live in [`tcp`] and [`udp`]; everything above the
//! [`transport::Transport`] trait is written once):
//!
//! | module | owns |
//! | --- | --- |
//! | [`transport`] | the contract: `Transport`, `PeerId`, `Event`, `PeerSink` |
//! | [`wire`] | message types, binary codec (bincode + framing), text codec |
//! | [`room`] | the chat room, one task over any transports |
//! | [`seq`] | per-sender sequence tracking: gaps, reorders, duplicates |
//! | [`chat`] | serving a room on TCP, UDP or both; wiring for the binary |
//! | [`client`] | the chat client: connect (binary or text fallback), stats, interactive loop |
//! | [`tcp`] | TCP listener, connection tracking, per-connection reader/writer tasks |
//! | [`udp`] | UDP socket setup, peer registry keyed by `SocketAddr`, expiry; address validation, rate budgets, reflection guard |
//! | [`bench`] | `nettool bench`: round trip, stream, chat fan-out, setup cost; table, JSON, SVG |
//! | [`echo`] | RFC 862 echo server and the ping-like echo client |
//! | [`lab`] | the link lab: an impaired path (TUN + network namespace) for `nettool lab` and `bench --link` |
//! | [`addr`] | command-line addresses and durations |
//! | [`shutdown`] | Ctrl-C / SIGTERM as a cancellation token |
//! | [`sockets`] | binding TCP, UDP or both on one port (socket2 stays here) |

pub mod addr;
pub mod bench;
pub mod chat;
pub mod client;
pub mod echo;
pub mod lab;
pub mod room;
pub mod seq;
pub mod shutdown;
pub mod sockets;
pub mod tcp;
pub mod transport;
pub mod udp;
pub mod wire;
