//! Per-interval reports (`--interval`, like iperf3's `-i`) for the stream and round-trip
//! parts: one [`Interval`] per protocol per period, each printed as a line as it ends
//! and kept for `--json` (iperf3's `-J` field names where the meaning is the same).
//!
//! A measurement keeps *cumulative* figures ([`Cum`]) and hands one to its [`Recorder`]
//! at each tick; an interval is the difference between two of them, so the intervals
//! of a run always add up to its totals (the last one runs to the final figures). What
//! a reliable transport's congestion control says comes in as a [`CcSample`], read
//! through the transport's seam (`crate::transport::stats::CcStats`): TCP's and TLS's
//! from `TCP_INFO` on the sending socket, QUIC's from quinn's connection statistics (lost
//! packets, congestion window, RTT), in the same fields. UDP's come from the receiver:
//! the stream asks the sink for its counters at each tick (see [`udp`]).
//!
//! With a chart to draw (`--plot`), ticks come more often ([`SAMPLE_EVERY`]) and every
//! tick is kept as a sample too; the printed intervals then span several ticks.

pub mod line;
pub mod rtt;
pub mod tcp;
pub mod udp;

pub use crate::transport::stats::CcSnapshot as CcSample;
use crate::wire::Proto;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The tick of the samples behind a chart.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// What to report and keep.
#[derive(Debug, Clone, Default)]
pub struct IntervalConfig {
    /// One interval this often (`None`: no intervals).
    pub every: Option<Duration>,
    /// Keep samples at [`SAMPLE_EVERY`] for a chart.
    pub samples: bool,
    /// Where each interval's line goes as it ends (`None`: only kept).
    pub lines: Option<LineSink>,
}

impl IntervalConfig {
    /// Whether anything is recorded at all.
    pub fn active(&self) -> bool {
        self.every.is_some() || self.samples
    }
}

/// A place for interval lines (the suite prints them around its progress bar).
#[derive(Clone)]
pub struct LineSink(pub Arc<dyn Fn(&str) + Send + Sync>);

impl fmt::Debug for LineSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LineSink")
    }
}

/// One interval of a measurement. Which of the optional groups is present says what
/// measured it: `cc` for TCP, TLS and QUIC, `datagrams` for a UDP stream, `round_trips`
/// for the round-trip part.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Interval {
    /// Seconds from the start of the measurement.
    pub start: f64,
    /// Seconds from the start of the measurement.
    pub end: f64,
    /// `end - start`.
    pub seconds: f64,
    /// Stream: bytes delivered in the interval (TCP: acknowledged by the receiver; UDP:
    /// received). Round trip: payload bytes echoed.
    pub bytes: u64,
    /// `bytes` as bits per second.
    pub bits_per_second: f64,
    /// The sender's congestion control, as the transport reports it.
    #[serde(flatten)]
    pub cc: Option<CcInterval>,
    /// UDP stream: as the receiver counted.
    #[serde(flatten)]
    pub datagrams: Option<DgramInterval>,
    /// Round trips in the interval.
    #[serde(flatten)]
    pub round_trips: Option<rtt::RttInterval>,
}

/// A reliable transport's view in one interval (iperf3's names).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct CcInterval {
    /// Segments (QUIC: packets) retransmitted in the interval.
    pub retransmits: u64,
    /// Of those, the ones the receiver reported (D-SACK) as received twice: not needed.
    pub spurious_retransmits: Option<u64>,
    /// Data segments (QUIC: packets) sent in the interval, retransmissions included.
    pub segments_sent: u64,
    /// Congestion window at the end, in bytes.
    pub snd_cwnd: u64,
    /// Smoothed round-trip time at the end, in µs.
    pub rtt: u64,
    /// Its variation, in µs (TCP's rttvar).
    pub rttvar: Option<u64>,
    /// The transport's latest delivery-rate estimate, in bits per second.
    pub delivery_rate: Option<u64>,
}

/// A UDP stream's interval at the receiver (iperf3's names).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct DgramInterval {
    /// Datagrams the receiver expected: received plus lost.
    pub packets: u64,
    /// Datagrams missing at the receiver. Negative when datagrams counted lost in an
    /// earlier interval arrived late (reordered across the boundary).
    pub lost_packets: i64,
    /// `lost_packets` as a percentage of `packets`.
    pub lost_percent: f64,
    /// Datagrams that arrived after a later one.
    pub out_of_order: u64,
    /// RFC 3550 interarrival jitter at the end of the interval, in ms.
    pub jitter_ms: f64,
}

