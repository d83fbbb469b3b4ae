//! The chat room, written once over any [`Transport`](crate::transport::Transport) or
//! several at once.
//!
//! One task owns all state (no lock around the member map) and consumes the [`Event`]s
//! that every transport feeds into one channel; `--proto both` is simply two transports
//! feeding the same channel. A broadcast wraps the message in one [`Outgoing`], so it is
//! encoded once per wire form and the same bytes go to every member. The room never
//! waits on a member: a full queue means the member is too slow and is dropped.

use crate::transport::{Close, Event, PeerId, PeerInfo, PeerSink, SendError};
use crate::wire::{ClientMsg, LeaveReason, MemberInfo, Outgoing, ServerMsg};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Longest nickname, in characters.
pub const MAX_NICK: usize = 32;
/// `/who` answers are split into messages of at most this many members, so each fits a datagram.
const WHO_CHUNK: usize = 16;

/// Room limits.
#[derive(Debug, Clone)]
pub struct RoomConfig {
    /// Members at most; one more is refused with an error.
    pub max_members: usize,
    /// Longest chat line in bytes (so every relayed message fits a UDP datagram).
    pub max_text: usize,
    /// How often UDP clients must send something (told to them in `Welcome`).
    pub keepalive: Duration,
}

impl Default for RoomConfig {
    fn default() -> Self {
        RoomConfig {
            max_members: 1024,
            max_text: 1024,
            keepalive: Duration::from_secs(10),
        }
    }
}

/// What the room counted over its life.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RoomStats {
    pub joined: u64,
    pub refused: u64,
    pub messages_in: u64,
    /// Chat messages handed to members' sinks.
    pub delivered: u64,
    pub dropped_slow: u64,
    pub invalid: u64,
}

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
    guests: u64,
    stats: RoomStats,
}

impl Room {
    pub fn new(cfg: RoomConfig) -> Self {
        Room {
            cfg,
            members: HashMap::new(),
            nicks: HashMap::new(),
            guests: 0,
            stats: RoomStats::default(),
        }
    }

    /// Consume events until `shutdown` is cancelled (or every transport is gone); then
    /// tell every member the server is going away and close them with a flush.
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<Event>,
        shutdown: CancellationToken,
    ) -> RoomStats {
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                ev = events.recv() => match ev {
                    Some(ev) => self.handle(ev),
                    None => break,
                },
            }
        }
        self.shutdown();
        self.stats
    }

    /// Number of members now.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

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
        self.broadcast(Some(peer), ServerMsg::Joined { nick, proto });
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
            ClientMsg::Who => self.who(peer),
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
        self.broadcast(None, ServerMsg::Renamed { old, new });
    }

    fn who(&mut self, peer: PeerId) {
        let mut list: Vec<(&Instant, MemberInfo)> = self
            .members
            .values()
            .map(|m| {
                (
                    &m.since,
                    MemberInfo {
                        nick: m.nick.clone(),
                        proto: m.info.proto,
                        online_s: m.since.elapsed().as_secs(),
                    },
                )
            })
            .collect();
        list.sort_by_key(|(since, _)| **since);
        let list: Vec<MemberInfo> = list.into_iter().map(|(_, m)| m).collect();
        for chunk in list.chunks(WHO_CHUNK) {
            self.reply(peer, ServerMsg::Members(chunk.to_vec()));
        }
    }

    /// Remove `peer` (if a member), announce it, and close its sink if `close` says so.
    fn leave(&mut self, peer: PeerId, reason: LeaveReason, close: Option<Close>) {
        let Some(m) = self.members.remove(&peer) else {
            return;
        };
        tracing::info!(%peer, nick = %m.nick, %reason, "left");
        self.nicks.remove(&m.nick);
        if let Some(how) = close {
            m.sink.close(how);
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
            Ok(()) => {}
            Err(SendError::Full) => self.drop_slow(vec![peer]),
            Err(SendError::Closed) => self.leave(peer, LeaveReason::Closed, None),
        }
    }

    /// Send `msg` to every member but `except`; returns how many took it. Members whose
    /// queue is full are dropped as too slow, and that is announced in turn.
    fn broadcast(&mut self, except: Option<PeerId>, msg: ServerMsg) -> u64 {
        let out = Arc::new(Outgoing::new(msg));
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

/// A nickname is 1 to [`MAX_NICK`] letters, digits, `_`, `-` or `.`.
pub fn valid_nick(wanted: &str) -> Result<String, String> {
    let ok = !wanted.is_empty()
        && wanted.chars().count() <= MAX_NICK
        && wanted
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(wanted.to_string())
    } else {
        Err(format!(
            "invalid nick {wanted:?}: use 1 to {MAX_NICK} letters, digits, _ - ."
        ))
    }
}
