//! An interval as one line of text, iperf3-like:
//!
//! ```text
//! stream tcp   2.00-3.00 s   412.3 Mbit/s  retr     12 (0.31 %)  cwnd   86.9 KB  srtt 20.41 ms ± 1.20  delivery 431.0 Mbit/s
//! stream udp   2.00-3.00 s    49.9 Mbit/s  lost     52 of 5208 (1.00 %)  reordered 0  jitter 0.35 ms
//! rtt    tcp   2.00-3.00 s      48 round trips  p50 20.51 ms  max 247.07 ms  retr      1 (2.04 %)  cwnd   14.5 KB  srtt 20.50 ms ± 0.30
//! ```
//!
//! The congestion-control columns (`retr`, with how many the receiver reported by D-SACK
//! as not needed, `cwnd`, `srtt ± rttvar`, `delivery`) are the transport's own; QUIC's statistics fill the same ones (`retr` then counts lost
//! packets).

use super::{CcInterval, CcSummary, Interval};
use crate::wire::Proto;
use std::fmt::Write;
use std::time::Duration;

/// Which measurement a line belongs to.
#[derive(Debug, Clone)]
pub struct Label {
    part: &'static str,
    proto: Proto,
    every: Option<Duration>,
}

impl Label {
    /// The label of `part` (`stream`, `rtt`) over `proto`, reported `every` so often.
    pub fn new(part: &'static str, proto: Proto, every: Option<Duration>) -> Label {
        Label { part, proto, every }
    }

    /// The line printed before the first interval.
    pub fn header(&self) -> String {
        let every = self
            .every
            .map(|d| humantime::format_duration(d).to_string())
            .unwrap_or_default();
        let what = match (self.part, self.proto) {
            (_, Proto::Tcp | Proto::Tls) => {
                "TCP_INFO of the sending socket: retr = segments retransmitted, cwnd, srtt ± rttvar, delivery rate"
            }
            (_, Proto::Quic) => {
                "quinn's connection statistics: retr = packets lost, cwnd, srtt"
            }
            ("stream", Proto::Udp) => {
                "as the receiver counted: lost of expected, reordered, RFC 3550 jitter"
            }
            (_, Proto::Udp) => "lost = no reply in time, late = a reply after its timeout, jitter of the round trips",
        };
        format!("{} over {}, every {every} ({what})", self.part, self.proto)
    }

    /// One interval as a line.
    pub fn line(&self, iv: &Interval) -> String {
        let range = format!("{:.2}-{:.2} s", iv.start, iv.end);
        let mut s = format!("{:<6} {:<4} {range:>15}", self.part, self.proto);
        if let Some(r) = &iv.round_trips {
            let _ = write!(
                s,
                "  {:>6} round trips  p50 {:>9}  max {:>9}",
                r.round_trips,
                r.p50_us.map_or("-".into(), time),
                r.max_us.map_or("-".into(), time)
            );
            if iv.cc.is_none() {
                let _ = write!(
                    s,
                    "  lost {:>4}  late {:>3}  jitter {}",
                    r.lost,
                    r.late,
                    time(r.jitter_us)
                );
            }
        } else {
            let _ = write!(s, "  {:>13}", rate(iv.bits_per_second));
        }
        if let Some(d) = &iv.datagrams {
            let _ = write!(
                s,
                "  lost {:>6} of {:<7} ({:.2} %)  reordered {}  jitter {}",
                d.lost_packets,
                d.packets,
                d.lost_percent,
                d.out_of_order,
                time(d.jitter_ms * 1000.0)
            );
        }
        if let Some(cc) = &iv.cc {
            cc_columns(&mut s, cc);
        }
        s
    }
}

/// retr, cwnd, srtt ± rttvar and the delivery rate.
fn cc_columns(s: &mut String, cc: &CcInterval) {
    let pct = if cc.segments_sent > 0 {
        cc.retransmits as f64 * 100.0 / cc.segments_sent as f64
    } else {
        0.0
    };
    let unneeded = match cc.spurious_retransmits {
        Some(n) if n > 0 => format!(", {n} unneeded"),
        _ => String::new(),
    };
    let _ = write!(
        s,
        "  retr {:>6} ({pct:.2} %{unneeded})  cwnd {:>9}  srtt {:>9}",
        cc.retransmits,
        bytes(cc.snd_cwnd),
        time(cc.rtt as f64)
    );
    if let Some(v) = cc.rttvar {
        let _ = write!(s, " ± {}", time(v as f64));
    }
    if let Some(r) = cc.delivery_rate {
        let _ = write!(s, "  delivery {}", rate(r as f64));
    }
}

/// The final table's rows of a reliable transport (TCP and TLS: `TCP_INFO` at the end;
/// QUIC: quinn's statistics).
pub const CC_ROWS: [&str; 3] = [
    "retransmitted segments",
    "srtt ± rttvar (last)",
    "cwnd (last)",
];

/// The [`CC_ROWS`] cells of one side.
pub fn cc_cells(c: &CcSummary) -> [String; 3] {
    let var = c
        .rttvar
        .map_or(String::new(), |v| format!(" ± {}", time(v as f64)));
    let sent = c.segments_sent as f64;
    let sent = if sent >= 1e6 {
        format!("{:.2} M", sent / 1e6)
    } else if sent >= 1e3 {
        format!("{:.1} k", sent / 1e3)
    } else {
        format!("{sent:.0}")
    };
    let unneeded = match c.spurious_retransmits {
        Some(n) if n > 0 => format!("; {n} unneeded"),
        _ => String::new(),
    };
    [
        format!(
            "{} ({:.2} % of {sent}{unneeded})",
            c.retransmits, c.retransmit_percent
        ),
        format!("{}{var}", time(c.rtt as f64)),
        bytes(c.snd_cwnd),
    ]
}

/// Microseconds as µs below a millisecond, else as ms.
pub fn time(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else if us >= 10.0 {
        format!("{us:.0} µs")
    } else {
        format!("{us:.1} µs")
    }
}

/// Bits per second with a unit.
pub fn rate(bps: f64) -> String {
    if bps >= 1e9 {
        format!("{:.2} Gbit/s", bps / 1e9)
    } else if bps >= 1e6 {
        format!("{:.1} Mbit/s", bps / 1e6)
    } else {
        format!("{:.1} kbit/s", bps / 1e3)
    }
}

/// Bytes with a unit (powers of 1000, as iperf3's cwnd is read).
pub fn bytes(b: u64) -> String {
    if b >= 1_000_000 {
        format!("{:.2} MB", b as f64 / 1e6)
    } else {
        format!("{:.1} KB", b as f64 / 1e3)
    }
}
