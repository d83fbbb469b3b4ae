//! What a finished load counted: every member's tally, what each sent, and totals over
//! one kind of (sender, receiver) pair; the check that TCP delivered exactly.

use super::member::nick_of;
use super::Tally;
use crate::wire::{Proto, ServerMsg};
use std::fmt;

/// What a finished load counted.
#[derive(Debug)]
pub struct Report {
    /// What each member received, in member order.
    pub tallies: Vec<Tally>,
    /// Lines said by each member (its last sequence number).
    pub sent: Vec<u64>,
    /// Lines sent inside the window, all members together.
    pub sent_in_window: u64,
    /// Members whose connection failed while sending.
    pub send_errors: u64,
    /// Events nobody read before the end.
    pub events: Vec<(usize, ServerMsg)>,
}

/// Totals over one kind of (sender, receiver) pair.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    /// (sender, receiver) pairs of this kind.
    pub pairs: u64,
    /// Lines due over those pairs.
    pub expected: u64,
    /// Lines received, duplicates excluded.
    pub received: u64,
    /// Lines never received.
    pub missing: u64,
    /// Lines that arrived after a later one from the same sender.
    pub reordered: u64,
    /// Lines received more than once.
    pub duplicates: u64,
}

impl Totals {
    /// `missing` as a percentage of `expected` (0–100; 0 when nothing was due).
    pub fn loss_pct(&self) -> f64 {
        if self.expected == 0 {
            0.0
        } else {
            self.missing as f64 * 100.0 / self.expected as f64
        }
    }
}

impl fmt::Display for Totals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected {} received {} missing {} ({:.4} %) reordered {} duplicates {}",
            self.expected,
            self.received,
            self.missing,
            self.loss_pct(),
            self.reordered,
            self.duplicates
        )
    }
}

impl Report {
    fn proto_of(&self, idx: usize) -> Proto {
        self.tallies[idx].proto
    }

    /// Totals over pairs whose sender uses `from` and receiver uses `to`. Expected is
    /// what the sender sent (every member heard every line from seq 1: all joined
    /// before anyone sent, and every line counted); missing counts what never arrived,
    /// late ones included.
    pub fn totals(&self, from: Proto, to: Proto) -> Totals {
        let mut t = Totals::default();
        for r in self.tallies.iter().filter(|r| r.proto == to) {
            for (j, s) in r.from.iter().enumerate() {
                if j == r.idx || self.proto_of(j) != from {
                    continue;
                }
                t.pairs += 1;
                t.expected += self.sent[j];
                t.received += s.count;
                let unique = s.count - s.tracker.duplicates;
                t.missing += self.sent[j].saturating_sub(unique);
                t.reordered += s.tracker.reordered;
                t.duplicates += s.tracker.duplicates;
            }
        }
        t
    }

    /// TCP senders to TCP receivers: every line exactly once, in order per sender. From
    /// UDP senders (whose lines may be lost on their way in) TCP receivers get no
    /// duplicates and all agree on the count: what reached the room reached every TCP
    /// member. The first departure from that, described.
    pub fn check_tcp_exact(&self) -> Result<(), String> {
        let tcp: Vec<&Tally> = self
            .tallies
            .iter()
            .filter(|r| r.proto == Proto::Tcp)
            .collect();
        for r in &tcp {
            let me = nick_of(r.idx, r.proto);
            if let Some(e) = &r.error {
                return Err(format!("{me}: {e}"));
            }
            if let Some(bye) = &r.bye {
                return Err(format!("{me} told bye: {bye}"));
            }
            for (j, s) in r.from.iter().enumerate() {
                if j == r.idx {
                    if s.count != 0 {
                        return Err(format!("{me} got {} of its own lines back", s.count));
                    }
                    continue;
                }
                let what = format!("{me} from {}", nick_of(j, self.proto_of(j)));
                let t = &s.tracker;
                if t.duplicates != 0 {
                    return Err(format!("{what}: {} duplicates", t.duplicates));
                }
                if self.proto_of(j) != Proto::Tcp {
                    continue;
                }
                if t.reordered != 0 || t.missing != 0 {
                    return Err(format!(
                        "{what}: {} reordered, {} gaps",
                        t.reordered, t.missing
                    ));
                }
                if s.count != self.sent[j] {
                    return Err(format!("{what}: {} of {} lines", s.count, self.sent[j]));
                }
                if self.sent[j] > 0 && s.first != Some(1) {
                    return Err(format!("{what}: first seq {:?}", s.first));
                }
            }
        }
        for j in (0..self.tallies.len()).filter(|&j| self.proto_of(j) == Proto::Udp) {
            let counts: Vec<u64> = tcp.iter().map(|r| r.from[j].count).collect();
            if !counts.windows(2).all(|w| w[0] == w[1]) {
                return Err(format!("TCP members disagree on u{j}: {counts:?}"));
            }
        }
        Ok(())
    }
}
