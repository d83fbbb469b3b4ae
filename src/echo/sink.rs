//! The receiving end of the stream measurement, served by `nettool echo -l` beside
//! plain RFC 862 echo (so `nettool bench --connect` needs nothing else on the far side).
//!
//! * TCP: a connection that starts with [`TCP_PREAMBLE`] is counted, not echoed; when
//!   the sender half-closes, the sink answers with a [`TcpReport`] (16 bytes).
//! * UDP: a datagram tagged [`DATA_TAG`] is counted per (source, session), not echoed:
//!   sequence gaps, reorders, duplicates and RFC 3550 interarrival jitter. A datagram
//!   tagged [`REPORT_REQ`] (padded to at least the report's size, so the answer is never
//!   larger than the question) is answered with a [`UdpReport`]. A request of
//!   [`TOKENED_LEN`] bytes carries a token (bytes 8..16) that the answer repeats after the
//!   report, so a sender asking for reports mid-stream (the bench's intervals) can tell
//!   each answer's question, even when the link delays, loses or duplicates some; a
//!   shorter request gets the plain report, as before, both ways compatible.

use crate::measure::seq::{Anomaly, SeqTracker};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// First bytes of a TCP stream to be counted.
pub const TCP_PREAMBLE: &[u8] = b"\0nettool-sink/1\n";
/// Tag of a counted UDP datagram: tag, session u32, seq u64, send time u64 (ns), padding.
pub const DATA_TAG: &[u8; 4] = b"\0NSD";
/// Tag of a report request: tag, session u32, padding to [`UdpReport::LEN`].
pub const REPORT_REQ: &[u8; 4] = b"\0NSQ";
/// Tag of a report.
pub const REPORT_TAG: &[u8; 4] = b"\0NSR";
/// Smallest counted datagram.
pub const DATA_HEADER: usize = 24;
/// A report request (and its answer) carrying a token: the report, then the token.
pub const TOKENED_LEN: usize = UdpReport::LEN + 8;
/// Sessions tracked at most; the idlest is forgotten first.
const MAX_SESSIONS: usize = 64;
/// A session silent this long is forgotten.
const SESSION_IDLE: Duration = Duration::from_secs(60);

/// What a TCP sink saw: bytes after the preamble, from the first to the last byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpReport {
    /// Bytes received after the preamble.
    pub bytes: u64,
    /// From the first byte to the last, in ns.
    pub elapsed_ns: u64,
}

impl TcpReport {
    /// Encoded size, in bytes.
    pub const LEN: usize = 16;

    /// Little-endian `bytes` then `elapsed_ns`.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[..8].copy_from_slice(&self.bytes.to_le_bytes());
        b[8..].copy_from_slice(&self.elapsed_ns.to_le_bytes());
        b
    }

    /// The inverse of [`TcpReport::encode`].
    pub fn decode(b: &[u8; Self::LEN]) -> TcpReport {
        TcpReport {
            bytes: u64_at(b, 0),
            elapsed_ns: u64_at(b, 8),
        }
    }
}

/// What a UDP sink saw of one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpReport {
    /// The session reported on, chosen by the sender.
    pub session: u32,
    /// Datagrams received, duplicates excluded.
    pub received: u64,
    /// Bytes in those datagrams.
    pub bytes: u64,
    /// Datagrams that arrived after a later one.
    pub reordered: u64,
    /// Datagrams received more than once.
    pub duplicates: u64,
    /// RFC 3550 interarrival jitter, nanoseconds.
    pub jitter_ns: u64,
    /// From the first to the last datagram received.
    pub span_ns: u64,
    /// The highest sequence number received.
    pub highest_seq: u64,
}

impl UdpReport {
    /// Encoded size, in bytes: tag, session, seven little-endian u64 counts.
    pub const LEN: usize = 4 + 4 + 7 * 8;

