//! Serving one chat room on TCP, UDP or both at once (same port number): every
//! transport feeds the same event channel, and one [`Room`] task consumes it.

use super::room::{Room, RoomConfig, RoomStats};
use crate::bind::{self, Bound};
use crate::tcp::{TcpConfig, TcpTransport};
use crate::transport::Transport;
use crate::udp::{UdpConfig, UdpTransport};
use crate::wire::Proto;
use std::net::SocketAddr;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Events queued from all transports to the room.
const EVENT_QUEUE: usize = 4096;

/// Everything a chat server can be told.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    pub room: RoomConfig,
    pub tcp: TcpConfig,
    pub udp: UdpConfig,
}

/// A chat server, bound and not yet serving.
pub struct Server {
    bound: Bound,
    addr: SocketAddr,
    cfg: ServerConfig,
}

impl Server {
    /// Bind `protos` at `addr` (port 0: any free port, the same for TCP and UDP).
    pub async fn bind(
        addr: SocketAddr,
        protos: &[Proto],
        cfg: ServerConfig,
    ) -> std::io::Result<Server> {
        let bound = bind::bind(addr, protos).await?;
        let addr = bound.local_addr()?;
        Ok(Server { bound, addr, cfg })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `tcp`, `udp` or `tcp+udp`.
    pub fn protos_label(&self) -> &'static str {
        self.bound.protos_label()
    }

    /// Serve until `shutdown` is cancelled; then every member is told, queues are flushed
    /// (within a grace period), and the room's counters are returned.
    pub async fn run(self, shutdown: CancellationToken) -> std::io::Result<RoomStats> {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let mut transports = JoinSet::new();
        if let Some(listener) = self.bound.tcp {
            let t = TcpTransport::new(listener, self.cfg.tcp);
            transports.spawn(t.serve(tx.clone(), shutdown.clone()));
        }
        if let Some(socket) = self.bound.udp {
            let t = UdpTransport::new(socket, self.cfg.udp);
            transports.spawn(t.serve(tx.clone(), shutdown.clone()));
        }
        drop(tx);
        let stats = Room::new(self.cfg.room).run(rx, shutdown.clone()).await;
        // The room has told everyone and closed their sinks: wait for the flushes.
        shutdown.cancel();
        while let Some(r) = transports.join_next().await {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "transport ended with an error"),
                Err(e) => tracing::error!(error = %e, "transport task failed"),
            }
        }
        Ok(stats)
    }
}
