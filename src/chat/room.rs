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

mod config;
mod nick;
pub mod round;

pub use config::{
    RoomConfig, RoomStats, DEFAULT_ANNOUNCE_LIMIT, DEFAULT_KEEPALIVE, DEFAULT_MAX_MEMBERS,
    DEFAULT_MAX_TEXT, DEFAULT_WHO_PAGE,
};
pub use nick::{valid_nick, MAX_NICK};

use super::roster::Roster;
use crate::transport::{Close, Event, PeerId, PeerInfo, PeerSink, SendError};
use crate::wire::{ClientMsg, LeaveReason, MemberInfo, Outgoing, ServerMsg};
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
            Event::Left(peer, reason) => self.leave(peer, reason, None),
        }
    }

    /// Whether joins and leaves are summed up rather than announced one by one.
    fn large(&self) -> bool {
        self.members.len() > self.cfg.announce_limit
    }

    /// Broadcast the joins and leaves counted since the last call, if any (a large room
    /// calls this once per [`PRESENCE_EVERY`]).
    pub fn announce_presence(&mut self) {
        if self.joined == 0 && self.left == 0 {
            return;
        }
        let msg = ServerMsg::Presence {
            joined: std::mem::take(&mut self.joined),
            left: std::mem::take(&mut self.left),
            online: self.members.len() as u32,
        };
        self.stats.presence += 1;
        self.broadcast(None, msg);
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
        if self.members.len() >= self.cfg.max_members {
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
            },
        );
        if let Some(why) = note {
            self.reply(peer, ServerMsg::Error(why));
        }
        self.welcome(peer);
        if self.large() {
            self.joined = self.joined.saturating_add(1);
        } else {
            self.broadcast(Some(peer), ServerMsg::Joined { nick, proto });
        }
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
        if self.nicks.contains_key(&new) {
            return self.reply(peer, ServerMsg::Error(format!("nick {new} is taken")));
        }
        self.nicks.remove(&old);
        self.nicks.insert(new.clone(), peer);
        if let Some(m) = self.members.get_mut(&peer) {
            m.nick = new.clone();
        }
        if self.large() {
            self.reply(peer, ServerMsg::Renamed { old, new });
        } else {
            self.broadcast(None, ServerMsg::Renamed { old, new });
        }
    }

    /// One page (from 1) of the member list, oldest first, then which page it was.
    fn who(&mut self, peer: PeerId, page: u32) {
        let size = self.cfg.who_page.max(1);
        let online = self.members.len();
        let pages = online.div_ceil(size).max(1);
        let page = (page.max(1) as usize).min(pages);
        let list: Vec<MemberInfo> = self
            .roster
            .page(page, size)
            .filter_map(|id| self.members.get(&id))
            .map(|m| MemberInfo {
                nick: m.nick.clone(),
                proto: m.info.proto,
                online_s: m.since.elapsed().as_secs(),
            })
            .collect();
        for chunk in list.chunks(WHO_CHUNK) {
            self.reply(peer, ServerMsg::Members(chunk.to_vec()));
        }
        self.reply(
            peer,
            ServerMsg::WhoPage {
                page: page as u32,
                pages: pages as u32,
                online: online as u32,
            },
        );
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
        // A member leaving a large room (one over the limit before it left) is counted.
        if self.members.len() >= self.cfg.announce_limit {
            self.left = self.left.saturating_add(1);
            return;
        }
        self.broadcast(
            None,
            ServerMsg::Left {
                nick: m.nick,
                reason,
            },
        );
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

    /// Send `msg` to every member but `except`; returns how many took it. Members whose
    /// queue is full are dropped as too slow, and that is announced in turn.
    fn broadcast(&mut self, except: Option<PeerId>, msg: ServerMsg) -> u64 {
        let out = Arc::new(Outgoing::new(msg));
        self.round.all();
        let mut sent = 0;
        let mut slow = Vec::new();
        let mut gone = Vec::new();
        for (id, m) in &self.members {
            if Some(*id) == except {
                continue;
            }
            match m.sink.send(&out) {
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

    fn guest(&mut self) -> String {
        loop {
            self.guests += 1;
            let nick = format!("guest{}", self.guests);
            if !self.nicks.contains_key(&nick) {
                return nick;
            }
        }
    }

    fn unique(&self, wanted: String) -> String {
        if !self.nicks.contains_key(&wanted) {
            return wanted;
        }
        (2..)
            .map(|n| format!("{wanted}{n}"))
            .find(|n| !self.nicks.contains_key(n))
            .unwrap_or(wanted)
    }
}

#[cfg(test)]
mod tests;
