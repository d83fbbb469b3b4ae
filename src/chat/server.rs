//! Serving one chat room on any list of transports (`--proto both`: TCP and UDP on one
//! port number): every transport feeds the same event channel, and one [`Room`] task
//! consumes it. The server knows protocols only in [`bind_transport`].

use super::room::{Room, RoomConfig, RoomStats};
use crate::bind;
use crate::tcp::{TcpConfig, TcpTransport};
use crate::transport::AnyTransport;
use crate::udp::{UdpConfig, UdpTransport};
use crate::wire::Proto;
use std::io;
use std::net::SocketAddr;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Events queued from all transports to the room.
const EVENT_QUEUE: usize = 4096;

/// Everything a chat server can be told.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// The room: member cap, text limits, announcements.
    pub room: RoomConfig,
    /// The TCP transport: connection cap, queues, timeouts.
    pub tcp: TcpConfig,
    /// The UDP transport: member cap, budgets, idle timeout.
    pub udp: UdpConfig,
}

/// A chat server, bound and not yet serving.
pub struct Server {
    transports: Vec<AnyTransport>,
    addr: SocketAddr,
    room: RoomConfig,
}

/// The protocols a room can be served on, and how each is bound: the one place a new
/// transport is listed.
fn bind_transport(proto: Proto, addr: SocketAddr, cfg: &ServerConfig) -> io::Result<AnyTransport> {
    match proto {
        Proto::Tcp => TcpTransport::bind(addr, cfg.tcp.clone()).map(AnyTransport::new),
        Proto::Udp => UdpTransport::bind(addr, cfg.udp.clone()).map(AnyTransport::new),
    }
}

impl Server {
    /// Bind `protos` at `addr` (port 0: any free port, the same for every protocol).
    pub async fn bind(addr: SocketAddr, protos: &[Proto], cfg: ServerConfig) -> io::Result<Server> {
        let transports = bind::on_one_port(
            addr,
            protos,
            |proto, addr| bind_transport(proto, addr, &cfg),
            |t| t.local_addr().map(|a| a.port()),
        )?;
        Ok(Server::new(transports, cfg.room))
    }

    /// A server over transports bound elsewhere (any protocol, in-memory ones too).
    pub fn new(transports: Vec<AnyTransport>, room: RoomConfig) -> Server {
        let addr = transports
            .first()
            .and_then(|t| t.local_addr().ok())
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        Server {
            transports,
            addr,
            room,
        }
    }

    /// The address served on (every transport shares the port).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The protocols served, as `tcp`, `udp` or `tcp+udp`.
    pub fn protos_label(&self) -> String {
        bind::label(self.transports.iter().map(|t| t.proto()))
    }

    /// Serve until `shutdown` is cancelled; then every member is told, queues are flushed
    /// (within a grace period), and the room's counters are returned.
    pub async fn run(self, shutdown: CancellationToken) -> io::Result<RoomStats> {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let mut serving = JoinSet::new();
        for t in self.transports {
            serving.spawn(t.serve(tx.clone(), shutdown.clone()));
        }
        drop(tx);
        let stats = Room::new(self.room).run(rx, shutdown.clone()).await;
        // The room has told everyone and closed their sinks: wait for the flushes.
        shutdown.cancel();
        while let Some(r) = serving.join_next().await {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "transport ended with an error"),
                Err(e) => tracing::error!(error = %e, "transport task failed"),
            }
        }
        Ok(stats)
    }
}
