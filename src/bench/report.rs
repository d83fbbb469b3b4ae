//! The bench report: one object (stable field names, for `--json`) and its
//! side-by-side table, a TCP column and a UDP column.

use super::capacity::CapacityResult;
use super::fanout::FanoutResult;
use super::interval::line::{cc_cells, CC_ROWS};
use super::rtt::RttResult;
use super::setup::SetupResult;
use super::stream::{RateSearch, StreamResult};
use crate::measure::latency::Latency;
use serde::Serialize;
use std::fmt;

/// A measurement over each protocol: TCP, TCP+TLS, UDP, QUIC.
#[derive(Debug, Clone, Serialize)]
pub struct Pair<T> {
    /// The measurement over TCP, if it was made.
    pub tcp: Option<T>,
    /// The measurement over TCP+TLS, if it was made.
    pub tls: Option<T>,
    /// The measurement over UDP, if it was made.
    pub udp: Option<T>,
    /// The measurement over QUIC, if it was made.
    pub quic: Option<T>,
}

impl<T> Default for Pair<T> {
    fn default() -> Self {
        Pair {
            tcp: None,
            tls: None,
            udp: None,
            quic: None,
        }
    }
}

/// Everything `nettool bench` measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The nettool version that measured.
    pub version: String,
    /// UTC, seconds since the Unix epoch.
    pub unix_time: u64,
    /// What was measured against.
    pub target: String,
    /// Round-trip latency per protocol.
    pub rtt: Pair<RttResult>,
    /// QUIC round trips in DATAGRAM frames.
    pub rtt_datagrams: Option<RttResult>,
    /// Bulk throughput per protocol.
    pub stream: Pair<StreamResult>,
    /// Chat fan-out per protocol.
    pub fanout: Pair<FanoutResult>,
    /// QUIC chat fan-out with lines relayed as DATAGRAM frames.
    pub fanout_datagrams: Option<FanoutResult>,
    /// Connection setup cost per protocol.
    pub setup: Pair<SetupResult>,
    /// One room filled over both protocols, if that part was run.
    pub capacity: Option<CapacityResult>,
}

impl Report {
    /// An empty report against `target`, stamped with the version and the time now.
    pub fn new(target: String) -> Report {
        Report {
            version: env!("CARGO_PKG_VERSION").to_string(),
            unix_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            target,
            rtt: Pair::default(),
            rtt_datagrams: None,
            stream: Pair::default(),
            fanout: Pair::default(),
            fanout_datagrams: None,
            setup: Pair::default(),
            capacity: None,
        }
    }

