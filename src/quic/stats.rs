//! QUIC's side of the congestion-control seam (`crate::transport::stats::CcStats`):
//! quinn's `Connection::stats()` read into the fields TCP's `TCP_INFO` fills, so the
//! bench shows both in the same columns.
//!
//! What maps to what: `retransmits` is `path.lost_packets` (QUIC never resends a packet;
//! it declares one lost and sends its frames again in new packets, so a lost packet is
//! QUIC's retransmission); `sent` is `path.sent_packets`; the window is `path.cwnd` in
//! bytes; the RTT is quinn's smoothed estimate. quinn keeps no RTT variation, no
//! delivery-rate estimate, no count of acknowledged bytes and cannot tell a spurious loss
//! from a real one, so those stay `None` (the bench then counts the bytes it handed to
//! the stream).

use crate::transport::stats::{CcSnapshot, CcStats};

/// One `stats()` call per snapshot (a lock on the connection's state, no I/O).
impl CcStats for quinn::Connection {
    fn cc_snapshot(&self) -> Option<CcSnapshot> {
        Some(snapshot(&self.stats()))
    }
}

/// The snapshot of one set of statistics.
pub fn snapshot(s: &quinn::ConnectionStats) -> CcSnapshot {
    CcSnapshot {
        source: "quinn",
        retransmits: s.path.lost_packets,
        spurious: None,
        sent: s.path.sent_packets,
        acked_bytes: None,
        cwnd_bytes: s.path.cwnd,
        srtt_us: u64::try_from(s.path.rtt.as_micros()).unwrap_or(u64::MAX),
        rttvar_us: None,
        delivery_rate_bps: None,
    }
}

/// The ping client's connection.
impl CcStats for super::echo::Pinger {
    fn cc_snapshot(&self) -> Option<CcSnapshot> {
        self.connection().cc_snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn quinns_statistics_fill_the_same_fields_as_tcp_info() {
        let mut s = quinn::ConnectionStats::default();
        s.path.lost_packets = 3;
        s.path.sent_packets = 100;
        s.path.cwnd = 12_000;
        s.path.rtt = Duration::from_micros(20_500);
        let c = snapshot(&s);
        assert_eq!(
            (c.source, c.retransmits, c.sent, c.cwnd_bytes, c.srtt_us),
            ("quinn", 3, 100, 12_000, 20_500)
        );
        assert_eq!((c.spurious, c.acked_bytes, c.rttvar_us), (None, None, None));
    }
}
