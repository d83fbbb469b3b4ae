//! The seam through which a measurement reads a reliable transport's own view of its
//! congestion control: [`CcStats::cc_snapshot`], one call per interval (never one per
//! write). TCP (and TLS over it) answers from the kernel's `TCP_INFO` (`crate::tcp::info`),
//! QUIC from quinn's `Connection::stats()` (`crate::quic::stats`); UDP has none. The
//! bench asks the connection it measures through this trait and never branches on the
//! protocol to do so.

/// A reliable transport's cumulative figures at one moment: counters since the
/// connection opened, gauges as of now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CcSnapshot {
    /// Where the figures come from: `TCP_INFO` (the kernel's) or `quinn`.
    pub source: &'static str,
    /// Retransmitted segments (QUIC: packets declared lost, whose data is sent again).
    pub retransmits: u64,
    /// Retransmissions the receiver reported as not needed (TCP: D-SACK), if known.
    pub spurious: Option<u64>,
    /// Data segments (QUIC: packets) sent, retransmissions included.
    pub sent: u64,
    /// Bytes the peer acknowledged, where the transport counts them (TCP).
    pub acked_bytes: Option<u64>,
    /// Congestion window, bytes.
    pub cwnd_bytes: u64,
    /// Smoothed RTT, µs.
    pub srtt_us: u64,
    /// RTT variation, µs, if the transport has one (TCP's rttvar).
    pub rttvar_us: Option<u64>,
    /// Delivery-rate estimate, bits per second, if the transport has one.
    pub delivery_rate_bps: Option<u64>,
}

/// A connection that can say what its congestion control sees.
pub trait CcStats {
    /// The figures now, or `None` if this transport (or this kernel) has none.
    fn cc_snapshot(&self) -> Option<CcSnapshot>;
}