/// The whole run's view of a reliable transport, for the final table and `--json`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct CcSummary {
    /// Where the figures come from: `TCP_INFO` (the kernel's) or `quinn`.
    pub source: &'static str,
    /// Segments retransmitted over the run.
    pub retransmits: u64,
    /// Of those, the ones the receiver reported (D-SACK) as not needed: on a perfect link
    /// every retransmission is one (a tail-loss probe after a stall, say).
    pub spurious_retransmits: Option<u64>,
    /// Data segments sent, retransmissions included.
    pub segments_sent: u64,
    /// `retransmits` as a percentage of `segments_sent`.
    pub retransmit_percent: f64,
    /// The last congestion window, in bytes.
    pub snd_cwnd: u64,
    /// The last smoothed RTT, in µs.
    pub rtt: u64,
    /// The last RTT variation, in µs.
    pub rttvar: Option<u64>,
}

impl CcSummary {
    /// The summary of a connection's final figures.
    pub fn of(last: &CcSample) -> CcSummary {
        CcSummary {
            source: last.source,
            retransmits: last.retransmits,
            spurious_retransmits: last.spurious,
            segments_sent: last.sent,
            retransmit_percent: pct(last.retransmits as f64, last.sent as f64),
            snd_cwnd: last.cwnd_bytes,
            rtt: last.srtt_us,
            rttvar: last.rttvar_us,
        }
    }
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part * 100.0 / whole
    } else {
        0.0
    }
}

/// Cumulative figures of a UDP stream at the receiver.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DgramCum {
    /// Datagrams received, duplicates excluded.
    pub received: u64,
    /// The highest sequence number received (at the end: the number sent).
    pub highest: u64,
    /// Datagrams that arrived after a later one.
    pub reordered: u64,
    /// The running RFC 3550 jitter, ns.
    pub jitter_ns: u64,
}

/// A measurement's cumulative figures at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cum {
    /// Bytes delivered so far (see [`Interval::bytes`]).
    pub bytes: u64,
    /// A reliable transport's view.
    pub cc: Option<CcSample>,
    /// A UDP stream's receiver counts.
    pub dgram: Option<DgramCum>,
    /// The round trips of the interval that ends here (not cumulative: see [`rtt`]).
    pub rtt: Option<rtt::RttInterval>,
}

impl Cum {
    /// The interval from `a` (at `t0` s) to `self` (at `t1` s).
    fn since(&self, a: &Cum, t0: f64, t1: f64) -> Interval {
        let seconds = (t1 - t0).max(0.0);
        let bytes = self.bytes.saturating_sub(a.bytes);
        let cc = self.cc.map(|b| {
            let a = a.cc.unwrap_or_default();
            CcInterval {
                retransmits: b.retransmits.saturating_sub(a.retransmits),
                spurious_retransmits: b
                    .spurious
                    .map(|s| s.saturating_sub(a.spurious.unwrap_or(0))),
                segments_sent: b.sent.saturating_sub(a.sent),
                snd_cwnd: b.cwnd_bytes,
                rtt: b.srtt_us,
                rttvar: b.rttvar_us,
                delivery_rate: b.delivery_rate_bps,
            }
        });
        let datagrams = self.dgram.map(|b| {
            let a = a.dgram.unwrap_or_default();
            let missing = |c: &DgramCum| c.highest.saturating_sub(c.received) as i64;
            let lost = missing(&b) - missing(&a);
            let got = b.received.saturating_sub(a.received);
            let packets = (got as i64 + lost).max(0) as u64;
            DgramInterval {
                packets,
                lost_packets: lost,
                lost_percent: pct(lost as f64, packets as f64),
                out_of_order: b.reordered.saturating_sub(a.reordered),
                jitter_ms: b.jitter_ns as f64 / 1e6,
            }
        });
        Interval {
            start: t0,
            end: t1,
            seconds,
            bytes,
            bits_per_second: if seconds > 0.0 {
                bytes as f64 * 8.0 / seconds
            } else {
                0.0
            },
            cc,
            datagrams,
            round_trips: self.rtt,
        }
    }
}

