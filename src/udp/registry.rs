//! The UDP peer registry: who is in the room, keyed by source address, with a cap and
//! idle expiry. UDP has no connections, so this table *is* the membership. Only
//! addresses that passed validation ([`super::gate`]) are ever inserted, so forged
//! sources cannot take its slots.
//!
//! Silence: a binary member (whose client sends keepalives) is dropped once silent for
//! the idle timeout. A text member (a person with `nc -u`, who sends nothing unless
//! typing) is first warned, once silent for two thirds of it, that it will be dropped
//! a third of it later ([`warn_lead`]), and is dropped only once that time has passed
//! since the warning; anything it sends in between keeps it.

use super::budget::{Rate, TokenBucket};
use crate::transport::{Format, PeerId};
use crate::wire::text::LineParser;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// One registered address.
#[derive(Debug)]
pub(super) struct Entry {
    pub peer: PeerId,
    pub format: Format,
    pub last_seen: Instant,
    /// When it was warned that it will be dropped for silence (text members).
    pub warned: Option<Instant>,
    /// A text peer's lines as messages, numbered.
    pub parser: LineParser,
    pub bytes_in: u64,
    /// Its message budget.
    pub budget: TokenBucket,
    /// Messages dropped over budget since it was last told.
    pub throttled: u64,
    /// When it was last told it is over budget.
    pub noticed: Option<Instant>,
    /// Its tracing span (`udp{peer=#3 addr=…}`): events about it are children of it.
    pub span: tracing::Span,
}

/// What a sweep found.
#[derive(Debug, Default)]
pub(super) struct Sweep {
    /// Text members to warn now.
    pub warn: Vec<SocketAddr>,
    /// Members dropped for silence (already forgotten).
    pub gone: Vec<(PeerId, SocketAddr, Format)>,
}

/// How long before a silent text member is dropped it is warned: a third of the idle
/// timeout (10 s of 30 s).
pub(super) fn warn_lead(idle: Duration) -> Duration {
    idle / 3
}

/// Registered peers, at most `cap`.
#[derive(Debug)]
pub(super) struct Registry {
    peers: HashMap<SocketAddr, Entry>,
    cap: usize,
}

impl Registry {
    pub(super) fn new(cap: usize) -> Self {
        Registry {
            peers: HashMap::new(),
            cap,
        }
    }

    /// Registered peers now.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no peer is registered.
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    pub(super) fn is_full(&self) -> bool {
        self.peers.len() >= self.cap
    }

    pub(super) fn get_mut(&mut self, addr: &SocketAddr) -> Option<&mut Entry> {
        self.peers.get_mut(addr)
    }

    /// Register `addr`; `None` when the registry is full.
    pub(super) fn insert(
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
                warned: None,
                parser: LineParser::default(),
                bytes_in: 0,
                budget: TokenBucket::new(rate, now),
                throttled: 0,
                noticed: None,
                span: tracing::info_span!("udp", %peer, %addr),
            },
        );
        Some(peer)
    }

    /// Forget `addr` if it still belongs to `peer` (it may have rejoined since).
    pub(super) fn remove(&mut self, addr: &SocketAddr, peer: PeerId) -> bool {
        if self.peers.get(addr).is_some_and(|e| e.peer == peer) {
            self.peers.remove(addr);
            true
        } else {
            false
        }
    }

    /// Warn text members silent for `idle` less [`warn_lead`], and drop members silent
    /// for `idle` (text members: warned at least the lead ago).
    pub(super) fn sweep(&mut self, now: Instant, idle: Duration) -> Sweep {
        let lead = warn_lead(idle);
        let mut out = Sweep::default();
        self.peers.retain(|addr, e| {
            let silent = now.saturating_duration_since(e.last_seen);
            let expired = match (e.format, e.warned) {
                (Format::Binary, _) => silent >= idle,
                (Format::Text, Some(w)) => now.saturating_duration_since(w) >= lead,
                (Format::Text, None) => {
                    if silent >= idle - lead {
                        e.warned = Some(now);
                        out.warn.push(*addr);
                    }
                    false
                }
            };
            if expired {
                tracing::debug!(parent: &e.span, silent_s = silent.as_secs_f64(), "dropped for silence");
                out.gone.push((e.peer, *addr, e.format));
            }
            !expired
        });
        out
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
        let idle = Duration::from_secs(6);
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
        let s = r.sweep(t0 + Duration::from_secs(10), idle);
        assert!(s.gone.is_empty() && s.warn.is_empty());
        let s = r.sweep(t0 + Duration::from_secs(11), idle);
        assert_eq!(s.gone, vec![(b, addr(2), Format::Binary)]);
        assert!(r.is_empty());
    }

    #[test]
    fn a_silent_text_member_is_warned_then_dropped_a_lead_later() {
        let t0 = Instant::now();
        let idle = Duration::from_secs(30);
        let s = Duration::from_secs;
        let mut r = Registry::new(8);
        let p = r
            .insert(addr(1), Format::Text, Rate::UNLIMITED, t0)
            .unwrap();
        assert!(r.sweep(t0 + s(19), idle).warn.is_empty());
        assert_eq!(r.sweep(t0 + s(21), idle).warn, vec![addr(1)], "at 2/3");
        assert!(r.sweep(t0 + s(22), idle).warn.is_empty(), "warned once");
        // Dropped 10 s after the warning, not 30 s after the last datagram.
        assert!(r.sweep(t0 + s(30), idle).gone.is_empty());
        assert_eq!(
            r.sweep(t0 + s(31), idle).gone,
            vec![(p, addr(1), Format::Text)]
        );
        // Speaking after the warning starts again.
        let q = r
            .insert(addr(2), Format::Text, Rate::UNLIMITED, t0)
            .unwrap();
        assert_eq!(r.sweep(t0 + s(20), idle).warn, vec![addr(2)]);
        let e = r.get_mut(&addr(2)).unwrap();
        e.last_seen = t0 + s(25);
        e.warned = None;
        assert!(r.sweep(t0 + s(40), idle).gone.is_empty());
        let swept = r.sweep(t0 + s(45), idle);
        assert_eq!(swept.warn, vec![addr(2)]);
        assert_eq!(
            r.sweep(t0 + s(55), idle).gone,
            vec![(q, addr(2), Format::Text)]
        );
    }
}
