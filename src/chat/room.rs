//! The chat room, written once over any [`Transport`](crate::transport::Transport) or
//! several at once.
//!
//! One task owns all state (no lock around the member map) and consumes the [`Event`]s
//! that every transport feeds into one channel; `--proto both` is simply two transports
//! feeding the same channel. A broadcast wraps the message in one [`Outgoing`], so it is
//! encoded once per wire form and the same bytes go to every member. The room never
//! waits on a member: a full queue means the member is too slow and is dropped.
//!
//! The room works in *rounds* ([`round`]): it handles every event that is ready — every
//! read its transports had ready, every event queued — and only then asks each member it
//! queued something for to [`flush`](PeerSink::flush), so what one round produced leaves
//! in one write per member (one datagram train over UDP). A quiet room's round is one
//! event, which goes out at once; a busy room's rounds grow by themselves. No timer is
//! involved (a TCP member's `--coalesce` window is an option of the transport's).
//!
//! # A large room
//!
//! Announcing every join to every member costs N² lines while a room fills. Up to
//! [`RoomConfig::announce_limit`] members, joins, leaves and renames are announced one
//! by one; beyond it they are counted and summed up once per [`PRESENCE_EVERY`]
//! (`* 37 joined, 5 left in the last second (20000 online)`), and a rename is told to
//! the member who made it only. `/who` answers a page of [`RoomConfig::who_page`]
//! members, oldest first, ending with a line that says which page of how many
//! (`/who 2` for the next).
//!
//! # A room across servers
//!
//! What the room knows of a cluster is what the seam tells it ([`relay`]): *relays*,
//! which get every line said here and every arrival, rename and departure here once
//! (a large room's too, which it otherwise only sums up), and *remote* members, which
//! relays bring in and which are members like any other except that the room sends
//! them nothing (their own server does) and never relays what they say back to where
//! it came from. `/who` shows each member's server; two members given one nickname on
//! two servers at once are settled by [`relay`]'s rule.

mod config;
mod nick;
pub mod relay;
pub mod round;
mod who;

pub use config::{
    RoomConfig, RoomStats, DEFAULT_ANNOUNCE_LIMIT, DEFAULT_KEEPALIVE, DEFAULT_MAX_MEMBERS,
    DEFAULT_MAX_TEXT, DEFAULT_WHO_PAGE,
};
pub use nick::{valid_nick, MAX_NICK};

use super::roster::Roster;
use crate::transport::{Close, Event, PeerId, PeerInfo, PeerSink, SendError};
use crate::wire::{ClientMsg, LeaveReason, Outgoing, ServerMsg};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `/who` answers are split into messages of at most this many members, so each fits a datagram.
const WHO_CHUNK: usize = 16;
/// How often a large room sums up its joins and leaves.
pub const PRESENCE_EVERY: Duration = Duration::from_secs(1);

struct Member {
    nick: String,
    info: PeerInfo,
    sink: Box<dyn PeerSink>,
    since: Instant,
    /// `Some` for a member on another server (see [`relay`]).
    remote: Option<relay::Remote>,
}

/// The room's state; [`Room::run`] drives it.
pub struct Room {
    cfg: RoomConfig,
    members: HashMap<PeerId, Member>,
    nicks: HashMap<String, PeerId>,
    /// Members in join order, for `/who` pages.
    roster: Roster,
    guests: u64,
    stats: RoomStats,
    /// Joins and leaves not yet announced (a large room sums them up).
    joined: u32,
    left: u32,
    /// Who the round under way queued something for.
    round: round::Pending,
    /// Links to the same room on other servers (see [`relay`]).
    relays: Vec<(PeerId, Box<dyn PeerSink>)>,
    /// Members on other servers, among `members`.
    remote: usize,
}

impl Room {
    /// An empty room.
    pub fn new(cfg: RoomConfig) -> Self {
        Room {
            cfg,
            members: HashMap::new(),
            nicks: HashMap::new(),
            roster: Roster::default(),
            guests: 0,
            stats: RoomStats::default(),
            joined: 0,
            left: 0,
            round: round::Pending::default(),
            relays: Vec::new(),
            remote: 0,
        }
    }

    /// Number of members now.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether nobody is in the room.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// What the room has counted so far.
    pub fn stats(&self) -> &RoomStats {
        &self.stats
    }

    /// Apply one event.
    pub fn handle(&mut self, ev: Event) {
        match ev {
            Event::Joined {
                peer,
                info,
                nick,
                sink,
            } => self.join(peer, info, nick, sink),
            Event::Message(peer, msg) => {
                if self.members.contains_key(&peer) {
                    self.stats.messages_in += 1;
                    self.message(peer, msg);
                }
            }
            Event::Invalid(peer, why) => {
                self.stats.invalid += 1;
                self.reply(peer, ServerMsg::Error(why));
            }
            Event::Left(peer, reason) => {
                if !self.detach(peer) {
                    self.leave(peer, reason, None)
                }
            }
            Event::Relay { peer, sink } => self.attach(peer, sink),
            Event::Remote {
                peer,
                via,
                server,
                proto,
                nick,
            } => self.join_remote(peer, relay::Remote { via, server }, proto, nick),
            Event::Notice(text) => self.notice(text),
        }
    }

