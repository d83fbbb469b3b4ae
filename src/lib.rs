//! nettool: one chat room and one echo service over TCP *and* UDP, and a benchmark that
//! measures the difference.
//!
//! Module map. Protocol differences live in [`tcp`] and [`udp`]; everything above the
//! [`transport::Transport`] trait is written once. Applications ([`chat`], [`echo`],
//! [`bench`](mod@bench)) import transports and [`wire`]; transports never import applications.
//!
//! | module | owns |
//! | --- | --- |
//! | [`transport`] | the contract: `Transport`, `PeerId`, `Event`, `PeerSink` |
//! | [`wire`] | message types, binary codec (bincode + framing), text codec; every byte a peer receives is rendered here |
//! | [`tcp`] | every TCP socket: chat transport (listener, tracking, reader/writer), socket set-up |
//! | [`quic`] | QUIC (quinn): chat transport with a stream per sender and DATAGRAM relay, echo server and clients |
//! | [`udp`] | every UDP socket: chat transport (registry keyed by `SocketAddr`, address validation, budgets), reflection guard, batched I/O (GSO/GRO) |
//! | [`cert`] | certificates and trust for TLS and QUIC: self-signed identity kept like a host key, known hosts (TOFU), pins |
//! | `bind` | serving one address over TCP, UDP or both on one port |
//! | [`chat`] | the chat application: room, server, client |
//! | [`cluster`] | one room across servers over NATS: the bus as one more source of the room's events |
//! | [`echo`] | the echo application: RFC 862 server, ping client, the bench's stream sink |
//! | [`bench`](mod@bench) | `nettool bench`: round trip, stream, chat fan-out, setup cost; table, JSON, SVG |
//! | [`lab`] | the link lab: an impaired path (TUN + network namespace) for `nettool lab` and `bench --link` |
//! | `measure` | latency percentiles and per-sender sequence tracking |
//! | [`addr`] | command-line addresses and durations |
//! | [`limits`] | the open-file limit, raised to what the caps need |
//! | [`output`] | results on stdout, a closed pipe an error rather than a panic |
//! | [`shutdown`] | Ctrl-C / SIGTERM as a cancellation token |

// One function may use `unsafe`: `tcp::info`'s getsockopt(TCP_INFO), which no maintained
// crate wraps (see its module docs). Everything else is denied it.
#![deny(unsafe_code)]
#![warn(unreachable_pub, missing_docs)]

pub mod addr;
pub mod bench;
mod bind;
pub mod cert;
pub mod chat;
pub mod cluster;
pub mod echo;
pub mod lab;
pub mod limits;
mod measure;
pub mod output;
pub mod quic;
pub mod shutdown;
pub mod tcp;
pub mod transport;
pub mod udp;
pub mod wire;
