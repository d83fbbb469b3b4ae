//! The UDP peer registry: who is in the room, keyed by source address, with a cap and
//! idle expiry. UDP has no connections, so this table *is* the membership. Only
//! addresses that passed validation ([`super::cookie`]) are ever inserted, so forged
//! sources cannot take its slots.

use super::budget::{Rate, TokenBucket};
use crate::transport::{Format, PeerId};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// One registered address.
#[derive(Debug)]
pub struct Entry {
    pub peer: PeerId,
    pub format: Format,
    pub last_seen: Instant,
    /// Numbering of a text peer's chat lines.
    pub next_seq: u64,
    pub bytes_in: u64,
    /// Its message budget.
    pub budget: TokenBucket,
    /// Messages dropped over budget since it was last told.
    pub throttled: u64,
    /// When it was last told it is over budget.
    pub noticed: Option<Instant>,
}

/// Registered peers, at most `cap`.
#[derive(Debug)]
pub struct Registry {
    peers: HashMap<SocketAddr, Entry>,
    cap: usize,
}

impl Registry {
    pub fn new(cap: usize) -> Self {
        Registry {
            peers: HashMap::new(),
            cap,
        }
    }

    pub fn len(&self) -> usize {
        self.peers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.peers.len() >= self.cap
    }

    pub fn get_mut(&mut self, addr: &SocketAddr) -> Option<&mut Entry> {
        self.peers.get_mut(addr)
    }

    /// Register `addr`; `None` when the registry is full.
    pub fn insert(
        &mut self,
        addr: SocketAddr,
        format: Format,
        rate: Rate,
        now: Instant,
    ) -> Option<PeerId> {
        if self.is_full() {
            return None;
        }
        let peer = PeerId::next();
        self.peers.insert(
            addr,
            Entry {
                peer,
                format,
                last_seen: now,
                next_seq: 0,
                bytes_in: 0,
                budget: TokenBucket::new(rate, now),
                throttled: 0,
                noticed: None,
            },
        );
        Some(peer)
    }

    /// Forget `addr` if it still belongs to `peer` (it may have rejoined since).
    pub fn remove(&mut self, addr: &SocketAddr, peer: PeerId) -> bool {
        if self.peers.get(addr).is_some_and(|e| e.peer == peer) {
            self.peers.remove(addr);
            true
        } else {
            false
        }
    }

    /// Drop every peer silent for `idle` or longer; returns them.
    pub fn expire(&mut self, now: Instant, idle: Duration) -> Vec<PeerId> {
        let mut gone = Vec::new();
        self.peers.retain(|_, e| {
            let keep = now.duration_since(e.last_seen) < idle;
            if !keep {
                gone.push(e.peer);
            }
            keep
        });
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        ([127, 0, 0, 1], port).into()
    }

    #[test]
    fn cap_remove_and_expiry() {
        let t0 = Instant::now();
        let mut r = Registry::new(2);
        let a = r
            .insert(addr(1), Format::Text, Rate::UNLIMITED, t0)
            .unwrap();
        let b = r
            .insert(addr(2), Format::Binary, Rate::UNLIMITED, t0)
            .unwrap();
        assert!(
            r.insert(addr(3), Format::Text, Rate::UNLIMITED, t0)
                .is_none(),
            "cap of 2"
        );
        assert!(!r.remove(&addr(1), b), "only the owner's entry is removed");
        assert!(r.remove(&addr(1), a));
        r.get_mut(&addr(2)).unwrap().last_seen = t0 + Duration::from_secs(5);
        assert!(r
            .expire(t0 + Duration::from_secs(9), Duration::from_secs(5))
            .is_empty());
        assert_eq!(
            r.expire(t0 + Duration::from_secs(10), Duration::from_secs(5)),
            vec![b]
        );
        assert!(r.is_empty());
    }
}