    /// Whether joins and leaves are summed up rather than announced one by one.
    fn large(&self) -> bool {
        self.members.len() > self.cfg.announce_limit
    }

    /// Tell everyone the server is going away and close them with a flush.
    pub fn shutdown(&mut self) {
        let bye = Arc::new(Outgoing::new(ServerMsg::Bye {
            reason: LeaveReason::Shutdown,
        }));
        for (_, m) in self.members.drain() {
            let _ = m.sink.send(&bye);
            m.sink.close(Close::Flush);
        }
        for (_, relay) in self.relays.drain(..) {
            relay.close(Close::Flush);
        }
        self.remote = 0;
        self.nicks.clear();
        self.roster = Roster::default();
    }

    fn join(
        &mut self,
        peer: PeerId,
        info: PeerInfo,
        wanted: Option<String>,
        sink: Box<dyn PeerSink>,
    ) {
        if self.members.contains_key(&peer) {
            return;
        }
        if self.members.len() - self.remote >= self.cfg.max_members {
            self.stats.refused += 1;
            let full = format!("room is full ({} members)", self.cfg.max_members);
            let _ = sink.send(&Arc::new(Outgoing::new(ServerMsg::Error(full))));
            let _ = sink.send(&Arc::new(Outgoing::new(ServerMsg::Bye {
                reason: LeaveReason::BadInput("room is full".into()),
            })));
            sink.close(Close::Flush);
            return;
        }
        let mut note = None;
        let nick = match wanted.as_deref().map(valid_nick) {
            Some(Ok(n)) => self.unique(n),
            Some(Err(why)) => {
                note = Some(why);
                self.guest()
            }
            None => self.guest(),
        };
        tracing::info!(%peer, %nick, proto = %info.proto, addr = %info.addr, format = ?info.format, "joined");
        self.stats.joined += 1;
        let proto = info.proto;
        self.nicks.insert(nick.clone(), peer);
        self.roster.insert(peer);
        self.members.insert(
            peer,
            Member {
                nick: nick.clone(),
                info,
                sink,
                since: Instant::now(),
                remote: None,
            },
        );
        if let Some(why) = note {
            self.reply(peer, ServerMsg::Error(why));
        }
        self.welcome(peer);
        self.announce(Some(peer), None, ServerMsg::Joined { nick, proto });
    }

    /// Tell the room `msg` (an arrival, rename or departure) on behalf of `about`, which
    /// came through relay `via`: one by one in a small room, counted in a large one
    /// (arrivals and departures; a rename is told to the member only); relays always.
    fn announce(&mut self, about: Option<PeerId>, via: Option<PeerId>, msg: ServerMsg) {
        if !self.large() {
            let except = about.filter(|_| matches!(msg, ServerMsg::Joined { .. }));
            self.broadcast_via(except, via, msg);
            return;
        }
        match &msg {
            ServerMsg::Joined { .. } => self.joined = self.joined.saturating_add(1),
            ServerMsg::Left { .. } => self.left = self.left.saturating_add(1),
            _ => {}
        }
        let out = Arc::new(Outgoing::new(msg));
        if let (ServerMsg::Renamed { .. }, Some(peer)) = (out.msg(), about) {
            if let Some(m) = self.members.get(&peer) {
                if m.sink.send(&out).is_ok() {
                    self.round.one(peer);
                }
            }
        }
        self.relay(via, &out);
    }

    fn welcome(&mut self, peer: PeerId) {
        let Some(m) = self.members.get(&peer) else {
            return;
        };
        let welcome = ServerMsg::Welcome {
            nick: m.nick.clone(),
            proto: m.info.proto,
            members: self.members.len() as u32,
            keepalive_ms: self.cfg.keepalive.as_millis() as u64,
        };
        self.reply(peer, welcome);
    }

    fn message(&mut self, peer: PeerId, msg: ClientMsg) {
        match msg {
            ClientMsg::Hello { .. } => self.welcome(peer),
            ClientMsg::Say { seq, sent_us, text } => {
                if text.len() > self.cfg.max_text {
                    let why = format!(
                        "line of {} bytes refused: the maximum is {}",
                        text.len(),
                        self.cfg.max_text
                    );
                    self.stats.invalid += 1;
                    self.reply(peer, ServerMsg::Error(why));
                    return;
                }
                let from = self.members[&peer].nick.clone();
                let n = self.broadcast(
                    Some(peer),
                    ServerMsg::Chat {
                        from,
                        seq,
                        sent_us,
                        text,
                    },
                );
                self.stats.delivered += n;
            }
            ClientMsg::Nick(wanted) => self.rename(peer, &wanted),
            ClientMsg::Who => self.who(peer, 1),
            ClientMsg::WhoPage(page) => self.who(peer, page),
            ClientMsg::Ping { t_us } => self.reply(peer, ServerMsg::Pong { t_us }),
            ClientMsg::Bye => {
                self.reply(
                    peer,
                    ServerMsg::Bye {
                        reason: LeaveReason::Quit,
                    },
                );
                self.leave(peer, LeaveReason::Quit, Some(Close::Flush));
            }
        }
    }

