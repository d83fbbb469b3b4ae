//! Address validation for the UDP chat, free of I/O: the [`Gate`] decides what a
//! datagram from an address that is not a member gets — nothing, an answer (already
//! encoded, within the 3× rule), or admission to the room — and the transport carries
//! the decision out. Unit-tested without sockets below.
//!
//! # What a stranger is answered
//!
//! An unvalidated address gets at most [`AMPLIFICATION`] (3) times the bytes of the
//! datagram it sent (RFC 9000 §8), so how much a person typing into `nc -u` can be told
//! depends on the length of its first line (newline included). The challenge
//! ([`ServerMsg::Challenge`], rendered by `wire::text::line_within`) takes the longest
//! form that fits:
//!
//! | first line          | answer                                    | bytes |
//! |---------------------|-------------------------------------------|-------|
//! | 13 bytes or more    | `* to join, send the line: /ok K7Q2MX`    | 37    |
//! | 6–12 bytes (`hello`)| `* type /ok K7Q2MX`                       | 18    |
//! | 5 bytes (`hey!`)    | `* /ok K7Q2MX`                            | 13    |
//! | 3–4 bytes (`hi`)    | `* /join`                                 | 8     |
//! | 1–2 bytes           | nothing                                   |       |
//!
//! `* /join` carries no code (a code needs 13 bytes with the `* ` that keeps servers
//! from answering each other, so 5 bytes of input): it tells the person to send a
//! longer line, and `/join` itself (6 bytes) is answered with `* type /ok CODE`. So
//! `(echo hi; sleep 2) | nc -u HOST 7070` prints `* /join`. Counting bytes across
//! datagrams would need state for unvalidated addresses, which this server does not
//! keep; a bare Enter or one character gets nothing, since no hint fits 3–6 bytes.
//!
//! A member dropped for silence is remembered for [`DROPPED_MEMORY`] (at most as many
//! addresses as members, oldest forgotten first), so that its next line is answered
//! with [`ServerMsg::Expired`] — `* you were dropped after 30 s of silence; to rejoin,
//! send the line: /ok K7Q2MX`, shorter forms (`* dropped: /ok K7Q2MX`) for shorter
//! lines — instead of a bare challenge. That memory only holds addresses that had
//! proved themselves, and only changes the words of an answer within the same rule.

use super::budget::{Rate, TokenBucket};
use super::cookie::CookieJar;
use super::{reflect, GuardStats, UdpConfig, AMPLIFICATION};
use crate::transport::Format;
use crate::wire::binary;
use crate::wire::text;
use crate::wire::{ClientMsg, Handshake, LeaveReason, Refusal, ServerMsg};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long an address dropped for silence is told so when it speaks again.
pub(super) const DROPPED_MEMORY: Duration = Duration::from_secs(600);

/// What to do with one datagram from a stranger.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict<'a> {
    /// Send nothing (counted).
    Ignore,
    /// Send these bytes back; they are within the 3× rule.
    Answer(Bytes),
    /// The address proved itself: register it, then treat `rest` (text lines that
    /// followed the proof in the same datagram) as its first input.
    Admit {
        format: Format,
        nick: Option<String>,
        rest: &'a [u8],
    },
}

/// What an answer is, before it is encoded for the peer's format.
enum Reply {
    Handshake(Handshake),
    Binary(ServerMsg),
    Text(ServerMsg),
}

/// The decisions about strangers, and the little they need: the key for tokens and
/// codes, one budget for all strangers, and the addresses lately dropped for silence.
pub(super) struct Gate {
    pub(super) jar: CookieJar,
    strangers: TokenBucket,
    handshake_rate: Rate,
    pub(super) own_port: u16,
    max_datagram: usize,
    idle_timeout: Duration,
    dropped: Dropped,
    stats: Arc<GuardStats>,
}

impl Gate {
    /// A gate for a server bound to `own_port`, with a fresh random key.
    pub(super) fn new(cfg: &UdpConfig, own_port: u16, stats: Arc<GuardStats>) -> Self {
        Self::with_jar(CookieJar::new(cfg.cookie_period), cfg, own_port, stats)
    }

    pub(super) fn with_jar(
        jar: CookieJar,
        cfg: &UdpConfig,
        own_port: u16,
        stats: Arc<GuardStats>,
    ) -> Self {
        Gate {
            jar,
            strangers: TokenBucket::new(cfg.handshake_rate, Instant::now()),
            handshake_rate: cfg.handshake_rate,
            own_port,
            max_datagram: cfg.max_datagram,
            idle_timeout: cfg.idle_timeout,
            dropped: Dropped::new(cfg.max_peers),
            stats,
        }
    }

