//! Echo: the RFC 862 server ([`Server`], TCP and UDP on one port by default, with the
//! bench's stream sink beside it) and the ping-like client ([`ping`]).

pub mod client;
pub mod pinger;
mod server;

pub use client::{ping, PingConfig, PingReply, PingSummary};

use crate::sockets::{self, Bound};
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
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_datagram: 65_507,
            max_conns: 1024,
        }
    }
}

/// A bound echo server.
pub struct Server {
    bound: Bound,
    addr: SocketAddr,
    cfg: ServerConfig,
}

impl Server {
    pub async fn bind(
        addr: SocketAddr,
        protos: &[Proto],
        cfg: ServerConfig,
    ) -> std::io::Result<Server> {
        let bound = sockets::bind(addr, protos).await?;
        let addr = bound.local_addr()?;
        Ok(Server { bound, addr, cfg })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serve until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let tcp = self
            .bound
            .tcp
            .map(|l| tokio::spawn(server::tcp(l, self.cfg.clone(), shutdown.clone())));
        let udp = self
            .bound
            .udp
            .map(|u| tokio::spawn(server::udp(u, self.cfg.clone(), shutdown.clone())));
        for task in [tcp, udp].into_iter().flatten() {
            task.await.map_err(std::io::Error::other)??;
        }
        Ok(())
    }
}
