//! The other servers of the room, as this one hears them on the bus: each one's members
//! (nickname → the [`PeerId`] the room knows them by), the last time it was heard, and
//! its publication numbering. What they publish becomes the room's events here
//! ([`Event::Remote`], `Message`, `Left`), in the order they published it.
//!
//! - **Heartbeats and expiry.** Every server publishes a heartbeat each
//!   [`HEARTBEAT`](super::HEARTBEAT); one not heard for [`EXPIRY`](super::EXPIRY) is
//!   gone, and its members leave ("its server s2 went silent"). While *our own* link is
//!   down nobody is expired (we cannot hear anyone); the clocks restart when it is back.
//! - **Rosters.** A server we have not heard before (or that restarted: a new `boot`)
//!   is asked for its member list, and sent ours; a heartbeat whose member count
//!   differs from what we hold (publications were lost) asks again. A complete list
//!   replaces what we held: who is missing leaves, who is new joins.
//! - **Gaps.** Publication numbers that never arrived are counted (at-most-once bus).

use super::bus::{self, BadPublication, Header, Kind};
use super::outbox::Counters;
use crate::transport::{Event, PeerId};
use crate::wire::{ClientMsg, LeaveReason, Proto, ServerMsg};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Members held for one server at most; more are ignored (bounded memory).
const MAX_ROSTER: usize = 1_000_000;

struct Server {
    name: Arc<str>,
    boot: u64,
    next_seq: u64,
    heard: Instant,
    members: HashMap<String, PeerId>,
    /// A roster being received: its generation and what it listed so far.
    listing: Option<(u64, HashMap<String, Proto>)>,
}

/// What the cluster task should publish after a receive.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Todo {
    /// Publish our roster (a server is new to us, so we are new to it; or it asked).
    pub roster: bool,
    /// Ask these servers for theirs.
    pub ask: Vec<String>,
}

/// Every other server heard on the bus.
pub struct Others {
    me: String,
    boot: u64,
    via: PeerId,
    servers: HashMap<String, Server>,
    warned_twin: bool,
}

impl Others {
    /// Nobody yet; we are `me` (started as `boot`), our relay in the room is `via`.
    pub fn new(me: String, boot: u64, via: PeerId) -> Others {
        Others {
            me,
            boot,
            via,
            servers: HashMap::new(),
            warned_twin: false,
        }
    }

    /// Servers heard and not expired.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// Whether no other server is known.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Members on other servers.
    pub fn members(&self) -> usize {
        self.servers.values().map(|s| s.members.len()).sum()
    }

    /// Apply one publication; the room's events go to `out`.
    pub fn receive(
        &mut self,
        payload: &Bytes,
        now: Instant,
        c: &Counters,
        out: &mut Vec<Event>,
    ) -> Result<Todo, BadPublication> {
        let (h, rest) = bus::open(payload)?;
        let mut todo = Todo::default();
        if h.server == self.me {
            if h.boot != self.boot && !self.warned_twin {
                self.warned_twin = true;
                tracing::error!(name = %self.me, "another server on the bus calls itself by this server's name: give each server its own --name");
            }
            return Ok(todo);
        }
        Counters::add(&c.received, 1);
        let via = self.via;
        let s = self.server(&h, now, out, &mut todo);
        if h.seq > s.next_seq {
            let lost = h.seq - s.next_seq;
            Counters::add(&c.missing, lost);
            tracing::warn!(server = %s.name, lost, "publications from this server never arrived");
        } else if h.seq < s.next_seq {
            return Ok(todo); // already seen (cannot happen on one NATS connection)
        }
        s.next_seq = h.seq + 1;
        s.heard = now;
        match h.kind {
            Kind::Batch => {
                for msg in bus::frames(rest) {
                    let msg = msg?;
                    if matches!(msg, ServerMsg::Chat { .. }) {
                        Counters::add(&c.lines_in, 1);
                    }
                    if !apply(s, via, msg, out) && s.listing.is_none() {
                        todo.ask.push(h.server.clone());
                    }
                }
            }
            Kind::Roster { gen, last } => {
                let listing = match &mut s.listing {
                    Some((g, l)) if *g == gen => l,
                    _ => &mut s.listing.insert((gen, HashMap::new())).1,
                };
                for msg in bus::frames(rest) {
                    if let (ServerMsg::Joined { nick, proto }, true) =
                        (msg?, listing.len() < MAX_ROSTER)
                    {
                        listing.insert(nick, proto);
                    }
                }
                if last {
                    reconcile(s, via, out);
                }
            }
            Kind::Heartbeat { members } => {
                if members as usize != s.members.len() && s.listing.is_none() {
                    todo.ask.push(h.server.clone());
                }
            }
            Kind::RosterPlease { of } => todo.roster |= of == self.me || of == "*",
            Kind::Bye => {
                if let Some(s) = self.servers.remove(&h.server) {
                    tracing::info!(server = %s.name, members = s.members.len(), "server left the room");
                    leave_all(s, LeaveReason::Shutdown, out);
                }
            }
        }
        todo.ask.dedup();
        Ok(todo)
    }

