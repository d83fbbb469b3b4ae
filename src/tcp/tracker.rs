//! Connection tracking: who is connected, from where, since when, bytes in and out
//! (what the eviction below needs), and the cap on connections (one semaphore permit each, as in mini-redis).
//!
//! At the cap, a flood of idle connections must not lock real members out: a
//! connection that has not sent one byte since it connected, for at least the grace
//! given to [`Tracker::evict_idle`] (the handshake timeout), is closed to make room
//! for the newcomer, oldest first. A member that has said anything is never evicted.
//!
//! Finding that connection costs O(1), amortised: the candidates wait in a queue in
//! the order they were admitted, and whoever reaches its front having spoken, been
//! evicted or gone leaves it for good; a young one at the front means every one behind
//! it is younger still. (A scan of the whole table per newcomer, as before, cost ~0.5 ms
//! at 10 240 connections, so a flood at the cap stalled the single-threaded server:
//! measured with `scripts/idle-flood.py`, docs/capacity.md.)

use crate::transport::PeerId;
use std::collections::{HashMap, VecDeque};
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

/// Live connections, and those of them that may still be idle, oldest first.
#[derive(Default)]
struct Table {
    conns: HashMap<PeerId, Entry>,
    /// Admission order; may still hold ids that spoke or closed since (skipped and
    /// dropped when they reach the front, or all at once when they pile up).
    idle: VecDeque<PeerId>,
}

impl Entry {
    /// Has sent nothing and is not being evicted (once false, false for good).
    fn may_be_idle(&self) -> bool {
        self.stats.bytes_in.load(Ordering::Relaxed) == 0 && !self.stats.evict.is_cancelled()
    }
}

/// The table of live connections.
pub(super) struct Tracker {
    permits: Arc<Semaphore>,
    table: Mutex<Table>,
}

impl Tracker {
    pub(super) fn new(max_conns: usize) -> Arc<Self> {
        Arc::new(Tracker {
            permits: Arc::new(Semaphore::new(max_conns)),
            table: Mutex::new(Table::default()),
        })
    }

    /// Admit a connection from `addr`, or `None` when the cap is reached.
    pub(super) fn admit(self: &Arc<Self>, addr: SocketAddr) -> Option<ConnGuard> {
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        Some(self.track(addr, permit))
    }

    fn track(self: &Arc<Self>, addr: SocketAddr, permit: OwnedSemaphorePermit) -> ConnGuard {
        let peer = PeerId::next();
        let stats = Arc::new(ConnStats::default());
        let mut table = self.lock();
        table.conns.insert(
            peer,
            Entry {
                addr,
                since: Instant::now(),
                stats: stats.clone(),
            },
        );
        table.idle.push_back(peer);
        // Ids that spoke or left behind a long-lived idle one at the front: drop them
        // once they outnumber the live connections (amortised O(1) per admission).
        if table.idle.len() > 2 * table.conns.len() + 64 {
            let Table { conns, idle } = &mut *table;
            idle.retain(|p| conns.get(p).is_some_and(Entry::may_be_idle));
        }
        drop(table);
        ConnGuard {
            peer,
            stats,
            tracker: self.clone(),
            _permit: permit,
        }
    }

    /// Like [`Tracker::admit`], waiting up to `wait` for a slot (one being freed by an
    /// eviction). The slot it is handed is kept: given back, it would go to the next
    /// waiter, and with several newcomers waiting each would lose its own.
    pub(super) async fn admit_within(
        self: &Arc<Self>,
        addr: SocketAddr,
        wait: Duration,
    ) -> Option<ConnGuard> {
        let permit = tokio::time::timeout(wait, self.permits.clone().acquire_owned())
            .await
            .ok()?
            .ok()?;
        Some(self.track(addr, permit))
    }

    /// Close the oldest connection that has sent nothing for at least `grace`, to make
    /// room for a newcomer; `false` when there is none.
    pub(super) fn evict_idle(&self, grace: Duration) -> bool {
        let mut table = self.lock();
        let Table { conns, idle } = &mut *table;
        let now = Instant::now();
        while let Some(peer) = idle.front() {
            match conns.get(peer) {
                Some(e) if e.may_be_idle() => {
                    if now.saturating_duration_since(e.since) < grace {
                        return false; // the oldest candidate is too young, and all the others
                    }
                    tracing::info!(%peer, addr = %e.addr, "idle connection closed to make room");
                    e.stats.evict.cancel();
                    idle.pop_front();
                    return true;
                }
                // It spoke, is being evicted or is gone: it will never be idle again.
                _ => {
                    idle.pop_front();
                }
            }
        }
        false
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic while holding this lock cannot leave the table inconsistent.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
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
        let gone = self.tracker.lock().conns.remove(&self.peer);
        if let Some(e) = gone {
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

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    fn addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 40000))
    }

    #[test]
    fn the_oldest_idle_goes_first_a_talker_never_and_a_young_one_not_yet() {
        let t = Tracker::new(4);
        let [talker, a, b]: [ConnGuard; 3] =
            std::array::from_fn(|_| t.admit(addr()).expect("room"));
        talker.stats.bytes_in.store(5, Ordering::Relaxed);
        assert!(!t.evict_idle(Duration::from_secs(3600)), "too young");
        assert!(t.evict_idle(Duration::ZERO));
        assert!(a.stats.evict.is_cancelled() && !b.stats.evict.is_cancelled());
        assert!(t.evict_idle(Duration::ZERO));
        assert!(b.stats.evict.is_cancelled());
        assert!(!t.evict_idle(Duration::ZERO), "only the talker is left");
        assert!(!talker.stats.evict.is_cancelled());
    }

    #[test]
    fn ids_that_left_behind_a_long_idle_one_do_not_pile_up() {
        let t = Tracker::new(10);
        let _idle = t.admit(addr()).expect("room");
        for _ in 0..10_000 {
            drop(t.admit(addr()).expect("room"));
        }
        let table = t.lock();
        assert_eq!(table.conns.len(), 1);
        assert!(
            table.idle.len() <= 2 * table.conns.len() + 65,
            "{}",
            table.idle.len()
        );
    }

    #[tokio::test]
    async fn a_waiting_newcomer_keeps_the_slot_it_is_handed() {
        let t = Tracker::new(1);
        let held = t.admit(addr()).expect("room");
        let wait = Duration::from_secs(3600);
        let mut first = Box::pin(t.admit_within(addr(), wait));
        let mut second = Box::pin(t.admit_within(addr(), wait));
        assert!((&mut first).now_or_never().is_none());
        assert!((&mut second).now_or_never().is_none());
        drop(held); // the slot goes to the first in line...
        let got = (&mut first)
            .now_or_never()
            .expect("ready")
            .expect("admitted");
        // ...which keeps it: the second still waits, and gets it when the first leaves.
        assert!((&mut second).now_or_never().is_none());
        drop(got);
        assert!(second.now_or_never().expect("ready").is_some());
    }
}
