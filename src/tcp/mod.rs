//! TCP: the listener with its connection cap ([`TcpTransport`], `tracker`, `accept`), one task
//! per connection (`conn`) reading through one `reader` for both formats, a writer
//! task draining its queue ([`writer`]), the deadline on incomplete input (`stall`)
//! and socket options (`socket`); [`info`] reads the kernel's `TCP_INFO` for the bench.
//! Each connection runs in a tracing span of its own
//! (`conn{peer=#7 addr=127.0.0.1:40000}`).
//!
//! At the cap, the oldest connection that has sent nothing since it connected (for at
//! least the handshake timeout) is closed to make room (see `tracker`): idle
//! connections cannot lock real members out. When there is none, the newcomer gets a
//! one-line refusal, written at once if the fresh
//! socket takes it (it nearly always does), else by a short task; such tasks are capped
//! too, and beyond that the connection is simply closed, so a flood costs no more than
//! the accepts.

pub(crate) mod accept;
mod conn;
pub mod info;
mod reader;
pub(crate) mod socket;
mod stall;
pub mod tls;
mod tracker;
pub mod writer;

pub use writer::SlowPolicy;

use crate::transport::{EventTx, Transport};
use crate::wire::outgoing::Form;
use crate::wire::{Outgoing, Proto, Refusal, ServerMsg};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use tracker::Tracker;

/// Refusals that did not fit the socket at once and are being written, at most.
const MAX_REFUSING: usize = 64;
/// How long such a refusal may take.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

/// Default cap on TCP connections: 10 000 members and some joining.
pub const DEFAULT_MAX_CONNS: usize = 10_240;

/// TCP limits and timeouts.
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// Connections at most, joined or not; one more gets a refusal line and is closed.
    pub max_conns: usize,
    /// Longest text line (bytes).
    pub max_line: usize,
    /// Largest binary frame payload (bytes).
    pub max_frame: usize,
    /// Outbound messages queued per connection before it counts as too slow.
    pub queue: usize,
    /// Outbound bytes queued per connection before it counts as too slow.
    pub queue_bytes: usize,
    /// What happens to a connection whose queue is full.
    pub slow: SlowPolicy,
    /// The kernel send buffer per connection (`SO_SNDBUF`); `None` leaves it to the
    /// kernel's autotuning, which lets a non-reader hold megabytes before its queue
    /// even starts to fill.
    pub sndbuf: Option<usize>,
    /// An optional coalescing window: a connection written to within this long is
    /// written to again only when it is over, with everything queued meanwhile in one
    /// write (see [`writer`]). Zero, the default, leaves batching to the room's rounds.
    pub coalesce: Duration,
    /// How long a new connection has to show it is a nettool client before it is taken
    /// for a text peer.
    pub detect: Duration,
    /// A nettool preamble (from connecting) and `Hello`, or a text peer's first line
    /// (from its first byte), must be complete within this long.
    pub handshake_timeout: Duration,
    /// Longest a peer may hold an incomplete line or frame.
    pub line_timeout: Duration,
    /// How long a closing connection (or all of them at shutdown) may take to flush.
    pub grace: Duration,
    /// Serve TLS (the handshake first, within `handshake_timeout`), or plain TCP.
    pub tls: Option<tls::TlsServer>,
    /// How long a peer whose connection the server ends (`/quit`, a full room, a slow
    /// reader) has to close its own side before the connection is reset.
    pub close_linger: Duration,
}

/// Default [`TcpConfig::queue`].
pub const DEFAULT_QUEUE: usize = 1024;
/// Default [`TcpConfig::queue_bytes`].
pub const DEFAULT_QUEUE_BYTES: usize = 1 << 20;
/// Default of [`TcpConfig::detect`]: a nettool client's preamble follows the banner
/// after one round trip, so it is late only on a path slower than this (or a stalled
/// host); a text peer that listens first gets its welcome after it.
pub const DEFAULT_DETECT: Duration = Duration::from_millis(500);
/// Default of [`TcpConfig::handshake_timeout`].
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`TcpConfig::line_timeout`].
pub const DEFAULT_LINE_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_conns: DEFAULT_MAX_CONNS,
            max_line: crate::wire::text::DEFAULT_MAX_LINE,
            max_frame: crate::wire::binary::DEFAULT_MAX_FRAME,
            queue: DEFAULT_QUEUE,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            slow: SlowPolicy::default(),
            sndbuf: None,
            coalesce: writer::DEFAULT_COALESCE,
            detect: DEFAULT_DETECT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            line_timeout: DEFAULT_LINE_TIMEOUT,
            grace: Duration::from_secs(5),
            tls: None,
            close_linger: conn::CLOSE_LINGER,
        }
    }
}

