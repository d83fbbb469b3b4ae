//! The UDP writer: every datagram the room sends to members goes through one bounded
//! queue to one task, which packs consecutive messages for the same peer into one
//! datagram (up to the datagram cap, as QUIC packs frames into a packet) and sends them,
//! up to 256 datagrams to as many peers in one `sendmmsg` call (`udp/mmsg.rs`).
//!
//! The writer sends once per round of the room's work: woken by the round's first
//! message, it waits for the round's end (the room's flush, `round_end`) and then takes
//! everything queued — one datagram train for the round. In a quiet room a round is one
//! message, which leaves at once, alone in its datagram, with no copy (the broadcast's
//! shared bytes go out as they are). In a busy room each round holds more, so each
//! datagram carries more messages and the server's cost per delivered message falls
//! instead of its backlog growing: on loopback the kernel's per-datagram work, not the
//! bytes, is what a fan-out pays for. A full queue drops the message and counts it, as a
//! full socket buffer would.

use super::mmsg;
use crate::wire::outgoing::Form;
use crate::wire::Outgoing;
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, Notify};

/// Messages queued from the room to the writer, all peers together.
pub const QUEUE: usize = 64 * 1024;
/// Counters shared by all sinks of one UDP transport.
#[derive(Debug, Default)]
pub struct SendStats {
    /// Messages sent (several may share a datagram).
    pub messages: AtomicU64,
    /// Datagrams sent.
    pub datagrams: AtomicU64,
    /// Bytes sent, in datagram payloads.
    pub bytes: AtomicU64,
    /// Dropped: writer queue full, send error, or message larger than a datagram.
    pub dropped: AtomicU64,
}

/// Messages the writer takes from the queue per round.
const ROUND: usize = QUEUE;

/// One message for one peer.
pub struct Queued {
    /// The peer.
    pub addr: SocketAddr,
    /// Which encoding the peer gets (binary datagram or text line).
    pub form: Form,
    /// The message, shared with every other recipient.
    pub msg: Arc<Outgoing>,
}

/// A datagram being assembled: one message as its shared bytes, or several copied
/// into one buffer.
enum Datagram {
    Single(Bytes),
    Packed(BytesMut),
}

impl Datagram {
    fn len(&self) -> usize {
        match self {
            Datagram::Single(b) => b.len(),
            Datagram::Packed(b) => b.len(),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Datagram::Single(b) => b,
            Datagram::Packed(b) => b,
        }
    }
}

/// Packs one round of queued messages into as few datagrams as the cap allows, keeping
/// each peer's messages in order.
struct Packer {
    max: usize,
    /// Each peer's open datagram: an index into `datagrams`.
    open: HashMap<SocketAddr, usize>,
    datagrams: Vec<(SocketAddr, Form, Datagram)>,
    messages: u64,
}

impl Packer {
    fn new(max: usize) -> Self {
        Packer {
            max,
            open: HashMap::new(),
            datagrams: Vec::new(),
            messages: 0,
        }
    }

    /// Add a message; `false` when it can never fit a datagram (dropped).
    fn push(&mut self, q: Queued) -> bool {
        let Some(bytes) = q.msg.bytes(q.form) else {
            return true; // nothing to send in this form (a Pong to a text peer)
        };
        if bytes.len() > self.max {
            return false;
        }
        self.messages += 1;
        if let Some(&i) = self.open.get(&q.addr) {
            let (_, form, d) = &mut self.datagrams[i];
            if d.len() + form.packed_len(bytes) <= self.max {
                if let Datagram::Single(first) = d {
                    let mut packed = BytesMut::with_capacity(self.max);
                    packed.extend_from_slice(first);
                    *d = Datagram::Packed(packed);
                }
                if let Datagram::Packed(buf) = d {
                    form.pack(buf, bytes);
                }
                return true;
            }
        }
        self.open.insert(q.addr, self.datagrams.len());
        self.datagrams
            .push((q.addr, q.form, Datagram::Single(bytes.clone())));
        true
    }
}

