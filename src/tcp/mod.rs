//! TCP: the listener with its connection cap ([`TcpTransport`]), connection tracking
//! ([`tracker`]), per-connection reader ([`conn`]) and writer ([`writer`]) tasks, and
//! the deadline on incomplete input ([`stall`]).
//!
//! Connections beyond the cap get a one-line refusal, written at once if the fresh
//! socket takes it (it nearly always does), else by a short task; such tasks are capped
//! too, and beyond that the connection is simply closed, so a flood costs no more than
//! the accepts.

pub mod accept;
pub mod conn;
pub mod socket;
pub mod stall;
pub mod tracker;
pub mod writer;

pub use writer::SlowPolicy;

use crate::transport::{EventTx, Transport};
use crate::wire::Proto;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracker::Tracker;

/// Refusals that did not fit the socket at once and are being written, at most.
const MAX_REFUSING: usize = 64;
/// How long such a refusal may take.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

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
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_conns: 1024,
            max_line: crate::wire::text::DEFAULT_MAX_LINE,
            max_frame: crate::wire::binary::DEFAULT_MAX_FRAME,
            queue: 1024,
            queue_bytes: 1 << 20,
            slow: SlowPolicy::Disconnect,
            sndbuf: None,
            detect: Duration::from_millis(500),
            handshake_timeout: Duration::from_secs(10),
            line_timeout: Duration::from_secs(30),
            grace: Duration::from_secs(5),
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
    pub fn new(listener: TcpListener, cfg: TcpConfig) -> Self {
        let tracker = Tracker::new(cfg.max_conns);
        TcpTransport {
            listener,
            cfg,
            tracker,
        }
    }

    /// A listener at `addr` (see [`socket::listener`]), serving chat peers.
    pub fn bind(addr: SocketAddr, cfg: TcpConfig) -> std::io::Result<Self> {
        Ok(TcpTransport::new(socket::listener(addr)?, cfg))
    }

    /// The live connection table.
    pub fn tracker(&self) -> Arc<Tracker> {
        self.tracker.clone()
    }
}

impl Transport for TcpTransport {
    fn proto(&self) -> Proto {
        Proto::Tcp
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
                    tasks.spawn(conn::run(
                        stream,
                        addr,
                        guard,
                        self.cfg.clone(),
                        events.clone(),
                        shutdown.clone(),
                    ));
                }
                None => {
                    tracing::warn!(%addr, max = self.cfg.max_conns, "connection refused: server full");
                    refuse(stream, self.cfg.max_conns, &refusing, &tasks);
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
    let line = format!("! server full ({max_conns} connections); try again later\n");
    let n = match stream.try_write(line.as_bytes()) {
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
        let rest = &line.as_bytes()[n..];
        let _ = tokio::time::timeout(REFUSAL_TIMEOUT, stream.write_all(rest)).await;
        drop(permit);
    });
}