    /// The report datagram: [`REPORT_TAG`], session, then the counts in declaration order.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[..4].copy_from_slice(REPORT_TAG);
        b[4..8].copy_from_slice(&self.session.to_le_bytes());
        let fields = [
            self.received,
            self.bytes,
            self.reordered,
            self.duplicates,
            self.jitter_ns,
            self.span_ns,
            self.highest_seq,
        ];
        for (i, f) in fields.iter().enumerate() {
            b[8 + i * 8..16 + i * 8].copy_from_slice(&f.to_le_bytes());
        }
        b
    }

    /// The inverse of [`UdpReport::encode`]; `None` if `b` is short or not a report.
    pub fn decode(b: &[u8]) -> Option<UdpReport> {
        if b.len() < Self::LEN || &b[..4] != REPORT_TAG {
            return None;
        }
        Some(UdpReport {
            session: u32::from_le_bytes(b[4..8].try_into().ok()?),
            received: u64_at(b, 8),
            bytes: u64_at(b, 16),
            reordered: u64_at(b, 24),
            duplicates: u64_at(b, 32),
            jitter_ns: u64_at(b, 40),
            span_ns: u64_at(b, 48),
            highest_seq: u64_at(b, 56),
        })
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

/// Wall-clock nanoseconds: sender and sink may be different hosts; jitter only uses
/// differences of transit times, so a constant clock offset cancels out.
pub fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Build a counted datagram's header in `buf` (at least [`DATA_HEADER`] bytes).
pub fn stamp_data(buf: &mut [u8], session: u32, seq: u64) {
    buf[..4].copy_from_slice(DATA_TAG);
    buf[4..8].copy_from_slice(&session.to_le_bytes());
    buf[8..16].copy_from_slice(&seq.to_le_bytes());
    buf[16..24].copy_from_slice(&wall_ns().to_le_bytes());
}

/// A report request for `session`.
pub fn report_request(session: u32) -> [u8; UdpReport::LEN] {
    let mut b = [0u8; UdpReport::LEN];
    b[..4].copy_from_slice(REPORT_REQ);
    b[4..8].copy_from_slice(&session.to_le_bytes());
    b
}

/// A report request for `session` whose answer repeats `token` after the report.
pub fn tokened_request(session: u32, token: u64) -> [u8; TOKENED_LEN] {
    let mut b = [0u8; TOKENED_LEN];
    b[..UdpReport::LEN].copy_from_slice(&report_request(session));
    b[8..16].copy_from_slice(&token.to_le_bytes());
    b
}

/// The token an answer repeats, if it has one (an answer to a [`tokened_request`] from a
/// sink that knows tokens).
pub fn answer_token(answer: &[u8]) -> Option<u64> {
    let t = answer.get(UdpReport::LEN..TOKENED_LEN)?;
    Some(u64::from_le_bytes(t.try_into().ok()?))
}

/// Whether a UDP datagram belongs to the sink rather than to echo.
pub fn is_sink_datagram(d: &[u8]) -> bool {
    d.len() >= 8 && (d[..4] == *DATA_TAG || d[..4] == *REPORT_REQ)
}

struct Session {
    seq: SeqTracker,
    received: u64,
    bytes: u64,
    jitter: f64,
    last_transit: Option<i128>,
    first: Instant,
    last: Instant,
}

/// The answer to a report request: a report, and the request's token if it had one.
#[derive(Debug, Clone, Copy)]
pub struct Answer([u8; TOKENED_LEN], usize);

impl std::ops::Deref for Answer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0[..self.1]
    }
}

/// Per-(source, session) counters of a UDP sink.
#[derive(Default)]
pub struct UdpSink {
    sessions: HashMap<(SocketAddr, u32), Session>,
}

