//! UDP: one socket for every peer ([`UdpTransport`]), the peer registry keyed by source
//! address ([`registry`]) with a cap and idle expiry, the room's handle on a peer
//! ([`sink`]), and the defences a connectionless server needs against forged sources:
//! stateless address validation ([`cookie`]), rate budgets ([`budget`]) and the sources
//! never answered ([`reflect`]).
//!
//! Each datagram is self-describing: one that starts with a NUL byte is binary (a
//! nettool message, or a [`Handshake`]), anything else is text (one or more lines), so
//! `nc -u` and nettool clients share the room with no flag.
//!
//! # Joining: an address must prove itself first
//!
//! A UDP source address can be forged, so the server keeps **no state** for an address
//! until it has shown it receives what is sent there, and it never answers such an
//! address with more than 3× the bytes of the datagram it answers (the anti-amplification
//! rule of QUIC, RFC 9000 §8), nor answers more than [`UdpConfig::handshake_rate`]
//! unvalidated datagrams per second in all.
//!
//! * Binary: `Hello` → [`Handshake::Retry`] with a token bound to the source address →
//!   [`Handshake::Hello`] carrying the token → the peer is registered and joins.
//! * Text: the first datagram is answered with a challenge line such as
//!   `* to join, send the line: /ok K7Q2MX`; the person types `/ok K7Q2MX` and joins.
//!   What the first datagram said is not kept (that would be state). A challenge never
//!   starts with `/ok`, so a reflector that echoes it back does not pass; and text from
//!   a stranger that looks like a server's line (`* `, `! `) is never answered, so two
//!   servers cannot be made to challenge each other forever.
//!
//! A registered member spends one token per message from a bucket of
//! [`UdpConfig::rate`]; messages over budget are dropped and counted, and the member is
//! told at most once per [`NOTICE_EVERY`].
//!
//! The room's messages leave through one writer task ([`writer`]) that packs each
//! peer's queued messages into as few datagrams as the cap allows.

pub mod batch;
pub mod budget;
pub mod cookie;
pub mod reflect;
pub mod registry;
pub mod sink;
pub mod socket;
pub mod writer;

use crate::transport::{Event, EventTx, Format, PeerId, PeerInfo, Transport};
use crate::wire::binary::{self, WireError};
use crate::wire::outgoing::Form;
use crate::wire::{text, ClientMsg, Handshake, LeaveReason, Proto, ServerMsg};
use budget::{Rate, TokenBucket};
use cookie::CookieJar;
use registry::Registry;
use sink::UdpSink;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use writer::SendStats;

/// Receive buffer: the largest UDP payload, so an oversize datagram is seen, not truncated.
const RECV_BUF: usize = 65_536;
/// How long shutdown waits for the writer to send what the room queued last.
const FLUSH_GRACE: Duration = Duration::from_secs(5);
/// An unvalidated address gets at most this many times the bytes it sent (RFC 9000 §8).
pub const AMPLIFICATION: usize = 3;
/// A member over its budget is told at most this often.
pub const NOTICE_EVERY: Duration = Duration::from_secs(5);
/// What a text peer types, before its code, to prove its address.
pub const OK_COMMAND: &str = "/ok ";

/// UDP limits and timeouts.
#[derive(Debug, Clone)]
pub struct UdpConfig {
    /// Largest datagram accepted or sent (bytes).
    pub max_datagram: usize,
    /// Registered peers at most.
    pub max_peers: usize,
    /// A peer silent this long is dropped.
    pub idle_timeout: Duration,
    /// Messages per second (and burst) each member may send; more are dropped.
    pub rate: Rate,
    /// Datagrams per second (and burst) from unvalidated addresses answered or checked,
    /// all of them together.
    pub handshake_rate: Rate,
    /// A token or code is valid from one to two periods after it was made.
    pub cookie_period: Duration,
}

/// Default messages per second per UDP member.
pub const DEFAULT_RATE: u32 = 100;
/// Default burst per UDP member.
pub const DEFAULT_BURST: u32 = 200;

impl Default for UdpConfig {
    fn default() -> Self {
        UdpConfig {
            max_datagram: binary::DEFAULT_MAX_DATAGRAM,
            max_peers: 1024,
            idle_timeout: Duration::from_secs(30),
            rate: Rate::new(DEFAULT_RATE, DEFAULT_BURST),
            handshake_rate: Rate::new(1000, 1000),
            cookie_period: Duration::from_secs(60),
        }
    }
}

