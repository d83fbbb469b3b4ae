//! Echo: the RFC 862 server ([`Server`], TCP and UDP on one port by default, with the
//! bench's stream sink beside it) and the ping-like client ([`ping`]).
//!
//! The UDP server is not a reflector: it never answers a privileged or well-known
//! responder port, nor its own (see `crate::udp::reflect`), never answers with more
//! bytes than it got, and answers each source address at most
//! [`ServerConfig::udp_rate`] datagrams per second (a bounded table of token buckets).
//! The stream sink's data datagrams are counted, never answered, so they are exempt;
//! its report requests are answered like echo, on the same budget.

pub mod client;
mod discard;
pub(crate) mod pinger;
mod server;
pub mod sink;

pub use client::{ping, ping_stdio, ping_until, PingConfig, PingReply, PingSummary, MAX_PING_SIZE};

use crate::bind::{self, Socket};
use crate::udp::budget::Rate;
use crate::wire::Proto;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

/// Echo server limits.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Larger datagrams are dropped unanswered.
    pub max_datagram: usize,
    /// TCP connections at most; more are closed at once.
    pub max_conns: usize,
    /// UDP datagrams answered per second per source address (IPv6: per /64).
    pub udp_rate: Rate,
    /// Source addresses whose budget is tracked at once.
    pub max_sources: usize,
    /// The certificate TLS and QUIC serve (needed only for them).
    pub identity: Option<std::sync::Arc<crate::cert::Identity>>,
    /// The key exchange groups TLS and QUIC offer.
    pub kx: crate::cert::Kx,
}

/// Default [`ServerConfig::max_datagram`]: the largest UDP payload over IPv4.
pub const DEFAULT_MAX_DATAGRAM: usize = 65_507;
/// Default [`ServerConfig::max_conns`].
pub const DEFAULT_MAX_CONNS: usize = 1024;
/// Default UDP datagrams answered per second per source: well above what one
/// `nettool bench` round-trip loop does on loopback, far below a flood.
pub const DEFAULT_UDP_RATE: u32 = 100_000;
/// Default burst above [`DEFAULT_UDP_RATE`].
pub const DEFAULT_UDP_BURST: u32 = 10_000;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_datagram: DEFAULT_MAX_DATAGRAM,
            max_conns: DEFAULT_MAX_CONNS,
            udp_rate: Rate::new(DEFAULT_UDP_RATE, DEFAULT_UDP_BURST),
            max_sources: 4096,
            identity: None,
            kx: crate::cert::Kx::default(),
        }
    }
}

/// A bound echo server.
pub struct Server {
    sockets: Vec<Socket>,
    addr: SocketAddr,
    cfg: ServerConfig,
}

impl Server {
    /// Bind `addr` for each of `protos` (one port for both; port 0 picks a free one).
    pub async fn bind(
        addr: SocketAddr,
        protos: &[Proto],
        cfg: ServerConfig,
    ) -> std::io::Result<Server> {
        let sockets = bind::sockets(addr, protos)?;
        let addr = match sockets.first() {
            Some(s) => s.local_addr()?,
            None => addr,
        };
        Ok(Server { sockets, addr, cfg })
    }

    /// The address bound (with the port chosen if 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `tcp`, `udp` or `tcp+udp`.
    pub fn protos_label(&self) -> String {
        bind::label(self.sockets.iter().map(Socket::proto))
    }

    /// Each protocol and its address.
    pub fn bound(&self) -> Vec<(Proto, SocketAddr)> {
        self.sockets
            .iter()
            .filter_map(|s| Some((s.proto(), s.local_addr().ok()?)))
            .collect()
    }

    /// The protocols and where each is served, for the start-up line (see
    /// `crate::chat::Server::describe`).
    pub fn describe(&self) -> String {
        bind::describe(&self.bound())
    }

    /// Serve until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let identity = || {
            self.cfg.identity.clone().ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "TLS and QUIC need a certificate",
                )
            })
        };
        let mut tasks = Vec::new();
        for socket in self.sockets {
            let (cfg, stop) = (self.cfg.clone(), shutdown.clone());
            tasks.push(match socket {
                Socket::Tcp(l) => tokio::spawn(server::tcp(l, None, cfg, stop)),
                Socket::Tls(l) => {
                    let id = identity()?;
                    let tls =
                        crate::tcp::tls::acceptor(&id, cfg.kx).map_err(std::io::Error::other)?;
                    tokio::spawn(server::tcp(l, Some(tls), cfg, stop))
                }
                Socket::Udp(u) => tokio::spawn(server::udp(u, cfg, stop)),
                Socket::Quic(u) => {
                    let id = identity()?;
                    tokio::spawn(async move {
                        crate::quic::echo::serve(u, &id, cfg.kx, cfg.max_conns, stop).await
                    })
                }
            });
        }
        for task in tasks {
            task.await.map_err(std::io::Error::other)??;
        }
        Ok(())
    }
}
