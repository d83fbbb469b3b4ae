//! The chat client: [`connect`] (binary protocol, or text fallback against a server
//! that is not nettool), `stats` (loss, reorder, duplicates, latency from sequence
//! numbers), [`run`] (the interactive loop over any reader/writer, and how it ended)
//! and `stdio` (the `nettool chat` command: stdin/stdout, signals, exit status).

pub(crate) mod connect;
mod run;
mod stats;
mod stdio;

pub use connect::{connect, Conn, Incoming, Mode};
pub use run::{run, run_until, End};
pub use stats::{ClientStats, StatsReport};
pub use stdio::run_stdio;

use crate::wire::Proto;
use std::net::SocketAddr;
use std::time::Duration;

/// How a client connects.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server's address.
    pub addr: SocketAddr,
    /// The protocol to connect over.
    pub proto: Proto,
    /// The nickname to ask for; the server picks one if `None`.
    pub nick: Option<String>,
    /// Longest text line accepted from the server, in bytes.
    pub max_line: usize,
    /// Longest binary frame accepted from the server (TCP), in bytes.
    pub max_frame: usize,
    /// Largest datagram accepted from the server (UDP), in bytes.
    pub max_datagram: usize,
    /// Print the stats report as JSON on exit.
    pub json: bool,
    /// How long to wait for a nettool server to show itself before falling back to text:
    /// over UDP the first `Hello` waits a quarter of it (then twice as long each time);
    /// over TCP the banner is waited for three times it.
    pub detect: Duration,
    /// UDP: `Hello`s sent (with doubling waits) before falling back to text.
    pub hello_tries: u32,
    /// TLS and QUIC: how the server's certificate is trusted.
    pub trust: crate::cert::Trust,
    /// TLS and QUIC: the key exchange groups offered.
    pub kx: crate::cert::Kx,
    /// QUIC: chat lines as DATAGRAM frames (unreliable, counted per sender as over UDP)
    /// instead of a stream per sender.
    pub datagrams: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            addr: ([127, 0, 0, 1], crate::addr::CHAT_PORT).into(),
            proto: Proto::Tcp,
            nick: None,
            max_line: crate::wire::text::DEFAULT_MAX_LINE,
            max_frame: crate::wire::binary::DEFAULT_MAX_FRAME,
            max_datagram: crate::wire::binary::DEFAULT_MAX_DATAGRAM,
            json: false,
            detect: connect::DEFAULT_DETECT,
            hello_tries: 4,
            trust: crate::cert::Trust::default(),
            kx: crate::cert::Kx::default(),
            datagrams: false,
        }
    }
}