/// What the UDP side refused or challenged, over its life.
#[derive(Debug, Default)]
pub struct GuardStats {
    /// Answers (`Retry`, challenge line, refusal) sent to unvalidated addresses.
    pub challenges: AtomicU64,
    /// Bytes in those answers, and bytes received from unvalidated addresses.
    pub challenge_bytes: AtomicU64,
    pub stranger_bytes: AtomicU64,
    /// Addresses that proved themselves.
    pub validated: AtomicU64,
    /// Wrong, forged or expired tokens and codes.
    pub bad_tokens: AtomicU64,
    /// Datagrams from unvalidated addresses dropped unanswered (guarded port, over the
    /// handshake budget, oversize, junk, or an answer would break the 3× rule).
    pub unanswered: AtomicU64,
    /// Members' messages dropped over their budget.
    pub throttled: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

fn lock(r: &Mutex<Registry>) -> MutexGuard<'_, Registry> {
    r.lock().unwrap_or_else(|e| e.into_inner())
}

/// A bound UDP socket serving chat peers.
pub struct UdpTransport {
    socket: Arc<UdpSocket>,
    own_port: u16,
    cfg: UdpConfig,
    registry: Arc<Mutex<Registry>>,
    stats: Arc<SendStats>,
    writer: mpsc::Sender<writer::Queued>,
    queue: mpsc::Receiver<writer::Queued>,
    guard: Arc<GuardStats>,
    jar: CookieJar,
    strangers: TokenBucket,
}

impl UdpTransport {
    pub fn new(socket: UdpSocket, cfg: UdpConfig) -> Self {
        let (writer, queue) = mpsc::channel(writer::QUEUE);
        let own_port = socket.local_addr().map_or(0, |a| a.port());
        let now = Instant::now();
        UdpTransport {
            socket: Arc::new(socket),
            own_port,
            registry: Arc::new(Mutex::new(Registry::new(cfg.max_peers))),
            stats: Arc::new(SendStats::default()),
            guard: Arc::new(GuardStats::default()),
            jar: CookieJar::new(cfg.cookie_period),
            strangers: TokenBucket::new(cfg.handshake_rate, now),
            cfg,
            writer,
            queue,
        }
    }

    /// A socket at `addr` (see [`socket::bind`]), serving chat peers.
    pub fn bind(addr: SocketAddr, cfg: UdpConfig) -> std::io::Result<Self> {
        Ok(UdpTransport::new(socket::bind(addr)?, cfg))
    }

    /// Counters of what the room sent through this socket.
    pub fn send_stats(&self) -> Arc<SendStats> {
        self.stats.clone()
    }

    /// Counters of what was refused, challenged and throttled.
    pub fn guard_stats(&self) -> Arc<GuardStats> {
        self.guard.clone()
    }

    /// Registered peers now.
    pub fn registered(&self) -> usize {
        lock(&self.registry).len()
    }

    /// Turn one datagram into events (appended to `out`).
    fn on_datagram(&mut self, data: &[u8], from: SocketAddr, out: &mut Vec<Event>) {
        let now = Instant::now();
        if !self.on_member(data, from, now, out) {
            self.on_stranger(data, from, now, out);
        }
    }

    /// A datagram from a registered address; `false` if `from` is not one.
    fn on_member(&self, data: &[u8], from: SocketAddr, now: Instant, out: &mut Vec<Event>) -> bool {
        let mut reg = lock(&self.registry);
        let Some(e) = reg.get_mut(&from) else {
            return false;
        };
        e.last_seen = now;
        e.bytes_in += data.len() as u64;
        let peer = e.peer;
        let mut items: Vec<Result<ClientMsg, String>> = Vec::new();
        if data.len() > self.cfg.max_datagram {
            items.push(Err(format!(
                "datagram of {} bytes refused: the maximum is {}",
                data.len(),
                self.cfg.max_datagram
            )));
        } else if data.starts_with(&binary::HANDSHAKE_TAG) {
            // A repeated handshake: its Welcome was lost.
            if let Some(Handshake::Hello { nick, .. }) = binary::decode_handshake(data) {
                items.push(Ok(ClientMsg::Hello { nick }));
            }
        } else if binary::is_binary_datagram(data) {
            items.push(binary::decode_datagram::<ClientMsg>(data).map_err(|e| e.refusal()));
        } else {
            match std::str::from_utf8(data) {
                Ok(lines) => {
                    for line in lines.split('\n') {
                        if line.starts_with(OK_COMMAND) {
                            continue; // a repeated proof of address
                        }
                        match text::parse_line(line, &mut e.next_seq) {
                            Ok(Some(msg)) => items.push(Ok(msg)),
                            Ok(None) => {}
                            Err(why) => items.push(Err(why)),
                        }
                    }
                }
                Err(_) => items.push(Err(WireError::InvalidUtf8.refusal())),
            }
        }
        let mut bye = false;
        for item in items {
            let leaving = matches!(item, Ok(ClientMsg::Bye));
            if !leaving && !e.budget.take(self.cfg.rate, now) {
                e.throttled += 1;
                bump(&self.guard.throttled, 1);
                continue;
            }
            bye |= leaving;
            out.push(match item {
                Ok(msg) => Event::Message(peer, msg),
                Err(why) => Event::Invalid(peer, why),
            });
        }
        let due = e
            .noticed
            .map_or(true, |t| now.saturating_duration_since(t) >= NOTICE_EVERY);
        if e.throttled > 0 && due && !bye {
            tracing::debug!(%from, dropped = e.throttled, "UDP member over its budget");
            out.push(Event::Invalid(
                peer,
                format!(
                    "slow down: {} messages dropped (limit {})",
                    e.throttled, self.cfg.rate
                ),
            ));
            e.throttled = 0;
            e.noticed = Some(now);
        }
        if bye {
            reg.remove(&from, peer);
        }
        true
    }