/// Records one measurement's intervals (and samples).
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    step: Duration,
    /// Ticks per interval (`None`: samples only).
    per_interval: Option<u64>,
    samples_on: bool,
    /// The next tick to take, counting from 1.
    next: u64,
    last_sample: (u64, Cum),
    last_interval: (u64, Cum),
    lines: Option<LineSink>,
    label: line::Label,
    /// The intervals so far.
    pub intervals: Vec<Interval>,
    /// The samples so far (one per tick, with `samples`).
    pub samples: Vec<Interval>,
}

impl Recorder {
    /// A recorder for `part` over `proto` starting now, or `None` if `cfg` asks for
    /// nothing.
    pub fn new(cfg: &IntervalConfig, part: &'static str, proto: Proto) -> Option<Recorder> {
        if !cfg.active() {
            return None;
        }
        let (step, per_interval) = match (cfg.every, cfg.samples) {
            (Some(every), true) if every > SAMPLE_EVERY => {
                let n = every.as_nanos().div_ceil(SAMPLE_EVERY.as_nanos()) as u64;
                (every / n as u32, Some(n))
            }
            (Some(every), _) => (every, Some(1)),
            (None, _) => (SAMPLE_EVERY, None),
        };
        Some(Recorder {
            start: Instant::now(),
            step: step.max(Duration::from_millis(1)),
            per_interval,
            samples_on: cfg.samples,
            next: 1,
            last_sample: (0, Cum::default()),
            last_interval: (0, Cum::default()),
            lines: cfg.lines.clone(),
            label: line::Label::new(part, proto, cfg.every),
            intervals: Vec::new(),
            samples: Vec::new(),
        })
    }

    /// When the next tick is due.
    pub fn next_due(&self) -> Instant {
        self.start + self.step * self.next as u32
    }

    /// If a tick is due, its number (consumed: the caller records it now or later with
    /// [`Recorder::record`]). Ticks missed while the caller was busy are skipped, except
    /// the one that ends an interval.
    pub fn due(&mut self, now: Instant) -> Option<u64> {
        if now < self.next_due() {
            return None;
        }
        let mut tick = ((now - self.start).as_nanos() / self.step.as_nanos()) as u64;
        tick = tick.max(self.next);
        if let Some(n) = self.per_interval {
            tick = tick.min(self.next.div_ceil(n) * n);
        }
        self.next = tick + 1;
        Some(tick)
    }

    /// Whether `tick` ends an interval.
    fn ends_interval(&self, tick: u64) -> bool {
        self.per_interval.is_some_and(|n| tick.is_multiple_of(n))
    }

    /// The figures as of `tick`. Ticks must come in order; an older one (a late UDP
    /// report) is ignored. An interval whose closing tick never came (a lost UDP report)
    /// extends to the next interval's end.
    pub fn record(&mut self, tick: u64, cum: Cum) {
        if tick <= self.last_sample.0 {
            return;
        }
        let t = |k: u64| (self.step * k as u32).as_secs_f64();
        if self.samples_on {
            let (k0, c0) = self.last_sample;
            self.samples.push(cum.since(&c0, t(k0), t(tick)));
        }
        self.last_sample = (tick, cum);
        if self.ends_interval(tick) {
            let (k0, c0) = self.last_interval;
            self.push_interval(cum.since(&c0, t(k0), t(tick)));
            self.last_interval = (tick, cum);
        }
    }

    /// The final figures, at the end of the measurement: the last (partial) interval.
    pub fn finish(&mut self, cum: Cum) {
        let end = self.start.elapsed().as_secs_f64();
        let t = |k: u64| (self.step * k as u32).as_secs_f64();
        if self.samples_on {
            let (k0, c0) = self.last_sample;
            self.samples.push(cum.since(&c0, t(k0), end));
        }
        if self.per_interval.is_some() {
            let (k0, c0) = self.last_interval;
            self.push_interval(cum.since(&c0, t(k0), end));
        }
    }

    fn push_interval(&mut self, iv: Interval) {
        // A last sliver (under a tenth of an interval) is kept, not printed, as iperf3 does.
        let sliver =
            iv.seconds < self.step.as_secs_f64() * self.per_interval.unwrap_or(1) as f64 / 10.0;
        if let Some(sink) = self
            .lines
            .as_ref()
            .filter(|_| !sliver || self.intervals.is_empty())
        {
            if self.intervals.is_empty() {
                (sink.0)(&self.label.header());
            }
            (sink.0)(&self.label.line(&iv));
        }
        self.intervals.push(iv);
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
