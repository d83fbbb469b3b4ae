//! UDP: one socket for every peer ([`UdpTransport`], the serve loop), the peer registry
//! keyed by source address (`registry`) with a cap and idle expiry, a member's
//! datagrams as events (`member`), the room's handle on a peer ([`sink`]), and the
//! defences a connectionless server needs against forged sources: address validation
//! (`gate`, with `cookie` for its tokens), rate budgets ([`budget`]) and the sources
//! never answered (`reflect`).
//!
//! Each datagram is self-describing: one that starts with a NUL byte is binary (a
//! nettool message, or a [`Handshake`](crate::wire::Handshake)), anything else is text (one or more lines), so
//! `nc -u` and nettool clients share the room with no flag.
//!
//! # Joining: an address must prove itself first
//!
//! A UDP source address can be forged, so the server keeps **no state** for an address
//! until it has shown it receives what is sent there, and it never answers such an
//! address with more than 3× the bytes of the datagram it answers (the anti-amplification
//! rule of QUIC, RFC 9000 §8), nor answers more than [`UdpConfig::handshake_rate`]
//! unvalidated datagrams per second in all. The decisions are the `gate`'s (free of
//! I/O; its docs list what each length of first line is answered with).
//!
//! * Binary: `Hello` → [`Handshake::Retry`](crate::wire::Handshake::Retry) with a token
//!   bound to the source address → [`Handshake::Hello`](crate::wire::Handshake::Hello) carrying the token → the peer is registered and joins.
//! * Text: the first datagram is answered with a challenge line such as
//!   `* to join, send the line: /ok K7Q2MX` (shorter for a short line, down to `* /join`);
//!   the person types `/ok K7Q2MX` and joins. What the first datagram said is not kept
//!   (that would be state). A challenge never starts with `/ok`, so a reflector that
//!   echoes it back does not pass; and text from a stranger that looks like a server's
//!   line (`* `, `! `) is never answered, so two servers cannot be made to challenge
//!   each other forever.
//!
//! A registered member spends one token per message from a bucket of
//! [`UdpConfig::rate`]; messages over budget are dropped and counted, and the member is
//! told at most once per [`NOTICE_EVERY`] (`member`). A silent text member is warned
//! before it is dropped, and told it was dropped when it speaks again (`registry`,
//! `gate`).
//!
//! The room's messages leave through one writer task ([`writer`]) that packs each
//! peer's queued messages into as few datagrams as the cap allows.

pub(crate) mod batch;
pub mod budget;
mod cookie;
mod gate;
mod member;
mod mmsg;
pub(crate) mod reflect;
mod registry;
pub mod sink;
pub(crate) mod socket;
pub mod writer;

use crate::transport::{Event, EventTx, Format, PeerId, PeerInfo, Transport};
use crate::wire::binary;
use crate::wire::outgoing::Form;
use crate::wire::{LeaveReason, Outgoing, Proto, ServerMsg};
use budget::Rate;
use gate::{Gate, Verdict};
use registry::Registry;
use sink::UdpSink;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, Notify};
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

/// UDP limits and timeouts.
#[derive(Debug, Clone)]
pub struct UdpConfig {
    /// Largest datagram accepted or sent (bytes).
    pub max_datagram: usize,
    /// Registered peers at most.
    pub max_peers: usize,
    /// A peer silent this long is dropped (a text peer is warned a third of it before).
    pub idle_timeout: Duration,
    /// Messages per second (and burst) each member may send; more are dropped.
    pub rate: Rate,
    /// Datagrams per second (and burst) from unvalidated addresses answered or checked,
    /// all of them together.
    pub handshake_rate: Rate,
    /// A token or code is valid from one to two periods after it was made.
    pub cookie_period: Duration,
}

/// Default cap on registered UDP peers.
pub const DEFAULT_MAX_PEERS: usize = 10_240;
/// Default messages per second per UDP member.
pub const DEFAULT_RATE: u32 = 100;
/// Default burst per UDP member.
pub const DEFAULT_BURST: u32 = 200;
/// Default [`UdpConfig::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for UdpConfig {
    fn default() -> Self {
        UdpConfig {
            max_datagram: binary::DEFAULT_MAX_DATAGRAM,
            max_peers: DEFAULT_MAX_PEERS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            rate: Rate::new(DEFAULT_RATE, DEFAULT_BURST),
            // Two per join (the first line, then the proof): 2 000 joins/s.
            handshake_rate: Rate::new(4000, 4000),
            cookie_period: Duration::from_secs(60),
        }
    }
}

/// What the UDP side refused or challenged, over its life.
#[derive(Debug, Default)]
pub struct GuardStats {
    /// Answers (`Retry`, challenge line, refusal) sent to unvalidated addresses.
    pub challenges: AtomicU64,
    /// Bytes in those answers.
    pub challenge_bytes: AtomicU64,
    /// Bytes received from unvalidated addresses.
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

fn lock(r: &Mutex<Registry>) -> MutexGuard<'_, Registry> {
    r.lock().unwrap_or_else(|e| e.into_inner())
}