    /// A datagram from an address that has not proved itself: answered within the 3× rule
    /// and the handshake budget, registered only with a valid token or code.
    fn on_stranger(&mut self, data: &[u8], from: SocketAddr, now: Instant, out: &mut Vec<Event>) {
        bump(&self.guard.stranger_bytes, data.len() as u64);
        if data.is_empty()
            || data.len() > self.cfg.max_datagram
            || !reflect::answerable(from, self.own_port)
            || !self.strangers.take(self.cfg.handshake_rate, now)
        {
            bump(&self.guard.unanswered, 1);
            return;
        }
        if data.starts_with(&binary::HANDSHAKE_TAG) {
            match binary::decode_handshake(data) {
                Some(Handshake::Hello { token, nick }) => {
                    if self.jar.check_token(from, token, now) {
                        self.register(from, Format::Binary, nick, data.len(), now, out);
                    } else {
                        bump(&self.guard.bad_tokens, 1);
                        self.retry(from, data.len(), now);
                    }
                }
                // Our own Retry reflected back, or junk.
                _ => bump(&self.guard.unanswered, 1),
            }
            return;
        }
        if binary::is_binary_datagram(data) {
            match binary::decode_datagram::<ClientMsg>(data) {
                Ok(ClientMsg::Hello { .. }) => self.retry(from, data.len(), now),
                // Not (or no longer) a member: say so.
                Ok(_) => self.answer(
                    from,
                    data.len(),
                    binary::encode_datagram(&ServerMsg::Bye {
                        reason: LeaveReason::TimedOut,
                    })
                    .ok(),
                ),
                Err(_) => bump(&self.guard.unanswered, 1),
            }
            return;
        }
        let Ok(text) = std::str::from_utf8(data) else {
            bump(&self.guard.unanswered, 1);
            return;
        };
        if text.starts_with("* ") || text.starts_with("! ") {
            // A server's line (perhaps our own challenge, reflected): never answered.
            bump(&self.guard.unanswered, 1);
            return;
        }
        let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
        let proof = first.trim_end_matches('\r').strip_prefix(OK_COMMAND);
        match proof {
            Some(code) if self.jar.check_code(from, code, now) => {
                if self.register(from, Format::Text, None, data.len(), now, out) && !rest.is_empty()
                {
                    self.on_member(rest.as_bytes(), from, now, out);
                }
            }
            _ => {
                if proof.is_some() {
                    bump(&self.guard.bad_tokens, 1);
                }
                let code = self.jar.code(from, now);
                let budget = data.len() * AMPLIFICATION;
                let line = challenge(&code, budget);
                self.answer(from, data.len(), line.map(Into::into));
            }
        }
    }

    /// Register a validated address; `false` (and a refusal) when the registry is full.
    fn register(
        &self,
        from: SocketAddr,
        format: Format,
        nick: Option<String>,
        got: usize,
        now: Instant,
        out: &mut Vec<Event>,
    ) -> bool {
        bump(&self.guard.validated, 1);
        let peer = lock(&self.registry).insert(from, format, self.cfg.rate, now);
        match peer {
            Some(peer) => {
                out.push(self.joined(peer, from, format, nick));
                true
            }
            None => {
                tracing::debug!(%from, "UDP peer refused: registry full");
                let full = ServerMsg::Error("room is full".into());
                let bytes = match format {
                    Format::Binary => binary::encode_datagram(&full).ok(),
                    Format::Text => text::render(&full).map(|l| format!("{l}\n").into()),
                };
                self.answer(from, got, bytes);
                false
            }
        }
    }