    /// The entry for the publisher of `h`: a new one (and a roster exchange) for a server
    /// not known, or known under another boot (its old members leave).
    fn server(
        &mut self,
        h: &Header,
        now: Instant,
        out: &mut Vec<Event>,
        todo: &mut Todo,
    ) -> &mut Server {
        let known = self.servers.get(&h.server).map(|s| s.boot);
        if known != Some(h.boot) {
            if let Some(old) = self.servers.remove(&h.server) {
                tracing::info!(server = %old.name, "server restarted");
                let why = LeaveReason::ServerLost(old.name.to_string());
                leave_all(old, why, out);
            }
            tracing::info!(server = %h.server, "server joined the room");
            todo.roster = true;
            if !matches!(h.kind, Kind::Roster { .. }) {
                todo.ask.push(h.server.clone());
            }
            self.servers.insert(
                h.server.clone(),
                Server {
                    name: h.server.as_str().into(),
                    boot: h.boot,
                    next_seq: h.seq,
                    heard: now,
                    members: HashMap::new(),
                    listing: None,
                },
            );
        }
        self.servers.get_mut(&h.server).expect("inserted above")
    }

    /// Servers silent for `expiry` are gone: their members leave. Their names.
    pub fn expire(&mut self, now: Instant, expiry: Duration, out: &mut Vec<Event>) -> Vec<String> {
        let gone: Vec<String> = (self.servers.iter())
            .filter(|(_, s)| now.saturating_duration_since(s.heard) >= expiry)
            .map(|(n, _)| n.clone())
            .collect();
        for name in &gone {
            if let Some(s) = self.servers.remove(name) {
                let why = LeaveReason::ServerLost(name.clone());
                leave_all(s, why, out);
            }
        }
        gone
    }

    /// Our link is back: every server's silence is counted from now.
    pub fn link_restored(&mut self, now: Instant) {
        for s in self.servers.values_mut() {
            s.heard = now;
        }
    }
}

/// One relayed message of `s`'s; `false` if it named a member we do not know.
fn apply(s: &mut Server, via: PeerId, msg: ServerMsg, out: &mut Vec<Event>) -> bool {
    match msg {
        ServerMsg::Joined { nick, proto } if !s.members.contains_key(&nick) => {
            join(s, via, nick, proto, out);
        }
        ServerMsg::Left { nick, reason } => match s.members.remove(&nick) {
            Some(p) => out.push(Event::Left(p, reason)),
            None => return false,
        },
        ServerMsg::Renamed { old, new } => match s.members.remove(&old) {
            Some(p) => {
                s.members.insert(new.clone(), p);
                out.push(Event::Message(p, ClientMsg::Nick(new)));
            }
            None => return false,
        },
        ServerMsg::Chat {
            from,
            seq,
            sent_us,
            text,
        } => match s.members.get(&from) {
            Some(&p) => out.push(Event::Message(p, ClientMsg::Say { seq, sent_us, text })),
            None => return false,
        },
        _ => {}
    }
    true
}

fn join(s: &mut Server, via: PeerId, nick: String, proto: Proto, out: &mut Vec<Event>) {
    if s.members.len() >= MAX_ROSTER {
        return;
    }
    let peer = PeerId::next();
    s.members.insert(nick.clone(), peer);
    out.push(Event::Remote {
        peer,
        via,
        server: s.name.clone(),
        proto,
        nick,
    });
}

/// A complete roster replaces what we held of `s`.
fn reconcile(s: &mut Server, via: PeerId, out: &mut Vec<Event>) {
    let Some((_, listed)) = s.listing.take() else {
        return;
    };
    let gone: Vec<String> = (s.members.keys())
        .filter(|n| !listed.contains_key(*n))
        .cloned()
        .collect();
    for nick in gone {
        if let Some(p) = s.members.remove(&nick) {
            out.push(Event::Left(p, LeaveReason::Closed));
        }
    }
    for (nick, proto) in listed {
        if !s.members.contains_key(&nick) {
            join(s, via, nick, proto, out);
        }
    }
}

fn leave_all(s: Server, why: LeaveReason, out: &mut Vec<Event>) {
    for (_, p) in s.members {
        out.push(Event::Left(p, why.clone()));
    }
}