/// Send what the room queues, a round at a time (`round_end` marks each round's end),
/// until every sender (sink) is gone.
pub async fn run(
    socket: Arc<UdpSocket>,
    mut rx: mpsc::Receiver<Queued>,
    max_datagram: usize,
    stats: Arc<SendStats>,
    round_end: Arc<Notify>,
) {
    let mut round = Vec::with_capacity(ROUND);
    let mut packer = Packer::new(max_datagram);
    while rx.recv_many(&mut round, ROUND).await > 0 {
        // A round is under way: wait for its end, then take the rest of what it queued.
        // (`notify_one` keeps a permit, so a round that ended already does not wait.)
        round_end.notified().await;
        while round.len() < ROUND {
            match rx.try_recv() {
                Ok(q) => round.push(q),
                Err(_) => break,
            }
        }
        for q in round.drain(..) {
            if !packer.push(q) {
                tracing::debug!("message larger than a datagram: dropped");
                stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        stats
            .messages
            .fetch_add(std::mem::take(&mut packer.messages), Ordering::Relaxed);
        packer.open.clear();
        // One `sendmmsg` per up to 256 datagrams, whichever peers they are for.
        let train: Vec<(SocketAddr, &[u8])> = packer
            .datagrams
            .iter()
            .map(|(a, _, d)| (*a, d.bytes()))
            .collect();
        let sent = mmsg::send_all(&socket, &train).await;
        drop(train);
        packer.datagrams.clear();
        stats.datagrams.fetch_add(sent.datagrams, Ordering::Relaxed);
        stats.bytes.fetch_add(sent.bytes, Ordering::Relaxed);
        stats.dropped.fetch_add(sent.failed, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::binary;
    use crate::wire::ServerMsg;

    fn chat(n: u64) -> Arc<Outgoing> {
        Arc::new(Outgoing::new(ServerMsg::Chat {
            from: "alice".into(),
            seq: n,
            sent_us: n,
            text: "x".repeat(100),
        }))
    }

    fn addr(port: u16) -> SocketAddr {
        ([127, 0, 0, 1], port).into()
    }

    #[test]
    fn packs_per_peer_in_order_within_the_cap() {
        let mut p = Packer::new(500);
        for n in 1..=10 {
            for (port, form) in [(1, Form::Datagram), (2, Form::Line)] {
                assert!(p.push(Queued {
                    addr: addr(port),
                    form,
                    msg: chat(n),
                }));
            }
        }
        let mut seen: Vec<u64> = Vec::new();
        let mut lines = 0;
        for (a, _, d) in &p.datagrams {
            assert!(d.len() <= 500, "{} bytes", d.len());
            if *a == addr(1) {
                for m in binary::decode_datagram_batch::<ServerMsg>(d.bytes()) {
                    match m.expect("decodes") {
                        ServerMsg::Chat { seq, .. } => seen.push(seq),
                        other => panic!("{other:?}"),
                    }
                }
            } else {
                let text = std::str::from_utf8(d.bytes()).expect("utf-8");
                lines += text.lines().filter(|l| l.starts_with("alice: x")).count();
            }
        }
        assert_eq!(
            seen,
            (1..=10).collect::<Vec<_>>(),
            "every message, in order"
        );
        assert_eq!(lines, 10);
        // ~115 bytes a message: 4 to a 500-byte datagram, so 3 datagrams per peer.
        assert_eq!(p.datagrams.len(), 6);
        assert_eq!(p.messages, 20);
    }

    #[test]
    fn a_message_larger_than_a_datagram_is_refused() {
        let mut p = Packer::new(50);
        assert!(!p.push(Queued {
            addr: addr(1),
            form: Form::Datagram,
            msg: chat(1),
        }));
        assert!(p.datagrams.is_empty());
    }
}