    fn retry(&self, to: SocketAddr, got: usize, now: Instant) {
        let token = self.jar.token(to, now);
        self.answer(
            to,
            got,
            binary::encode_handshake(&Handshake::Retry { token }).ok(),
        );
    }

    fn joined(
        &self,
        peer: PeerId,
        addr: SocketAddr,
        format: Format,
        nick: Option<String>,
    ) -> Event {
        let sink = UdpSink {
            writer: self.writer.clone(),
            addr,
            peer,
            form: match format {
                Format::Binary => Form::Datagram,
                Format::Text => Form::Line,
            },
            registry: self.registry.clone(),
            stats: self.stats.clone(),
        };
        Event::Joined {
            peer,
            info: PeerInfo {
                proto: Proto::Udp,
                addr,
                format,
            },
            nick,
            sink: Box::new(sink),
        }
    }

    /// Answer an unvalidated address, never with more than [`AMPLIFICATION`] times the
    /// bytes it sent (so a forged source address cannot turn the server into an amplifier).
    fn answer(&self, to: SocketAddr, got: usize, bytes: Option<bytes::Bytes>) {
        match bytes {
            Some(b) if b.len() <= got * AMPLIFICATION => {
                if self.socket.try_send_to(&b, to).is_ok() {
                    bump(&self.guard.challenges, 1);
                    bump(&self.guard.challenge_bytes, b.len() as u64);
                }
            }
            _ => bump(&self.guard.unanswered, 1),
        }
    }
}

/// The challenge line for a text peer, the longest form that fits `budget` bytes. None
/// starts with the `/ok` line itself, so echoing a challenge back never passes.
fn challenge(code: &str, budget: usize) -> Option<String> {
    [
        format!("* nettool chat (nettool/1) over UDP: to join, prove your address by sending the line: /ok {code}\n"),
        format!("* to join, send the line: /ok {code}\n"),
        format!("* /ok {code}\n"),
    ]
    .into_iter()
    .find(|c| c.len() <= budget)
}

impl Transport for UdpTransport {
    fn proto(&self) -> Proto {
        Proto::Udp
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    async fn serve(mut self, events: EventTx, shutdown: CancellationToken) -> std::io::Result<()> {
        let (_, idle) = mpsc::channel(1);
        let queue = std::mem::replace(&mut self.queue, idle);
        let max = self.cfg.max_datagram;
        let mut writer = tokio::spawn(writer::run(
            self.socket.clone(),
            queue,
            max,
            self.stats.clone(),
        ));
        let mut buf = vec![0u8; RECV_BUF];
        let mut pending = Vec::new();
        let period = (self.cfg.idle_timeout / 4).max(Duration::from_millis(10));
        let mut sweep = tokio::time::interval(period);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        'serve: loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = sweep.tick() => {
                    let gone = lock(&self.registry).expire(Instant::now(), self.cfg.idle_timeout);
                    pending.extend(gone.into_iter().map(|p| Event::Left(p, LeaveReason::TimedOut)));
                }
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok((n, from)) => self.on_datagram(&buf[..n], from, &mut pending),
                    // e.g. ICMP errors surfacing on Linux: not fatal for a server.
                    Err(e) => tracing::debug!(error = %e, "UDP receive error"),
                },
            }
            for ev in pending.drain(..) {
                if events.send(ev).await.is_err() {
                    break 'serve; // the room is gone
                }
            }
        }
        let g = &self.guard;
        tracing::info!(
            validated = g.validated.load(Ordering::Relaxed),
            challenges = g.challenges.load(Ordering::Relaxed),
            bad_tokens = g.bad_tokens.load(Ordering::Relaxed),
            unanswered = g.unanswered.load(Ordering::Relaxed),
            throttled = g.throttled.load(Ordering::Relaxed),
            "UDP chat guard"
        );
        // The writer ends once the room has dropped every sink (after telling each member
        // the server is going away) and this transport has dropped its own sender.
        drop(self);
        if tokio::time::timeout(FLUSH_GRACE, &mut writer)
            .await
            .is_err()
        {
            tracing::warn!("UDP writer did not flush in time");
            writer.abort();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
