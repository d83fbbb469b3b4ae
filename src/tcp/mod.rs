//! TCP: the listener with its connection cap ([`TcpTransport`]), connection tracking
//! ([`tracker`]), and per-connection reader ([`conn`]) and writer ([`writer`]) tasks.

pub mod conn;
pub mod tracker;
pub mod writer;

use crate::transport::{EventTx, Transport};
use crate::wire::Proto;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracker::Tracker;

/// How long shutdown waits for connections to flush.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
    /// How long a new connection has to show it is a nettool client before it is taken
    /// for a text peer.
    pub detect: Duration,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_conns: 1024,
            max_line: crate::wire::text::DEFAULT_MAX_LINE,
            max_frame: crate::wire::binary::DEFAULT_MAX_FRAME,
            queue: 1024,
            detect: Duration::from_millis(500),
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
        let mut backoff = Duration::from_millis(10);
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                a = self.listener.accept() => a,
            };
            let (mut stream, addr) = match accepted {
                Ok(a) => {
                    backoff = Duration::from_millis(10);
                    a
                }
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
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
                    let line = format!(
                        "! server full ({} connections); try again later\n",
                        self.cfg.max_conns
                    );
                    tasks.spawn(async move {
                        let _ = tokio::time::timeout(
                            Duration::from_secs(1),
                            stream.write_all(line.as_bytes()),
                        )
                        .await;
                    });
                }
            }
        }
        drop(self.listener);
        tasks.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some TCP connections did not flush in time");
        }
        Ok(())
    }
}