    /// Decide about `data` from `from`, which is not a member.
    pub(super) fn stranger<'a>(
        &mut self,
        data: &'a [u8],
        from: SocketAddr,
        now: Instant,
    ) -> Verdict<'a> {
        bump(&self.stats.stranger_bytes, data.len() as u64);
        if data.is_empty()
            || data.len() > self.max_datagram
            || !reflect::answerable(from, self.own_port)
            || !self.strangers.take(self.handshake_rate, now)
        {
            return self.ignore();
        }
        if data.starts_with(&binary::HANDSHAKE_TAG) {
            return match binary::decode_handshake(data) {
                Some(Handshake::Hello { token, nick }) => {
                    if self.jar.check_token(from, token, now) {
                        self.admit(from, Format::Binary, nick, &[])
                    } else {
                        bump(&self.stats.bad_tokens, 1);
                        self.retry(from, data.len(), now)
                    }
                }
                // Our own Retry reflected back, or junk.
                _ => self.ignore(),
            };
        }
        if binary::is_binary_datagram(data) {
            return match binary::decode_datagram::<ClientMsg>(data) {
                Ok(ClientMsg::Hello { .. }) => self.retry(from, data.len(), now),
                // Not (or no longer) a member: say so.
                Ok(_) => {
                    let bye = ServerMsg::Bye {
                        reason: LeaveReason::TimedOut,
                    };
                    self.answer(Reply::Binary(bye), data.len())
                }
                Err(_) => self.ignore(),
            };
        }
        let Ok(lines) = std::str::from_utf8(data) else {
            return self.ignore();
        };
        if text::is_server_line(lines) {
            // A server's line (perhaps our own challenge, reflected): never answered.
            return self.ignore();
        }
        let (first, rest) = lines.split_once('\n').unwrap_or((lines, ""));
        let proof = text::proof(first);
        match proof {
            Some(code) if self.jar.check_code(from, code, now) => {
                self.admit(from, Format::Text, None, rest.as_bytes())
            }
            _ => {
                if proof.is_some() {
                    bump(&self.stats.bad_tokens, 1);
                }
                let code = self.jar.code(from, now);
                let msg = match self.dropped.since(&from, now) {
                    Some(_) => ServerMsg::Expired {
                        idle_ms: self.idle_timeout.as_millis() as u64,
                        code,
                    },
                    None => ServerMsg::Challenge { code },
                };
                self.answer(Reply::Text(msg), data.len())
            }
        }
    }

    /// The answer to an address that proved itself when the registry is full.
    pub(super) fn room_full(&self, format: Format, got: usize) -> Verdict<'static> {
        let full = ServerMsg::Refused(Refusal::RoomFull);
        match format {
            Format::Binary => self.answer(Reply::Binary(full), got),
            Format::Text => self.answer(Reply::Text(full), got),
        }
    }

    /// `addr`, a text member, was dropped for silence: say so when it speaks again.
    pub(super) fn dropped_for_silence(&mut self, addr: SocketAddr, now: Instant) {
        self.dropped.insert(addr, now);
    }

    fn admit<'a>(
        &mut self,
        from: SocketAddr,
        format: Format,
        nick: Option<String>,
        rest: &'a [u8],
    ) -> Verdict<'a> {
        bump(&self.stats.validated, 1);
        self.dropped.remove(&from);
        Verdict::Admit { format, nick, rest }
    }

    fn retry(&self, to: SocketAddr, got: usize, now: Instant) -> Verdict<'static> {
        let token = self.jar.token(to, now);
        self.answer(Reply::Handshake(Handshake::Retry { token }), got)
    }

    /// `reply` encoded, if it fits [`AMPLIFICATION`] times the `got` bytes received (so
    /// a forged source address cannot turn the server into an amplifier).
    fn answer(&self, reply: Reply, got: usize) -> Verdict<'static> {
        let budget = got.saturating_mul(AMPLIFICATION);
        let bytes = match reply {
            Reply::Handshake(h) => binary::encode_handshake(&h).ok(),
            Reply::Binary(msg) => binary::encode_datagram(&msg).ok(),
            Reply::Text(msg) => text::line_within(&msg, budget).map(Bytes::from),
        };
        match bytes {
            Some(b) if b.len() <= budget => Verdict::Answer(b),
            _ => self.ignore(),
        }
    }

    fn ignore(&self) -> Verdict<'static> {
        bump(&self.stats.unanswered, 1);
        Verdict::Ignore
    }
}

fn bump(c: &std::sync::atomic::AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Addresses lately dropped for silence, at most `cap`, oldest forgotten first.
struct Dropped {
    /// When each was dropped, and the number of that drop (to spot stale queue entries).
    at: HashMap<SocketAddr, (Instant, u64)>,
    order: VecDeque<(SocketAddr, u64)>,
    cap: usize,
    drops: u64,
}

impl Dropped {
    fn new(cap: usize) -> Self {
        Dropped {
            at: HashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
            drops: 0,
        }
    }

    fn insert(&mut self, addr: SocketAddr, now: Instant) {
        while !self.at.contains_key(&addr) && self.at.len() >= self.cap {
            let Some((old, n)) = self.order.pop_front() else {
                break;
            };
            if self.at.get(&old).is_some_and(|&(_, m)| m == n) {
                self.at.remove(&old);
            }
        }
        self.drops += 1;
        self.at.insert(addr, (now, self.drops));
        self.order.push_back((addr, self.drops));
        // Entries replaced or removed since stay queued until here: keep it bounded.
        if self.order.len() > 2 * self.cap {
            let at = &self.at;
            self.order
                .retain(|(a, n)| at.get(a).is_some_and(|&(_, m)| m == *n));
        }
    }

    /// When `addr` was dropped, if that was within [`DROPPED_MEMORY`].
    fn since(&self, addr: &SocketAddr, now: Instant) -> Option<Instant> {
        let (when, _) = *self.at.get(addr)?;
        (now.saturating_duration_since(when) < DROPPED_MEMORY).then_some(when)
    }

    fn remove(&mut self, addr: &SocketAddr) {
        self.at.remove(addr);
    }
}

#[cfg(test)]
#[path = "gate_tests.rs"]
mod tests;
