//! The contract between a protocol and the applications above it.
//!
//! A [`Transport`] turns its protocol into a stream of [`Event`]s — a peer joined, sent a
//! message, sent something invalid, left — fed into one channel that the room consumes.
//! With each `Joined` it hands over a [`PeerSink`], the room's only way to reach that
//! peer: over TCP a bounded queue to the connection's writer task, over UDP the shared
//! socket plus the peer's address. Everything protocol-specific lives behind this file,
//! in `src/tcp` and `src/udp`.
//!
//! Besides members, a room can be given *relays* ([`Event::Relay`]): links to the same
//! room on other servers (the NATS bus of `src/cluster`). A relay is no member: it gets,
//! once each, every line said here and every arrival, rename and departure here (even
//! where a large room only sums them up), and carries them away; the members it brings
//! in ([`Event::Remote`]) are members like any other except that the room sends them
//! nothing — their own server does — and that what they say is never sent back to
//! their relay. That is the whole of what the room knows about a cluster.
//!
//! An application holds transports of any protocol as [`AnyTransport`]s, so a server
//! serves whatever list it is given; [`memory`] is a transport without sockets, for
//! testing the room. A measurement reads a reliable connection's congestion control
//! through [`stats::CcStats`].

pub mod memory;
pub mod stats;

use crate::wire::{ClientMsg, LeaveReason, Outgoing, Proto};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A peer's identity, unique across all transports of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(u64);

impl PeerId {
    /// A fresh id.
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        PeerId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// How a peer speaks: a nettool peer (binary) or a person with netcat (text lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Length-prefixed bincode frames (TCP) or tagged datagrams (UDP), spoken by nettool clients.
    Binary,
    /// UTF-8 lines, one message per line, for netcat, telnet and other plain-text peers.
    Text,
}

/// What the room may know about a peer.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// The transport protocol the peer came in on.
    pub proto: Proto,
    /// The peer's socket address (its source address for UDP).
    pub addr: SocketAddr,
    /// Whether the peer speaks binary or text.
    pub format: Format,
}

/// Why a [`PeerSink::send`] did not queue the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The peer's bounded queue is full: it is not reading fast enough.
    Full,
    /// The peer is gone.
    Closed,
}

/// How to close a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// Deliver what is queued, then close.
    Flush,
    /// Close now, dropping what is queued (a peer that stopped reading).
    Abort,
}

/// The room's handle on one peer. `send` never blocks the room.
///
/// The room works in *rounds*: it handles every event that is ready (every read that
/// was ready, every event queued), queueing with [`send`](PeerSink::send), then calls
/// [`flush`](PeerSink::flush) once on each peer it queued something for. A transport
/// delivers what one round queued for a peer in one write (one datagram train over UDP),
/// so a busy room batches by itself and a quiet one adds no delay: no timer is involved.
pub trait PeerSink: Send + Sync {
    /// Queue `msg` for the peer without blocking; fails if the queue is full or the peer gone.
    /// A transport may start writing before the round ends when the queue grows large
    /// (so that a round never makes a reader "too slow"), but need not.
    fn send(&self, msg: &Arc<Outgoing>) -> Result<(), SendError>;
    /// The round is over: deliver what it queued. Without a call, what was sent may wait
    /// for the next round's flush (or for the queue to grow large).
    fn flush(&self) {}
    /// Close the peer, flushing or dropping what is queued as `how` says.
    fn close(&self, how: Close);
}

