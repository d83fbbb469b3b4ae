//! The QUIC chat transport: one endpoint, Retry (address validation) on by default, a
//! cap on connections (one more is refused with CONNECTION_REFUSED), and one task per
//! member (`super::member`).

use super::{endpoint, member, QuicConfig};
use crate::cert::{Identity, Kx};
use crate::transport::{EventTx, Transport};
use crate::wire::Proto;
use quinn::Endpoint;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// A bound QUIC endpoint serving chat members.
pub struct QuicTransport {
    endpoint: Endpoint,
    cfg: QuicConfig,
}

impl QuicTransport {
    /// Serve chat at `addr` with `identity`'s certificate.
    pub fn bind(
        addr: SocketAddr,
        cfg: QuicConfig,
        identity: &Identity,
        kx: Kx,
    ) -> std::io::Result<Self> {
        let socket = endpoint::socket(addr)?;
        // One bidirectional stream per member; no unidirectional ones from it.
        let t = endpoint::transport(cfg.idle_timeout, None, 1, 0);
        let endpoint = endpoint::server(socket, identity, kx, crate::wire::ALPN_CHAT, t)
            .map_err(std::io::Error::other)?;
        Ok(QuicTransport { endpoint, cfg })
    }
}

impl Transport for QuicTransport {
    fn proto(&self) -> Proto {
        Proto::Quic
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    async fn serve(self, events: EventTx, shutdown: CancellationToken) -> std::io::Result<()> {
        let tasks = TaskTracker::new();
        let conns = Arc::new(Semaphore::new(self.cfg.max_conns));
        loop {
            let incoming = tokio::select! {
                _ = shutdown.cancelled() => break,
                i = self.endpoint.accept() => match i {
                    Some(i) => i,
                    None => break,
                },
            };
            if self.cfg.retry && !incoming.remote_address_validated() {
                // Stateless: the client comes back with a token bound to its address.
                if incoming.may_retry() {
                    let _ = incoming.retry();
                } else {
                    incoming.ignore();
                }
                continue;
            }
            let Ok(permit) = conns.clone().try_acquire_owned() else {
                tracing::warn!(addr = %incoming.remote_address(), max = self.cfg.max_conns, "QUIC connection refused: server full");
                incoming.refuse();
                continue;
            };
            let (cfg, events, stop) = (self.cfg.clone(), events.clone(), shutdown.clone());
            let peer = crate::transport::PeerId::next();
            let span = tracing::info_span!("quic", %peer, addr = %incoming.remote_address());
            tasks.spawn(member::run(peer, incoming, permit, cfg, events, stop).instrument(span));
        }
        tasks.close();
        if tokio::time::timeout(self.cfg.grace + Duration::from_secs(1), tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some QUIC members did not flush in time");
        }
        self.endpoint.close(0u32.into(), b"server shutdown");
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
        Ok(())
    }
}