impl UdpSink {
    /// Handle a sink datagram; returns the reply to send, if any (never longer than `d`).
    pub fn on_datagram(&mut self, d: &[u8], from: SocketAddr) -> Option<Answer> {
        let session = u32::from_le_bytes(d.get(4..8)?.try_into().ok()?);
        if d[..4] == *REPORT_REQ {
            if d.len() < UdpReport::LEN {
                return None; // never answer with more bytes than were sent
            }
            let mut a = Answer([0; TOKENED_LEN], UdpReport::LEN);
            a.0[..UdpReport::LEN].copy_from_slice(&self.report(from, session).encode());
            if d.len() >= TOKENED_LEN {
                a.0[UdpReport::LEN..].copy_from_slice(&d[8..16]);
                a.1 = TOKENED_LEN;
            }
            return Some(a);
        }
        if d.len() < DATA_HEADER {
            return None;
        }
        let now = Instant::now();
        let seq = u64_at(d, 8);
        let sent_ns = u64_at(d, 16);
        let arrival_ns = wall_ns();
        if !self.sessions.contains_key(&(from, session)) {
            self.make_room(now);
        }
        let s = self.sessions.entry((from, session)).or_insert(Session {
            seq: SeqTracker::default(),
            received: 0,
            bytes: 0,
            jitter: 0.0,
            last_transit: None,
            first: now,
            last: now,
        });
        if let Some(Anomaly::Duplicate { .. }) = s.seq.observe(seq) {
            return None;
        }
        s.received += 1;
        s.bytes += d.len() as u64;
        s.last = now;
        // RFC 3550 §6.4.1: J += (|D| - J) / 16, D the change in transit time.
        let transit = arrival_ns as i128 - sent_ns as i128;
        if let Some(prev) = s.last_transit {
            let dev = (transit - prev).unsigned_abs() as f64;
            s.jitter += (dev - s.jitter) / 16.0;
        }
        s.last_transit = Some(transit);
        None
    }

    fn report(&self, from: SocketAddr, session: u32) -> UdpReport {
        match self.sessions.get(&(from, session)) {
            None => UdpReport {
                session,
                ..Default::default()
            },
            Some(s) => UdpReport {
                session,
                received: s.received,
                bytes: s.bytes,
                reordered: s.seq.reordered,
                duplicates: s.seq.duplicates,
                jitter_ns: s.jitter as u64,
                span_ns: s.last.duration_since(s.first).as_nanos() as u64,
                highest_seq: s.seq.highest(),
            },
        }
    }

    /// Forget idle sessions, and the idlest one if still at the cap.
    fn make_room(&mut self, now: Instant) {
        self.sessions
            .retain(|_, s| now.duration_since(s.last) < SESSION_IDLE);
        if self.sessions.len() >= MAX_SESSIONS {
            if let Some(key) = self
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.last)
                .map(|(k, _)| *k)
            {
                self.sessions.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(session: u32, seq: u64) -> Vec<u8> {
        let mut d = vec![0u8; 64];
        stamp_data(&mut d, session, seq);
        d
    }

    #[test]
    fn counts_loss_reorder_duplicates_per_session() {
        let from: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut sink = UdpSink::default();
        for seq in [1, 2, 4, 3, 3, 6] {
            assert!(sink.on_datagram(&data(7, seq), from).is_none());
        }
        sink.on_datagram(&data(8, 1), from);
        let r = UdpReport::decode(&sink.on_datagram(&report_request(7), from).unwrap()).unwrap();
        assert_eq!(r.session, 7);
        assert_eq!(
            (r.received, r.reordered, r.duplicates, r.highest_seq),
            (5, 1, 1, 6)
        );
        assert_eq!(r.bytes, 5 * 64);
        let other =
            UdpReport::decode(&sink.on_datagram(&report_request(8), from).unwrap()).unwrap();
        assert_eq!(other.received, 1);
        // A short request is not answered (no amplification).
        assert!(sink.on_datagram(&report_request(7)[..16], from).is_none());
        // A tokened request gets the same report and its token back; a plain one none.
        let a = sink.on_datagram(&tokened_request(7, 99), from).unwrap();
        assert_eq!((a.len(), answer_token(&a)), (TOKENED_LEN, Some(99)));
        assert_eq!(UdpReport::decode(&a), Some(r));
        let plain = sink.on_datagram(&report_request(7), from).unwrap();
        assert_eq!((plain.len(), answer_token(&plain)), (UdpReport::LEN, None));
    }

    #[test]
    fn reports_round_trip() {
        let r = UdpReport {
            session: 3,
            received: 1,
            bytes: 2,
            reordered: 3,
            duplicates: 4,
            jitter_ns: 5,
            span_ns: 6,
            highest_seq: 7,
        };
        assert_eq!(UdpReport::decode(&r.encode()), Some(r));
        let t = TcpReport {
            bytes: 1 << 40,
            elapsed_ns: 12,
        };
        assert_eq!(TcpReport::decode(&t.encode()), t);
    }
}
