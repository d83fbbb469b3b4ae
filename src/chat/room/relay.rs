//! The room's side of a room across servers: relays, remote members, notices, and who
//! keeps a nickname two servers gave out at once.
//!
//! The seam ([`Event::Relay`](crate::transport::Event::Relay),
//! [`Event::Remote`](crate::transport::Event::Remote)) is generic: a relay is any link
//! to the same room elsewhere (`src/cluster` is the NATS one). The room
//!
//! - sends each relay every chat line said here and every arrival, rename and departure
//!   here, once each (also in a large room, which only sums them up for its members), and
//!   never what came through that same relay;
//! - holds a relay's members like its own (nicknames, `/who`, announcements, counts)
//!   but sends them nothing: their own server delivers to them.
//!
//! **Nickname clashes.** A server never hands out a nickname it knows is taken anywhere
//! in the room, so two members get one nickname only when their servers did not yet
//! know of each other (two joins within the bus's delay, or during a split). The rule,
//! applied by every server to what it knows, so all come to the same answer: *the member
//! on the server whose name sorts first keeps the nickname*; the other is renamed by
//! every server as a taken nickname is (`alice` → `alice2`), and its own server tells
//! it so (`* alice is now alice2`) and relays the rename.

use super::{Member, Room};
use crate::transport::{Close, Format, PeerId, PeerInfo, PeerSink, SendError};
use crate::wire::{Outgoing, Proto, ServerMsg};
use std::sync::Arc;
use std::time::Instant;

/// Where a member on another server is.
#[derive(Debug, Clone)]
pub(super) struct Remote {
    /// The relay that brought it in.
    pub(super) via: PeerId,
    /// Its server's name.
    pub(super) server: Arc<str>,
}

/// A remote member's sink: the room sends it nothing, but keeps one per member so that
/// every member is handled alike.
struct Elsewhere;

impl PeerSink for Elsewhere {
    fn send(&self, _: &Arc<Outgoing>) -> Result<(), SendError> {
        Ok(())
    }

    fn close(&self, _: Close) {}
}

impl Room {
    /// Relay `out` to every relay but `via`.
    pub(super) fn relay(&mut self, via: Option<PeerId>, out: &Arc<Outgoing>) {
        for (id, sink) in &self.relays {
            if Some(*id) != via {
                // A relay counts what it cannot carry; the room never waits on one.
                let _ = sink.send(out);
            }
        }
        if !self.relays.is_empty() {
            self.round.relays = true;
        }
    }

    /// A relay attaches: it is told every member here, as arrivals, then what follows.
    pub(super) fn attach(&mut self, peer: PeerId, sink: Box<dyn PeerSink>) {
        for m in self.members.values().filter(|m| m.remote.is_none()) {
            let joined = ServerMsg::Joined {
                nick: m.nick.clone(),
                proto: m.info.proto,
            };
            let _ = sink.send(&Arc::new(Outgoing::new(joined)));
        }
        self.relays.push((peer, sink));
        self.round.relays = true;
    }

    /// `peer` was a relay: it is detached, and its members leave with it.
    pub(super) fn detach(&mut self, peer: PeerId) -> bool {
        let Some(at) = self.relays.iter().position(|(id, _)| *id == peer) else {
            return false;
        };
        self.relays.swap_remove(at);
        let behind: Vec<PeerId> = (self.members.iter())
            .filter(|(_, m)| m.remote.as_ref().is_some_and(|r| r.via == peer))
            .map(|(id, _)| *id)
            .collect();
        for id in behind {
            self.leave(id, crate::wire::LeaveReason::Closed, None);
        }
        true
    }

    /// A member of another server joined through a relay.
    pub(super) fn join_remote(&mut self, peer: PeerId, at: Remote, proto: Proto, wanted: String) {
        if self.members.contains_key(&peer) || !self.relays.iter().any(|(id, _)| *id == at.via) {
            return;
        }
        let nick = match super::valid_nick(&wanted) {
            Ok(n) => self.claim(n, &at.server),
            Err(_) => self.guest(),
        };
        tracing::debug!(%peer, %nick, %proto, server = %at.server, "joined elsewhere");
        let via = at.via;
        self.nicks.insert(nick.clone(), peer);
        self.roster.insert(peer);
        self.remote += 1;
        let info = PeerInfo {
            proto,
            addr: ([0, 0, 0, 0], 0).into(),
            format: Format::Binary,
        };
        self.members.insert(
            peer,
            Member {
                nick: nick.clone(),
                info,
                sink: Box::new(Elsewhere),
                since: Instant::now(),
                remote: Some(at),
            },
        );
        self.announce(Some(peer), Some(via), ServerMsg::Joined { nick, proto });
    }

    /// The nickname a member of `server` gets when it asks for `wanted`: the clash rule of
    /// the module docs. A holder on a server that sorts after `server` is renamed.
    pub(super) fn claim(&mut self, wanted: String, server: &str) -> String {
        let Some(&holder) = self.nicks.get(&wanted) else {
            return wanted;
        };
        let here = self.cfg.server.as_deref().unwrap_or("");
        let holder_server = match self.members.get(&holder).and_then(|m| m.remote.as_ref()) {
            Some(r) => r.server.clone(),
            None => here.into(),
        };
        if *holder_server <= *server {
            return self.unique(wanted);
        }
        let other = self.unique(wanted.clone());
        tracing::info!(nick = %wanted, keeps = %server, renamed = %other, "nickname clash between servers");
        self.set_nick(holder, other);
        wanted
    }

    /// Tell every member here `* TEXT`.
    pub(super) fn notice(&mut self, text: String) {
        self.broadcast_here(None, &Arc::new(Outgoing::new(ServerMsg::Notice(text))));
    }
}