/// What a transport tells the room.
pub enum Event {
    /// A peer arrived. `nick` is the name it asked for, if any.
    Joined {
        /// The transport's id for the new peer.
        peer: PeerId,
        /// Its protocol, address and format.
        info: PeerInfo,
        /// The nickname it asked for, if any.
        nick: Option<String>,
        /// The room's handle for sending to the peer and closing it.
        sink: Box<dyn PeerSink>,
    },
    /// A well-formed message from a joined peer.
    Message(PeerId, ClientMsg),
    /// Input that was refused; the peer stays unless a `Left` follows.
    Invalid(PeerId, String),
    /// The peer is gone. The transport has already stopped reading from it.
    Left(PeerId, LeaveReason),
    /// A relay to the same room elsewhere attached (see the module docs); it detaches
    /// with `Left(peer, _)`.
    Relay {
        /// The relay's id.
        peer: PeerId,
        /// Where the room sends what the relay carries away.
        sink: Box<dyn PeerSink>,
    },
    /// A member on another server, brought in by relay `via`, joined. What it says comes
    /// as `Message(peer, …)` (chat lines and renames), its departure as `Left(peer, …)`.
    Remote {
        /// The id the relay gave it.
        peer: PeerId,
        /// The relay it is reached through.
        via: PeerId,
        /// The server it is on, as shown in `/who`.
        server: Arc<str>,
        /// The protocol it joined that server over.
        proto: Proto,
        /// The nickname it has there.
        nick: String,
    },
    /// A notice for every member here (`* TEXT`); relays are not told.
    Notice(String),
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Joined {
                peer, info, nick, ..
            } => f
                .debug_struct("Joined")
                .field("peer", peer)
                .field("info", info)
                .field("nick", nick)
                .finish(),
            Event::Message(p, m) => f.debug_tuple("Message").field(p).field(m).finish(),
            Event::Invalid(p, m) => f.debug_tuple("Invalid").field(p).field(m).finish(),
            Event::Left(p, r) => f.debug_tuple("Left").field(p).field(r).finish(),
            Event::Relay { peer, .. } => f.debug_struct("Relay").field("peer", peer).finish(),
            Event::Remote {
                peer,
                via,
                server,
                proto,
                nick,
            } => f
                .debug_struct("Remote")
                .field("peer", peer)
                .field("via", via)
                .field("server", server)
                .field("proto", proto)
                .field("nick", nick)
                .finish(),
            Event::Notice(t) => f.debug_tuple("Notice").field(t).finish(),
        }
    }
}

/// The sending half every transport of one room feeds.
pub type EventTx = mpsc::Sender<Event>;

/// A protocol, bound and ready to serve.
pub trait Transport: Send + 'static {
    /// Which protocol this is.
    fn proto(&self) -> Proto;
    /// The bound address (useful after binding port 0).
    fn local_addr(&self) -> std::io::Result<SocketAddr>;
    /// Serve peers, feeding `events`, until `shutdown` is cancelled; returns once every
    /// peer's pending output has been flushed (or a bounded grace period has passed).
    fn serve(
        self,
        events: EventTx,
        shutdown: CancellationToken,
    ) -> impl Future<Output = std::io::Result<()>> + Send;
}

/// The future a boxed transport serves with.
pub type Serving = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

/// A transport of any protocol, so that one server can hold several (`--proto both`)
/// and tests can hand it an in-memory one.
pub struct AnyTransport {
    proto: Proto,
    local_addr: std::io::Result<SocketAddr>,
    serve: Box<dyn FnOnce(EventTx, CancellationToken) -> Serving + Send>,
}

impl AnyTransport {
    /// Box `transport`.
    pub fn new<T: Transport>(transport: T) -> Self {
        AnyTransport {
            proto: transport.proto(),
            local_addr: transport.local_addr(),
            serve: Box::new(move |events, shutdown| Box::pin(transport.serve(events, shutdown))),
        }
    }

    /// Which protocol it serves.
    pub fn proto(&self) -> Proto {
        self.proto
    }

    /// The address it is bound to.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match &self.local_addr {
            Ok(a) => Ok(*a),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        }
    }

    /// Serve, as [`Transport::serve`].
    pub fn serve(self, events: EventTx, shutdown: CancellationToken) -> Serving {
        (self.serve)(events, shutdown)
    }
}

impl std::fmt::Debug for AnyTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnyTransport")
            .field("proto", &self.proto)
            .field("local_addr", &self.local_addr)
            .finish()
    }
}
