//! The bus's side of the room: the relay's [`PeerSink`]. The room hands it each line
//! said here and each arrival, rename and departure here, once, during a round; the sink
//! appends the message's binary frame (encoded once for every recipient) to the round's
//! publication, and the round's `flush` seals it: **one publication per round**, however
//! many lines the round held, handed to the publishing task without waiting (so a busy
//! room publishes fewer, larger messages, and a quiet one publishes each line at once).
//! A publication that grows past [`MAX_PUBLICATION`] is sealed early.
//!
//! It also keeps this server's member list (from those same arrivals, renames and
//! departures), for heartbeats and for the roster a new or returning server asks for.
//! While the link to the broker is down nothing is published: lines are counted as lost
//! (see `cluster` docs for why they are not kept for later).

use super::bus::{self, Header, Kind};
use crate::transport::{Close, PeerSink, SendError};
use crate::wire::outgoing::Form;
use crate::wire::{binary, Outgoing, Proto, ServerMsg};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;

/// A publication is sealed once it holds this many bytes (NATS's default limit is 1 MiB).
pub const MAX_PUBLICATION: usize = 64 * 1024;
/// Publications waiting for the publishing task at most; beyond, they are dropped and
/// counted (the broker is not keeping up): memory stays bounded.
pub const PUBLISH_QUEUE: usize = 64;

/// What the bus side counted (all servers' counts are in their logs at shutdown).
#[derive(Debug, Default)]
pub struct Counters {
    /// Publications handed to the client.
    pub published: AtomicU64,
    /// Chat lines in them.
    pub lines_out: AtomicU64,
    /// Chat lines said here while the link was down: never published (lost to the others).
    pub lost_split: AtomicU64,
    /// Chat lines dropped because the publishing queue was full.
    pub lost_backlog: AtomicU64,
    /// Publications received from other servers.
    pub received: AtomicU64,
    /// Chat lines in them.
    pub lines_in: AtomicU64,
    /// Publications of other servers that never arrived (gaps in their numbering).
    pub missing: AtomicU64,
    /// Slow-consumer events: publications the client dropped because we read too slowly.
    pub slow_consumer: AtomicU64,
    /// Times the link to the broker was lost.
    pub splits: AtomicU64,
}

impl Counters {
    pub(super) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Relaxed);
    }

    /// A snapshot, for logs.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Relaxed)
    }
}

struct State {
    seq: u64,
    /// The round's publication being built, and the chat lines in it.
    batch: Option<(BytesMut, u64)>,
    /// This server's members: nickname → protocol.
    members: HashMap<String, Proto>,
    tx: Option<mpsc::Sender<Bytes>>,
}

/// The publishing side, shared by the relay sink (the room's thread) and the cluster task.
pub struct Outbox {
    server: String,
    boot: u64,
    up: AtomicBool,
    state: Mutex<State>,
    /// What was counted.
    pub counters: Counters,
}

impl Outbox {
    /// An outbox for server `server` (started as `boot`), feeding `tx`.
    pub fn new(server: String, boot: u64, tx: mpsc::Sender<Bytes>) -> Outbox {
        Outbox {
            server,
            boot,
            up: AtomicBool::new(false),
            state: Mutex::new(State {
                seq: 0,
                batch: None,
                members: HashMap::new(),
                tx: Some(tx),
            }),
            counters: Counters::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the link to the broker is up.
    pub fn is_up(&self) -> bool {
        self.up.load(Relaxed)
    }

    /// The link went up or down.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Relaxed);
    }

    /// Members on this server now.
    pub fn members(&self) -> usize {
        self.state().members.len()
    }

    fn header(&self, st: &mut State, kind: Kind) -> BytesMut {
        st.seq += 1;
        bus::start(&Header {
            server: self.server.clone(),
            boot: self.boot,
            seq: st.seq,
            kind,
        })
    }

    /// A message of the round (see the module docs).
    fn relay(&self, out: &Outgoing) {
        let mut st = self.state();
        let line = match out.msg() {
            ServerMsg::Chat { .. } => 1,
            ServerMsg::Joined { nick, proto } => {
                st.members.insert(nick.clone(), *proto);
                0
            }
            ServerMsg::Left { nick, .. } => {
                st.members.remove(nick);
                0
            }
            ServerMsg::Renamed { old, new } => {
                if let Some(p) = st.members.remove(old) {
                    st.members.insert(new.clone(), p);
                }
                0
            }
            _ => return, // summaries and notices stay on their server
        };
        if !self.is_up() {
            Counters::add(&self.counters.lost_split, line);
            return;
        }
        let Some(frame) = out.bytes(Form::Frame) else {
            return;
        };
        if st.batch.is_none() {
            let b = self.header(&mut st, Kind::Batch);
            st.batch = Some((b, 0));
        }
        let full = match &mut st.batch {
            Some((b, lines)) => {
                b.extend_from_slice(frame);
                *lines += line;
                b.len() >= MAX_PUBLICATION
            }
            None => false,
        };
        if full {
            self.seal(&mut st);
        }
    }

    /// Hand the round's publication to the publishing task.
    fn seal(&self, st: &mut State) {
        let Some((b, lines)) = st.batch.take() else {
            return;
        };
        let Some(tx) = &st.tx else {
            return;
        };
        match tx.try_send(b.freeze()) {
            Ok(()) => {
                Counters::add(&self.counters.published, 1);
                Counters::add(&self.counters.lines_out, lines);
            }
            Err(_) => Counters::add(&self.counters.lost_backlog, lines),
        }
    }

    /// Publish a control message (after whatever the round had built, to keep order).
    pub fn control(&self, kind: Kind) {
        if !self.is_up() {
            return;
        }
        let mut st = self.state();
        self.seal(&mut st);
        let b = self.header(&mut st, kind);
        st.batch = Some((b, 0));
        self.seal(&mut st);
    }

    /// Publish this server's member list, in parts of at most [`MAX_PUBLICATION`].
    pub fn roster(&self, gen: u64) {
        if !self.is_up() {
            return;
        }
        let mut st = self.state();
        self.seal(&mut st);
        let frames: Vec<Bytes> = (st.members.iter())
            .filter_map(|(nick, proto)| {
                let joined = ServerMsg::Joined {
                    nick: nick.clone(),
                    proto: *proto,
                };
                binary::encode_frame(&joined).ok()
            })
            .collect();
        let mut part = BytesMut::new();
        for (i, f) in frames.iter().enumerate() {
            part.extend_from_slice(f);
            let last = i + 1 == frames.len();
            if part.len() >= MAX_PUBLICATION / 2 || last {
                let mut b = self.header(&mut st, Kind::Roster { gen, last });
                b.extend_from_slice(&part);
                part.clear();
                st.batch = Some((b, 0));
                self.seal(&mut st);
            }
        }
        if frames.is_empty() {
            let b = self.header(&mut st, Kind::Roster { gen, last: true });
            st.batch = Some((b, 0));
            self.seal(&mut st);
        }
    }

    /// No more publications: the publishing task ends once it has sent what it has.
    pub fn close(&self) {
        self.state().tx = None;
    }
}

/// The relay's sink in the room.
pub struct RelaySink(pub Arc<Outbox>);

impl PeerSink for RelaySink {
    fn send(&self, msg: &Arc<Outgoing>) -> Result<(), SendError> {
        self.0.relay(msg);
        Ok(())
    }

    fn flush(&self) {
        let mut st = self.0.state();
        self.0.seal(&mut st);
    }

    fn close(&self, _: Close) {}
}
