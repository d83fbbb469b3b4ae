//! Connection tracking: who is connected, from where, since when, bytes in and out
//! (what the eviction below needs), and the cap on connections (one semaphore permit each, as in mini-redis).
//!
//! At the cap, a flood of idle connections must not lock real members out: a
//! connection that has not sent one byte since it connected, for at least the grace
//! given to [`Tracker::evict_idle`] (the handshake timeout), is closed to make room
//! for the newcomer, oldest first. A member that has said anything is never evicted.

use crate::transport::PeerId;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Byte counters of one connection, updated by its reader and writer.
#[derive(Debug, Default)]
pub struct ConnStats {
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Cancelled when the connection is closed to make room at the cap (its writer
    /// tells the peer and ends, which ends the connection).
    pub evict: CancellationToken,
}

struct Entry {
    addr: SocketAddr,
    since: Instant,
    stats: Arc<ConnStats>,
}

/// The table of live connections.
pub(super) struct Tracker {
    permits: Arc<Semaphore>,
    conns: Mutex<HashMap<PeerId, Entry>>,
}

impl Tracker {
    pub(super) fn new(max_conns: usize) -> Arc<Self> {
        Arc::new(Tracker {
            permits: Arc::new(Semaphore::new(max_conns)),
            conns: Mutex::new(HashMap::new()),
        })
    }

    /// Admit a connection from `addr`, or `None` when the cap is reached.
    pub(super) fn admit(self: &Arc<Self>, addr: SocketAddr) -> Option<ConnGuard> {
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        let peer = PeerId::next();
        let stats = Arc::new(ConnStats::default());
        self.lock().insert(
            peer,
            Entry {
                addr,
                since: Instant::now(),
                stats: stats.clone(),
            },
        );
        Some(ConnGuard {
            peer,
            stats,
            tracker: self.clone(),
            _permit: permit,
        })
    }

    /// Like [`Tracker::admit`], waiting up to `wait` for a slot (one being freed by an
    /// eviction).
    pub(super) async fn admit_within(
        self: &Arc<Self>,
        addr: SocketAddr,
        wait: Duration,
    ) -> Option<ConnGuard> {
        let permit = tokio::time::timeout(wait, self.permits.clone().acquire_owned())
            .await
            .ok()?
            .ok()?;
        drop(permit);
        self.admit(addr)
    }

    /// Close the oldest connection that has sent nothing for at least `grace`, to make
    /// room for a newcomer; `false` when there is none.
    pub(super) fn evict_idle(&self, grace: Duration) -> bool {
        let conns = self.lock();
        let victim = conns
            .iter()
            .filter(|(_, e)| {
                e.stats.bytes_in.load(Ordering::Relaxed) == 0
                    && !e.stats.evict.is_cancelled()
                    && e.since.elapsed() >= grace
            })
            .min_by_key(|(_, e)| e.since);
        match victim {
            Some((peer, e)) => {
                tracing::info!(%peer, addr = %e.addr, "idle connection closed to make room");
                e.stats.evict.cancel();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, Entry>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Held by a connection's task; dropping it untracks the connection and frees its permit.
pub(super) struct ConnGuard {
    pub peer: PeerId,
    pub stats: Arc<ConnStats>,
    tracker: Arc<Tracker>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if let Some(e) = self.tracker.lock().remove(&self.peer) {
            tracing::debug!(
                peer = %self.peer,
                addr = %e.addr,
                secs = e.since.elapsed().as_secs_f64(),
                bytes_in = e.stats.bytes_in.load(Ordering::Relaxed),
                bytes_out = e.stats.bytes_out.load(Ordering::Relaxed),
                "connection closed"
            );
        }
    }
}