    /// The table's rows: (section, label, TCP, TCP+TLS, UDP, QUIC).
    fn rows(&self) -> Vec<[String; 6]> {
        let mut rows = Vec::new();
        let mut row = |section: String, label: &str, cells: [Option<String>; 4]| {
            let [a, b, c, d] = cells.map(|c| c.unwrap_or_else(|| "-".to_string()));
            rows.push([section, label.to_string(), a, b, c, d]);
        };
        let none = String::new;
        if let Some(r) = self.rtt.any() {
            let lat =
                |q: fn(&Latency) -> f64| self.rtt.map(|r| r.latency.as_ref().map(|l| us(q(l))));
            row(format!("round trip {} B", r.size), "p50", lat(|l| l.p50_us));
            row(none(), "p99", lat(|l| l.p99_us));
            row(none(), "p99.9", lat(|l| l.p999_us));
            row(none(), "max", lat(|l| l.max_us));
            row(
                none(),
                "lost",
                self.rtt.map(|r| Some(format!("{} of {}", r.lost, r.sent))),
            );
            if let Some(d) = &self.rtt_datagrams {
                let l = d.latency.as_ref();
                let q = |s: String| [None, None, None, Some(s)];
                row(
                    none(),
                    "p50 DATAGRAM frames",
                    q(l.map_or("-".into(), |l| us(l.p50_us))),
                );
                row(
                    none(),
                    "p99 DATAGRAM frames",
                    q(l.map_or("-".into(), |l| us(l.p99_us))),
                );
                row(
                    none(),
                    "lost DATAGRAM frames",
                    q(format!("{} of {}", d.lost, d.sent)),
                );
            }
            for (i, label) in CC_ROWS.iter().enumerate() {
                row(
                    none(),
                    label,
                    self.rtt.map(|r| Some(cc_cells(r.cc.as_ref()?)[i].clone())),
                );
            }
        }
        if self.stream.any().is_some() {
            let s = &self.stream;
            row(
                "stream".into(),
                "goodput (received)",
                s.map(|r| Some(bits(r.recv_gbps))),
            );
            let sent =
                |r: &StreamResult| Some(format!("{} ({} B)", count(r.sent_pps?), r.datagram_size?));
            row(none(), "datagrams/s sent", s.map(sent));
            row(
                none(),
                "datagrams/s received",
                s.map(|r| r.recv_pps.map(count)),
            );
            row(
                none(),
                "loss",
                s.map(|r| r.loss_pct.map(|l| format!("{l:.2} %"))),
            );
            let zl = |r: &StreamResult| r.zero_loss.as_ref().map(zero_loss_cell);
            let label = match s.udp.as_ref().and_then(|r| r.zero_loss.as_ref()) {
                Some(z) => format!("highest rate at ≤ {} % loss", z.max_loss_pct),
                None => "highest rate at ~0 loss".into(),
            };
            if s.udp.as_ref().is_some_and(|r| r.zero_loss.is_some()) {
                row(none(), &label, s.map(zl));
            }
            let rd = |r: &StreamResult| Some(format!("{} / {}", r.reordered?, r.duplicates?));
            row(none(), "reordered / duplicates", s.map(rd));
            row(none(), "jitter (RFC 3550)", s.map(|r| r.jitter_us.map(us)));
            for (i, label) in CC_ROWS.iter().enumerate() {
                row(
                    none(),
                    label,
                    s.map(|r| Some(cc_cells(r.cc.as_ref()?)[i].clone())),
                );
            }
        }
        if let Some(f) = self.fanout.any() {
            let s = &self.fanout;
            let lat = |q: fn(&Latency) -> f64| s.map(|r| r.latency.as_ref().map(|l| us(q(l))));
            let section = format!("chat fan-out {} × {}/s", f.clients, f.rate_per_client);
            row(
                section,
                "delivered/s",
                s.map(|r| Some(count(r.delivered_per_s))),
            );
            row(none(), "latency p50", lat(|l| l.p50_us));
            row(none(), "latency p99", lat(|l| l.p99_us));
            row(
                none(),
                "loss",
                s.map(|r| Some(format!("{:.2} %", r.loss_pct))),
            );
            let cpu = |r: &FanoutResult| r.server_cpu_us_per_delivery.map(|c| format!("{c:.2} µs"));
            row(none(), "server CPU per delivery", s.map(cpu));
            let lg = |r: &FanoutResult| {
                r.loadgen_cpu_s
                    .map(|c| format!("{:.0} % of a core", c * 100.0 / r.seconds))
            };
            row(none(), "load generator CPU", s.map(lg));
            if let Some(d) = &self.fanout_datagrams {
                let q = |s: String| [None, None, None, Some(s)];
                let l = d.latency.as_ref();
                row(
                    none(),
                    "DATAGRAM frames: p50",
                    q(l.map_or("-".into(), |l| us(l.p50_us))),
                );
                row(
                    none(),
                    "DATAGRAM frames: p99",
                    q(l.map_or("-".into(), |l| us(l.p99_us))),
                );
                row(
                    none(),
                    "DATAGRAM frames: loss",
                    q(format!("{:.2} %", d.loss_pct)),
                );
            }
            if f.slow_readers > 0 {
                let slow = |r: &FanoutResult| {
                    Some(format!(
                        "{} ({}): {} dropped, {} msgs missed",
                        r.slow_readers, r.slow_policy, r.slow_dropped, r.slow_missed
                    ))
                };
                row(none(), "slow readers", s.map(slow));
            }
        }
        if self.setup.any().is_some() {
            let lat =
                |q: fn(&Latency) -> f64| self.setup.map(|r| r.latency.as_ref().map(|l| us(q(l))));
            row("setup to first reply".into(), "p50", lat(|l| l.p50_us));
            row(none(), "p99", lat(|l| l.p99_us));
            let other = |f: fn(&SetupResult) -> Option<&Latency>| {
                self.setup.map(|r| f(r).map(|l| us(l.p50_us)))
            };
            if self
                .setup
                .all()
                .iter()
                .flatten()
                .any(|r| r.resumed.is_some())
            {
                row(none(), "p50 resumed", other(|r| r.resumed.as_ref()));
                row(none(), "p50 0-RTT", other(|r| r.zero_rtt.as_ref()));
                let neg = |f: fn(&crate::cert::Negotiated) -> Option<&String>| {
                    self.setup
                        .map(|r| r.negotiated.as_ref().and_then(f).cloned())
                };
                row(none(), "key exchange", neg(|n| n.group.as_ref()));
                row(none(), "cipher suite", neg(|n| n.suite.as_ref()));
            }
        }
        rows
    }
}

impl<T> Pair<T> {
    /// Any protocol's, TCP first.
    pub fn any(&self) -> Option<&T> {
        self.all().into_iter().flatten().next()
    }

    /// Each column's, in the table's order.
    pub fn all(&self) -> [Option<&T>; 4] {
        [
            self.tcp.as_ref(),
            self.tls.as_ref(),
            self.udp.as_ref(),
            self.quic.as_ref(),
        ]
    }

    /// A cell per column.
    fn map(&self, f: impl Fn(&T) -> Option<String>) -> [Option<String>; 4] {
        self.all().map(|t| t.and_then(&f))
    }
}

/// Microseconds, with sensible precision.
fn us(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} ms", v / 1000.0)
    } else {
        format!("{v:.1} µs")
    }
}

