//! The room's handle on a UDP peer: the peer's address plus the transport's one writer
//! queue (see [`super::writer`]). Sending never blocks; a full queue drops the message,
//! as a full socket buffer drops a datagram. The room's flush at the end of a round
//! tells the writer that the round's datagrams may leave.

use super::registry::Registry;
use super::writer::{Queued, SendStats};
use crate::transport::{Close, PeerId, PeerSink, SendError};
use crate::wire::outgoing::Form;
use crate::wire::Outgoing;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, Notify};

/// The room's handle on one UDP peer (see the module docs).
pub struct UdpSink {
    pub(super) writer: mpsc::Sender<Queued>,
    pub(super) addr: SocketAddr,
    pub(super) peer: PeerId,
    pub(super) form: Form,
    pub(super) registry: Arc<Mutex<Registry>>,
    pub(super) stats: Arc<SendStats>,
    /// The writer's end-of-round signal (see [`super::writer`]).
    pub(super) round_end: Arc<Notify>,
}

impl PeerSink for UdpSink {
    fn send(&self, msg: &Arc<Outgoing>) -> Result<(), SendError> {
        let queued = Queued {
            addr: self.addr,
            form: self.form,
            msg: msg.clone(),
        };
        match self.writer.try_send(queued) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                // Not this peer's fault, nor fatal: UDP may drop, and so may we.
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::Closed),
        }
    }

    fn flush(&self) {
        self.round_end.notify_one();
    }

    fn close(&self, _how: Close) {
        // What is queued (a goodbye) goes with the round; forgetting the address is all
        // there is to closing.
        let mut reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        reg.remove(&self.addr, self.peer);
        drop(reg);
        self.round_end.notify_one();
    }
}
