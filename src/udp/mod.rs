//! UDP: one socket for every peer ([`UdpTransport`]), the peer registry keyed by source
//! address ([`registry`]) with idle expiry, and the room's handle on a peer ([`sink`]).
//!
//! Each datagram is self-describing: one that starts with a NUL byte is a binary nettool
//! message, anything else is text (one or more lines), so `nc -u` and nettool clients
//! share the room with no flag. A binary peer joins with `Hello`; a text peer joins with
//! its first datagram.

pub mod registry;
pub mod sink;

use crate::transport::{Event, EventTx, Format, PeerInfo, Transport};
use crate::wire::binary::{self, WireError};
use crate::wire::outgoing::Form;
use crate::wire::{text, ClientMsg, LeaveReason, Proto, ServerMsg};
use registry::Registry;
use sink::{SendStats, UdpSink};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Receive buffer: the largest UDP payload, so an oversize datagram is seen, not truncated.
const RECV_BUF: usize = 65_536;

/// UDP limits and timeouts.
#[derive(Debug, Clone)]
pub struct UdpConfig {
    /// Largest datagram accepted or sent (bytes).
    pub max_datagram: usize,
    /// Registered peers at most.
    pub max_peers: usize,
    /// A peer silent this long is dropped.
    pub idle_timeout: Duration,
}

impl Default for UdpConfig {
    fn default() -> Self {
        UdpConfig {
            max_datagram: binary::DEFAULT_MAX_DATAGRAM,
            max_peers: 1024,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// A bound UDP socket serving chat peers.
pub struct UdpTransport {
    socket: Arc<UdpSocket>,
    cfg: UdpConfig,
    registry: Arc<Mutex<Registry>>,
    stats: Arc<SendStats>,
}

impl UdpTransport {
    pub fn new(socket: UdpSocket, cfg: UdpConfig) -> Self {
        UdpTransport {
            socket: Arc::new(socket),
            registry: Arc::new(Mutex::new(Registry::new(cfg.max_peers))),
            stats: Arc::new(SendStats::default()),
            cfg,
        }
    }

    /// Counters of what the room sent through this socket.
    pub fn send_stats(&self) -> Arc<SendStats> {
        self.stats.clone()
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Turn one datagram into events (appended to `out`).
    fn on_datagram(&self, data: &[u8], from: SocketAddr, out: &mut Vec<Event>) {
        let now = Instant::now();
        let is_binary = binary::is_binary_datagram(data);
        let mut reg = self.registry();
        let known = reg.get_mut(&from).map(|e| {
            e.last_seen = now;
            e.bytes_in += data.len() as u64;
            e.peer
        });
        if data.is_empty() && known.is_none() {
            // No line, no message: from a member a keepalive, from a stranger not a join.
            return;
        }
        if data.len() > self.cfg.max_datagram {
            if let Some(peer) = known {
                out.push(Event::Invalid(
                    peer,
                    format!(
                        "datagram of {} bytes refused: the maximum is {}",
                        data.len(),
                        self.cfg.max_datagram
                    ),
                ));
            }
            return;
        }
        if is_binary {
            match (known, binary::decode_datagram::<ClientMsg>(data)) {
                (Some(peer), Ok(msg)) => {
                    if msg == ClientMsg::Bye {
                        reg.remove(&from, peer);
                    }
                    out.push(Event::Message(peer, msg));
                }
                (Some(peer), Err(e)) => out.push(Event::Invalid(peer, e.refusal())),
                (None, Ok(ClientMsg::Hello { nick })) => {
                    match reg.insert(from, Format::Binary, now) {
                        Some(peer) => out.push(self.joined(peer, from, Format::Binary, nick)),
                        None => self.refuse_full(from, data.len()),
                    }
                }
                // Not (or no longer) a member: say so, in a datagram no larger than theirs.
                (None, Ok(_)) => self.reply(
                    from,
                    data.len(),
                    &ServerMsg::Bye {
                        reason: LeaveReason::TimedOut,
                    },
                ),
                (None, Err(_)) => {}
            }
            return;
        }
        // Text: one or more lines.
        let (peer, mut seq) = match known {
            Some(peer) => (peer, reg.get_mut(&from).map_or(0, |e| e.next_seq)),
            None => match reg.insert(from, Format::Text, now) {
                Some(peer) => {
                    out.push(self.joined(peer, from, Format::Text, None));
                    (peer, 0)
                }
                None => return self.refuse_full(from, data.len()),
            },
        };
        match std::str::from_utf8(data) {
            Ok(lines) => {
                for line in lines.split('\n') {
                    match text::parse_line(line, &mut seq) {
                        Ok(Some(msg)) => {
                            if msg == ClientMsg::Bye {
                                reg.remove(&from, peer);
                            }
                            out.push(Event::Message(peer, msg));
                        }
                        Ok(None) => {}
                        Err(why) => out.push(Event::Invalid(peer, why)),
                    }
                }
            }
            Err(_) => out.push(Event::Invalid(peer, WireError::InvalidUtf8.refusal())),
        }
        if let Some(e) = reg.get_mut(&from) {
            e.next_seq = seq;
        }
    }

    fn joined(
        &self,
        peer: crate::transport::PeerId,
        addr: SocketAddr,
        format: Format,
        nick: Option<String>,
    ) -> Event {
        let sink = UdpSink {
            socket: self.socket.clone(),
            addr,
            peer,
            form: match format {
                Format::Binary => Form::Datagram,
                Format::Text => Form::Line,
            },
            max_datagram: self.cfg.max_datagram,
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

    fn refuse_full(&self, from: SocketAddr, got: usize) {
        tracing::debug!(%from, "UDP peer refused: registry full");
        self.reply(from, got, &ServerMsg::Error("room is full".into()));
    }

    /// Answer an unregistered address, never with more bytes than it sent (so a forged
    /// source address cannot turn the server into an amplifier).
    fn reply(&self, to: SocketAddr, got: usize, msg: &ServerMsg) {
        if let Ok(bytes) = binary::encode_datagram(msg) {
            if bytes.len() <= got {
                let _ = self.socket.try_send_to(&bytes, to);
            }
        }
    }
}

impl Transport for UdpTransport {
    fn proto(&self) -> Proto {
        Proto::Udp
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    async fn serve(self, events: EventTx, shutdown: CancellationToken) -> std::io::Result<()> {
        let mut buf = vec![0u8; RECV_BUF];
        let mut pending = Vec::new();
        let period = (self.cfg.idle_timeout / 4).max(Duration::from_millis(10));
        let mut sweep = tokio::time::interval(period);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = sweep.tick() => {
                    let gone = self.registry().expire(Instant::now(), self.cfg.idle_timeout);
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
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}