/// A bound UDP socket serving chat peers.
pub struct UdpTransport {
    socket: Arc<UdpSocket>,
    cfg: UdpConfig,
    registry: Arc<Mutex<Registry>>,
    stats: Arc<SendStats>,
    writer: mpsc::Sender<writer::Queued>,
    queue: mpsc::Receiver<writer::Queued>,
    guard: Arc<GuardStats>,
    gate: Gate,
    /// The end of a round of the room's work: the writer sends what it queued.
    round_end: Arc<Notify>,
}

impl UdpTransport {
    /// Serve chat peers on `socket`.
    pub fn new(socket: UdpSocket, cfg: UdpConfig) -> Self {
        let (writer, queue) = mpsc::channel(writer::QUEUE);
        let own_port = socket.local_addr().map_or(0, |a| a.port());
        let guard = Arc::new(GuardStats::default());
        UdpTransport {
            socket: Arc::new(socket),
            registry: Arc::new(Mutex::new(Registry::new(cfg.max_peers))),
            stats: Arc::new(SendStats::default()),
            gate: Gate::new(&cfg, own_port, guard.clone()),
            guard,
            cfg,
            writer,
            queue,
            round_end: Arc::new(Notify::new()),
        }
    }

    /// A socket at `addr` (see `socket::bind`), serving chat peers.
    pub fn bind(addr: SocketAddr, cfg: UdpConfig) -> std::io::Result<Self> {
        Ok(UdpTransport::new(socket::bind(addr)?, cfg))
    }

    /// Registered peers now.
    #[cfg(test)]
    fn registered(&self) -> usize {
        lock(&self.registry).len()
    }

    /// Turn one datagram into events (appended to `out`).
    fn on_datagram(&mut self, data: &[u8], from: SocketAddr, out: &mut Vec<Event>) {
        let now = Instant::now();
        if !self.on_member(data, from, now, out) {
            match self.gate.stranger(data, from, now) {
                Verdict::Ignore => {}
                Verdict::Answer(bytes) => self.answer(from, &bytes),
                Verdict::Admit { format, nick, rest } => {
                    if self.register(from, format, nick, data.len(), now, out) && !rest.is_empty() {
                        self.on_member(rest, from, now, out);
                    }
                }
            }
        }
    }

    /// A datagram from a registered address; `false` if `from` is not one.
    fn on_member(&self, data: &[u8], from: SocketAddr, now: Instant, out: &mut Vec<Event>) -> bool {
        let mut reg = lock(&self.registry);
        let Some(e) = reg.get_mut(&from) else {
            return false;
        };
        let peer = e.peer;
        if member::read(e, data, now, &self.cfg, &self.guard, out) {
            reg.remove(&from, peer);
        }
        true
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
        let peer = lock(&self.registry).insert(from, format, self.cfg.rate, now);
        match peer {
            Some(peer) => {
                out.push(self.joined(peer, from, format, nick));
                true
            }
            None => {
                tracing::debug!(addr = %from, "UDP peer refused: registry full");
                if let Verdict::Answer(bytes) = self.gate.room_full(format, got) {
                    self.answer(from, &bytes);
                }
                false
            }
        }
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
            form: form(format),
            registry: self.registry.clone(),
            stats: self.stats.clone(),
            round_end: self.round_end.clone(),
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

    /// Send the gate's answer to an unvalidated address (already within the 3× rule).
    fn answer(&self, to: SocketAddr, bytes: &[u8]) {
        if self.socket.try_send_to(bytes, to).is_ok() {
            self.guard.challenges.fetch_add(1, Ordering::Relaxed);
            self.guard
                .challenge_bytes
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
    }

    /// Warn silent text members, drop members silent too long (events into `out`), and
    /// remember the text members dropped so that their next line is told why.
    fn sweep(&mut self, now: Instant, out: &mut Vec<Event>) {
        let swept = lock(&self.registry).sweep(now, self.cfg.idle_timeout);
        if !swept.warn.is_empty() {
            let lead = registry::warn_lead(self.cfg.idle_timeout);
            let warning = Arc::new(Outgoing::new(ServerMsg::IdleWarning {
                in_ms: lead.as_millis() as u64,
            }));
            for addr in swept.warn {
                let queued = writer::Queued {
                    addr,
                    form: Form::Line,
                    msg: warning.clone(),
                };
                if self.writer.try_send(queued).is_err() {
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            self.round_end.notify_one();
        }
        for (peer, addr, format) in swept.gone {
            if format == Format::Text {
                self.gate.dropped_for_silence(addr, now);
            }
            out.push(Event::Left(peer, LeaveReason::TimedOut));
        }
    }
}

/// How a peer of `format` is written to.
fn form(format: Format) -> Form {
    match format {
        Format::Binary => Form::Datagram,
        Format::Text => Form::Line,
    }
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
            self.round_end.clone(),
        ));
        let mut buf = vec![0u8; RECV_BUF];
        let mut pending = Vec::new();
        // Fine enough that a warning comes soon after two thirds of the idle timeout.
        let period = (self.cfg.idle_timeout / 10).max(Duration::from_millis(10));
        let mut sweep = tokio::time::interval(period);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        'serve: loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = sweep.tick() => self.sweep(Instant::now(), &mut pending),
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
        self.round_end.notify_one();
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