    fn rename(&mut self, peer: PeerId, wanted: &str) {
        let new = match valid_nick(wanted) {
            Ok(n) => n,
            Err(why) => return self.reply(peer, ServerMsg::Error(why)),
        };
        let Some(old) = self.members.get(&peer).map(|m| m.nick.clone()) else {
            return;
        };
        if old == new {
            return;
        }
        let new = match self.members.get(&peer).and_then(|m| m.remote.clone()) {
            // A member elsewhere was renamed by its own server: follow it here.
            Some(r) => self.claim(new, &r.server),
            None if self.nicks.contains_key(&new) => {
                return self.reply(peer, ServerMsg::Error(format!("nick {new} is taken")))
            }
            None => new,
        };
        self.set_nick(peer, new);
    }

    /// Rename `peer` to `new` (free) and tell the room.
    fn set_nick(&mut self, peer: PeerId, new: String) {
        let Some(m) = self.members.get_mut(&peer) else {
            return;
        };
        let old = std::mem::replace(&mut m.nick, new.clone());
        let via = m.remote.as_ref().map(|r| r.via);
        self.nicks.remove(&old);
        self.nicks.insert(new.clone(), peer);
        self.announce(Some(peer), via, ServerMsg::Renamed { old, new });
    }

    /// Remove `peer` (if a member), announce it, and close its sink if `close` says so.
    fn leave(&mut self, peer: PeerId, reason: LeaveReason, close: Option<Close>) {
        let Some(m) = self.members.remove(&peer) else {
            return;
        };
        tracing::info!(%peer, nick = %m.nick, %reason, "left");
        self.nicks.remove(&m.nick);
        self.roster.remove(peer);
        if let Some(how) = close {
            m.sink.close(how);
        }
        let via = m.remote.map(|r| r.via);
        if via.is_some() {
            self.remote -= 1;
        }
        let left = ServerMsg::Left {
            nick: m.nick,
            reason,
        };
        // A member leaving a large room (one over the limit before it left) is counted.
        if self.members.len() >= self.cfg.announce_limit {
            self.left = self.left.saturating_add(1);
            self.relay(via, &Arc::new(Outgoing::new(left)));
            return;
        }
        self.broadcast_via(None, via, left);
    }

    /// Send `msg` to one member; a member too slow for it is dropped.
    fn reply(&mut self, peer: PeerId, msg: ServerMsg) {
        let Some(m) = self.members.get(&peer) else {
            return;
        };
        match m.sink.send(&Arc::new(Outgoing::new(msg))) {
            Ok(()) => self.round.one(peer),
            Err(SendError::Full) => self.drop_slow(vec![peer]),
            Err(SendError::Closed) => self.leave(peer, LeaveReason::Closed, None),
        }
    }

    /// Send `msg` from `except` to every member but `except`, and to every relay but
    /// the one `except` came through; returns how many members here took it.
    fn broadcast(&mut self, except: Option<PeerId>, msg: ServerMsg) -> u64 {
        let via = except
            .and_then(|p| self.members.get(&p))
            .and_then(|m| m.remote.as_ref())
            .map(|r| r.via);
        self.broadcast_via(except, via, msg)
    }

    /// Send `msg` to every member here but `except`, and to every relay but `via`;
    /// returns how many members took it. Members whose queue is full are dropped as too
    /// slow, and that is announced in turn.
    fn broadcast_via(
        &mut self,
        except: Option<PeerId>,
        via: Option<PeerId>,
        msg: ServerMsg,
    ) -> u64 {
        let out = Arc::new(Outgoing::new(msg));
        self.relay(via, &out);
        self.broadcast_here(except, &out)
    }

    /// Send `out` to every member here but `except` (relays are not told); returns how
    /// many took it.
    fn broadcast_here(&mut self, except: Option<PeerId>, out: &Arc<Outgoing>) -> u64 {
        self.round.all();
        let mut sent = 0;
        let mut slow = Vec::new();
        let mut gone = Vec::new();
        for (id, m) in &self.members {
            if Some(*id) == except || m.remote.is_some() {
                continue;
            }
            match m.sink.send(out) {
                Ok(()) => sent += 1,
                Err(SendError::Full) => slow.push(*id),
                Err(SendError::Closed) => gone.push(*id),
            }
        }
        for id in gone {
            self.leave(id, LeaveReason::Closed, None);
        }
        self.drop_slow(slow);
        sent
    }

    fn drop_slow(&mut self, slow: Vec<PeerId>) {
        for id in slow {
            if self.members.contains_key(&id) {
                self.stats.dropped_slow += 1;
                self.leave(id, LeaveReason::TooSlow, Some(Close::Abort));
            }
        }
    }
}

#[cfg(test)]
mod tests;
