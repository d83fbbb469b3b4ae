//! The cap on connections (one semaphore permit each, as in mini-redis) and the byte
//! counters of each connection.

use crate::transport::PeerId;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Byte counters of one connection, updated by its reader and writer.
#[derive(Debug, Default)]
pub struct ConnStats {
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

/// Admits connections up to a cap.
pub struct Tracker {
    permits: Arc<Semaphore>,
}

impl Tracker {
    pub fn new(max_conns: usize) -> Self {
        Tracker {
            permits: Arc::new(Semaphore::new(max_conns)),
        }
    }

    /// Admit a connection, or `None` when the cap is reached.
    pub fn admit(&self) -> Option<ConnGuard> {
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        Some(ConnGuard {
            peer: PeerId::next(),
            stats: Arc::new(ConnStats::default()),
            _permit: permit,
        })
    }
}

/// Held by a connection's task; dropping it frees its permit.
pub struct ConnGuard {
    pub peer: PeerId,
    pub stats: Arc<ConnStats>,
    _permit: OwnedSemaphorePermit,
}