/// A rate with a k/M suffix.
fn count(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// The UDP rate search's cell: the rate found, or that no trial passed (on a link that
/// drops more than the allowed loss, none can) rather than a rate of 0.00 Gbit/s.
fn zero_loss_cell(z: &RateSearch) -> String {
    if z.rate_bps == 0 {
        format!("none of {} trials passed", z.trials)
    } else {
        let s = if z.trials == 1 { "" } else { "s" };
        format!("{} ({} trial{s})", bits(z.gbps), z.trials)
    }
}

/// A rate in Gbit/s as a person reads it: Gbit/s on loopback, Mbit/s or kbit/s across
/// a slow emulated link (where "0.05 Gbit/s" hid the figure).
fn bits(gbps: f64) -> String {
    if gbps >= 1.0 {
        format!("{gbps:.2} Gbit/s")
    } else if gbps >= 0.001 {
        format!("{:.1} Mbit/s", gbps * 1e3)
    } else {
        format!("{:.1} kbit/s", gbps * 1e6)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = self.rows();
        let w = |i: usize, min: usize| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
                .max(min)
        };
        const HEADS: [&str; 4] = ["TCP", "TCP+TLS", "UDP", "QUIC"];
        // Only the columns measured.
        let shown: Vec<usize> = (2..6)
            .filter(|&i| rows.iter().any(|r| r[i] != "-"))
            .collect();
        let (w0, w1) = (w(0, 0), w(1, 0));
        writeln!(f, "nettool bench {} against {}", self.version, self.target)?;
        let line = |f: &mut fmt::Formatter<'_>, r: [&str; 6]| {
            write!(f, "{:w0$}  {:w1$}", r[0], r[1])?;
            for &i in &shown {
                let wi = w(i, HEADS[i - 2].len());
                write!(f, "  {:>wi$}", r[i])?;
            }
            writeln!(f)
        };
        // A capacity run alone has no table: no header for an empty one.
        if !rows.is_empty() {
            let mut head = ["", "", "", "", "", ""];
            head[2..].copy_from_slice(&HEADS);
            line(f, head)?;
        }
        for r in &rows {
            if !r[0].is_empty() {
                writeln!(f)?;
            }
            line(f, [&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]])?;
        }
        if let Some(c) = &self.capacity {
            write_capacity(f, c)?;
        }
        Ok(())
    }
}

/// The capacity run, one room over both protocols, below the table.
fn write_capacity(f: &mut fmt::Formatter<'_>, c: &CapacityResult) -> fmt::Result {
    let kb = |v: Option<u64>| v.map_or("-".into(), |v| format!("{:.1} MB", v as f64 / 1024.0));
    writeln!(f)?;
    let threads = match c.server_threads {
        1 => String::new(),
        n => format!(", the server on {n} threads"),
    };
    writeln!(
        f,
        "capacity: {} TCP + {} UDP members in one room{threads}",
        c.tcp_members, c.udp_members
    )?;
    writeln!(
        f,
        "  joined        {} in {:.1} s ({:.0} joins/s), {} dropped or never welcomed",
        c.joined, c.join_seconds, c.joins_per_s, c.dropped
    )?;
    writeln!(
        f,
        "  server RSS    {} empty, {} full, {} per member",
        kb(c.server_rss_before_kb),
        kb(c.server_rss_full_kb),
        c.rss_per_member_bytes
            .map_or("-".into(), |b| format!("{:.1} KB", b as f64 / 1024.0))
    )?;
    let lat = |q: fn(&Latency) -> f64| c.latency.as_ref().map_or("-".into(), |l| us(q(l)));
    writeln!(
        f,
        "  broadcast     {} lines, {} of {} delivered, latency p50 {} p99 {}",
        c.broadcasts,
        c.delivered,
        c.expected,
        lat(|l| l.p50_us),
        lat(|l| l.p99_us)
    )?;
    writeln!(
        f,
        "  server CPU    {} per delivery",
        c.server_cpu_us_per_delivery
            .map_or("-".into(), |v| format!("{v:.2} µs"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_search_where_no_trial_passed_says_so() {
        let mut z = RateSearch {
            rate_bps: 0,
            gbps: 0.0,
            recv_gbps: 0.0,
            loss_pct: 0.0,
            max_loss_pct: 0.1,
            trials: 6,
            trial_ms: 200,
        };
        assert_eq!(zero_loss_cell(&z), "none of 6 trials passed");
        z.rate_bps = 6_820_000_000;
        z.gbps = 6.82;
        assert_eq!(zero_loss_cell(&z), "6.82 Gbit/s (6 trials)");
        z.gbps = 0.0031;
        assert_eq!(zero_loss_cell(&z), "3.1 Mbit/s (6 trials)");
        z.trials = 1;
        assert_eq!(zero_loss_cell(&z), "3.1 Mbit/s (1 trial)");
    }

    #[test]
    fn rates_read_in_the_unit_that_fits() {
        assert_eq!(bits(19.42), "19.42 Gbit/s");
        assert_eq!(bits(0.55), "550.0 Mbit/s");
        assert_eq!(bits(0.0504), "50.4 Mbit/s");
        assert_eq!(bits(0.0000125), "12.5 kbit/s");
    }
}