/// A bound TCP listener serving chat peers.
pub struct TcpTransport {
    listener: TcpListener,
    cfg: TcpConfig,
    tracker: Arc<Tracker>,
}

impl TcpTransport {
    /// Serve chat peers on `listener`.
    pub fn new(listener: TcpListener, cfg: TcpConfig) -> Self {
        let tracker = Tracker::new(cfg.max_conns);
        TcpTransport {
            listener,
            cfg,
            tracker,
        }
    }

    /// A listener at `addr` (see `socket::listener`), serving chat peers.
    pub fn bind(addr: SocketAddr, cfg: TcpConfig) -> std::io::Result<Self> {
        Ok(TcpTransport::new(socket::listener(addr)?, cfg))
    }
}

impl Transport for TcpTransport {
    fn proto(&self) -> Proto {
        if self.cfg.tls.is_some() {
            Proto::Tls
        } else {
            Proto::Tcp
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    async fn serve(self, events: EventTx, shutdown: CancellationToken) -> std::io::Result<()> {
        let tasks = TaskTracker::new();
        let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
        let mut acceptor = accept::Acceptor::new(self.listener);
        while let Some((stream, addr)) = acceptor.next(&shutdown).await {
            match self.tracker.admit(addr) {
                Some(guard) => {
                    let span = tracing::info_span!("conn", peer = %guard.peer, %addr);
                    let conn = conn::run(
                        stream,
                        addr,
                        guard,
                        self.cfg.clone(),
                        events.clone(),
                        shutdown.clone(),
                    );
                    tasks.spawn(conn.instrument(span));
                }
                None if self.tracker.evict_idle(self.cfg.handshake_timeout) => {
                    let (tracker, cfg) = (self.tracker.clone(), self.cfg.clone());
                    let (events, shutdown) = (events.clone(), shutdown.clone());
                    tasks.spawn(async move {
                        match tracker.admit_within(addr, REFUSAL_TIMEOUT).await {
                            Some(guard) => {
                                let span = tracing::info_span!("conn", peer = %guard.peer, %addr);
                                conn::run(stream, addr, guard, cfg, events, shutdown)
                                    .instrument(span)
                                    .await
                            }
                            None => drop(stream),
                        }
                    });
                }
                None => {
                    tracing::warn!(%addr, max = self.cfg.max_conns, "connection refused: server full");
                    // A TLS client would take a plain refusal line for a broken
                    // handshake: it is closed, which its handshake reports.
                    if self.cfg.tls.is_none() {
                        refuse(stream, self.cfg.max_conns, &refusing, &tasks);
                    }
                }
            }
        }
        drop(acceptor);
        tasks.close();
        // Each connection bounds its own flush by the grace; the margin is for the rest.
        let wait = self.cfg.grace + REFUSAL_TIMEOUT;
        if tokio::time::timeout(wait, tasks.wait()).await.is_err() {
            tracing::warn!("some TCP connections did not flush in time");
        }
        Ok(())
    }
}

/// Tell a connection beyond the cap that the server is full, and close it.
fn refuse(
    stream: tokio::net::TcpStream,
    max_conns: usize,
    refusing: &Arc<Semaphore>,
    tasks: &TaskTracker,
) {
    let full = Outgoing::new(ServerMsg::Refused(Refusal::ServerFull {
        max: max_conns as u64,
    }));
    let Some(line) = full.bytes(Form::Line).cloned() else {
        return;
    };
    let n = match stream.try_write(&line) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
        Err(_) => return,
    };
    if n == line.len() {
        return;
    }
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        return; // too many refusals in flight: just close
    };
    let mut stream = stream;
    tasks.spawn(async move {
        let rest = &line[n..];
        let _ = tokio::time::timeout(REFUSAL_TIMEOUT, stream.write_all(rest)).await;
        drop(permit);
    });
}
