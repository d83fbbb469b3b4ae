//! Serving one chat room on any list of transports (`--proto all`: TCP and UDP on one
//! port number, QUIC on the next): every transport feeds the same event channel, and
//! one [`Room`] task consumes it. The server knows protocols only in [`bind_transport`].
//! Other sources of the room's events (the cluster's bus) are added with
//! [`Server::add_source`].

use super::room::{Room, RoomConfig, RoomStats};
use crate::bind;
use crate::cert::{Identity, Kx};
use crate::quic::{QuicConfig, QuicTransport};
use crate::tcp::{TcpConfig, TcpTransport};
use crate::transport::{AnyTransport, EventTx, Serving};
use crate::udp::{UdpConfig, UdpTransport};
use crate::wire::Proto;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
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
    /// The QUIC transport: connection cap, queues, idle timeout, Retry.
    pub quic: QuicConfig,
    /// The certificate TLS and QUIC serve (needed only for them).
    pub identity: Option<Arc<Identity>>,
    /// The key exchange groups TLS and QUIC offer.
    pub kx: Kx,
}

/// A source of room events other than a transport (the cluster's bus), started with the
/// room and given its channel and the shutdown token.
pub type Source = Box<dyn FnOnce(EventTx, CancellationToken) -> Serving + Send>;

/// A chat server, bound and not yet serving.
pub struct Server {
    transports: Vec<AnyTransport>,
    sources: Vec<Source>,
    addr: SocketAddr,
    room: RoomConfig,
}

/// The certificate a secure protocol needs.
fn identity(proto: Proto, cfg: &ServerConfig) -> io::Result<&Identity> {
    cfg.identity.as_deref().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{proto} needs a certificate"),
        )
    })
}

/// The protocols a room can be served on, and how each is bound: the one place a new
/// transport is listed.
fn bind_transport(proto: Proto, addr: SocketAddr, cfg: &ServerConfig) -> io::Result<AnyTransport> {
    match proto {
        Proto::Tcp => TcpTransport::bind(addr, cfg.tcp.clone()).map(AnyTransport::new),
        Proto::Udp => UdpTransport::bind(addr, cfg.udp.clone()).map(AnyTransport::new),
        Proto::Tls => {
            let acceptor = crate::tcp::tls::acceptor(identity(proto, cfg)?, cfg.kx)
                .map_err(io::Error::other)?;
            let tcp = TcpConfig {
                tls: Some(crate::tcp::tls::TlsServer(acceptor)),
                ..cfg.tcp.clone()
            };
            TcpTransport::bind(addr, tcp).map(AnyTransport::new)
        }
        Proto::Quic => QuicTransport::bind(addr, cfg.quic.clone(), identity(proto, cfg)?, cfg.kx)
            .map(AnyTransport::new),
    }
}

impl Server {
    /// Bind `protos` at `addr` (port 0: any free port; see `crate::bind` for which
    /// protocol gets which port).
    pub async fn bind(addr: SocketAddr, protos: &[Proto], cfg: ServerConfig) -> io::Result<Server> {
        let transports = bind::on_ports(
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
            sources: Vec::new(),
            addr,
            room,
        }
    }

    /// Feed the room from `source` too, once it runs.
    pub fn add_source(&mut self, source: Source) {
        self.sources.push(source);
    }

    /// The room's config (its `server` name is set for a cluster).
    pub fn room_config(&mut self) -> &mut RoomConfig {
        &mut self.room
    }

    /// The address served on (the first protocol's; see [`Server::describe`]).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The protocols served, as `tcp`, `udp` or `tcp+udp`.
    pub fn protos_label(&self) -> String {
        bind::label(self.transports.iter().map(|t| t.proto()))
    }

    /// Each protocol and its address.
    pub fn bound(&self) -> Vec<(Proto, SocketAddr)> {
        self.transports
            .iter()
            .filter_map(|t| Some((t.proto(), t.local_addr().ok()?)))
            .collect()
    }

    /// The protocols and where each is served, for the start-up line: `tcp+udp+quic on
    /// ADDR`, after a note for each protocol with a port of its own.
    pub fn describe(&self) -> String {
        bind::describe(&self.bound())
    }

    /// Serve until `shutdown` is cancelled; then every member is told, queues are flushed
    /// (within a grace period), and the room's counters are returned.
    pub async fn run(self, shutdown: CancellationToken) -> io::Result<RoomStats> {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let mut serving = JoinSet::new();
        for t in self.transports {
            serving.spawn(t.serve(tx.clone(), shutdown.clone()));
        }
        for source in self.sources {
            serving.spawn(source(tx.clone(), shutdown.clone()));
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
