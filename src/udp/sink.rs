//! The room's handle on a UDP peer: the shared socket plus the peer's address. Sending
//! never blocks; a full socket buffer drops the datagram, as UDP does.

use super::registry::Registry;
use crate::transport::{Close, PeerId, PeerSink, SendError};
use crate::wire::outgoing::Form;
use crate::wire::Outgoing;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;

/// Counters shared by all sinks of one UDP transport.
#[derive(Debug, Default)]
pub struct SendStats {
    pub datagrams: AtomicU64,
    pub bytes: AtomicU64,
    /// Dropped: socket buffer full, send error, or message larger than a datagram.
    pub dropped: AtomicU64,
}

pub struct UdpSink {
    pub(super) socket: Arc<UdpSocket>,
    pub(super) addr: SocketAddr,
    pub(super) peer: PeerId,
    pub(super) form: Form,
    pub(super) max_datagram: usize,
    pub(super) registry: Arc<Mutex<Registry>>,
    pub(super) stats: Arc<SendStats>,
}

impl PeerSink for UdpSink {
    fn send(&self, msg: &Arc<Outgoing>) -> Result<(), SendError> {
        let Some(bytes) = msg.bytes(self.form) else {
            return Ok(());
        };
        if bytes.len() > self.max_datagram {
            tracing::debug!(addr = %self.addr, len = bytes.len(), "message larger than a datagram: dropped");
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        match self.socket.try_send_to(bytes, self.addr) {
            Ok(n) => {
                self.stats.datagrams.fetch_add(1, Ordering::Relaxed);
                self.stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) => {
                // Not fatal: UDP may drop, and so may we.
                tracing::trace!(addr = %self.addr, error = %e, "datagram dropped");
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    fn close(&self, _how: Close) {
        // Nothing is queued: forgetting the address is all there is to closing.
        let mut reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        reg.remove(&self.addr, self.peer);
    }
}
