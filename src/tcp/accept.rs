//! The accept loop every TCP server shares (the chat transport and the echo server):
//! the next connection, or `None` at shutdown; accept errors (out of descriptors and
//! the like) back off exponentially instead of spinning, and the back-off resets on the
//! next success. What to do at the connection cap is the caller's.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The first pause after a failed accept.
const BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The longest pause between failed accepts.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// A listener with its back-off state.
#[derive(Debug)]
pub(crate) struct Acceptor {
    listener: TcpListener,
    backoff: Duration,
}

impl Acceptor {
    /// Accept on `listener`.
    pub(crate) fn new(listener: TcpListener) -> Self {
        Acceptor {
            listener,
            backoff: BACKOFF_MIN,
        }
    }

    /// The next connection; `None` once `shutdown` is cancelled.
    pub(crate) async fn next(
        &mut self,
        shutdown: &CancellationToken,
    ) -> Option<(TcpStream, SocketAddr)> {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => return None,
                a = self.listener.accept() => a,
            };
            match accepted {
                Ok(a) => {
                    self.backoff = BACKOFF_MIN;
                    return Some(a);
                }
                Err(e) => {
                    tracing::warn!(error = %e, pause = ?self.backoff, "accept failed");
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(self.backoff) => {}
                    }
                    self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }
}
