//! The impairment engine for one direction of the link: pure, no I/O, no clock of its
//! own. The caller hands it packets with the time they arrived ([`Engine::submit`]) and
//! asks for the packets due at a given time ([`Engine::deliver_due`]); tests drive it
//! with made-up instants, the shuttle with `Instant::now()`.
//!
//! A packet goes through, in this order:
//! 1. **loss**: independent with probability `loss`, or with `burst=B` the simple
//!    Gilbert–Elliott model: a Good state that loses nothing and a Bad state that loses
//!    everything, Bad → Good with probability 1/B per packet (mean burst B packets) and
//!    Good → Bad with probability p/(B(1−p)), so the long-run loss rate is p;
//! 2. **rate** (if `rate=`): a drop-tail queue in front of a link of that rate; a packet
//!    that finds `queue=` packets (or bytes) waiting — the one being sent not counted —
//!    is dropped; otherwise it leaves when the link has sent everything before it;
//! 3. **delay and jitter**: `delay` plus a jitter drawn **uniformly from
//!    [−jitter, +jitter]** (never below zero). Jitter does **not** reorder: a packet never
//!    leaves before the one in front of it (like one physical path; netem's jitter does
//!    reorder), so under heavy traffic the spread piles up towards delay+jitter;
//! 4. **reorder**: with probability `reorder` a packet is held back until the next
//!    packet has been scheduled and leaves right after it (counted as reordered), or
//!    leaves [`REORDER_WAIT`] after its own due time if no packet follows;
//! 5. **dup**: with probability `dup` a second copy leaves right after the first.
//!
//! Due packets leave in due-time order (a binary heap keyed by due time, then arrival
//! order). Packet buffers are recycled through a free list, so in steady state there is
//! no allocation per packet. At most [`MAX_PACKETS`] are held; more are dropped and
//! counted as queue drops (memory stays bounded whatever the spec).

use super::counts::Counts;
use super::rng::Rng;
use super::spec::{LinkSpec, Queue};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

/// Packets held (delayed, queued or held back) at most, per direction.
pub const MAX_PACKETS: usize = 50_000;
/// How long past its own due time a held-back packet waits for a packet to overtake it.
pub const REORDER_WAIT: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Scheduled {
    due: Instant,
    seq: u64,
    slot: usize,
}

#[derive(Debug, Clone, Copy)]
struct Held {
    slot: usize,
    arrival: Instant,
    release: Instant,
}

/// What the link did with one packet (the capture marks it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Let through; `held` back to be overtaken (reorder), `duplicated` (dup).
    Passed {
        /// Held back until the next packet has left (`reorder=`).
        held: bool,
        /// A second copy leaves right after it (`dup=`).
        duplicated: bool,
    },
    /// Dropped by `loss=`.
    Lost,
    /// Dropped because the queue was full.
    QueueFull,
}

/// One direction's impairment state.
#[derive(Debug)]
pub struct Engine {
    spec: LinkSpec,
    rng: Rng,
    /// Gilbert–Elliott: (P good→bad, P bad→good), and whether we are in the bad state.
    ge: Option<(f64, f64)>,
    bad: bool,
    /// When the rate-limited link finishes sending what it has been given.
    link_free: Option<Instant>,
    /// Start-of-transmission time and length of each packet in the rate queue.
    waiting: VecDeque<(Instant, usize)>,
    waiting_bytes: usize,
    last_due: Option<Instant>,
    heap: BinaryHeap<Reverse<Scheduled>>,
    slots: Vec<Vec<u8>>,
    free: Vec<usize>,
    held: Option<Held>,
    seq: u64,
    counts: Counts,
}

impl Engine {
    /// An engine for `spec`, its random choices drawn from `seed`.
    pub fn new(spec: LinkSpec, seed: u64) -> Engine {
        let ge = spec.burst.map(|b| {
            let r = 1.0 / b;
            (spec.loss * r / (1.0 - spec.loss), r)
        });
        Engine {
            spec,
            rng: Rng::new(seed),
            ge,
            bad: false,
            link_free: None,
            waiting: VecDeque::new(),
            waiting_bytes: 0,
            last_due: None,
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            held: None,
            seq: 0,
            counts: Counts::default(),
        }
    }

    /// What this direction has done so far.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Packets held in the engine right now.
    pub fn in_flight(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// A packet arrived at `now`: what the link does with it. It is copied; the caller
    /// keeps its buffer.
    pub fn submit(&mut self, now: Instant, pkt: &[u8]) -> Verdict {
        self.counts.received += 1;
        if self.lost() {
            self.counts.dropped_loss += 1;
            self.count_tcp_data(pkt);
            return Verdict::Lost;
        }
        let depart = match self.spec.rate_bps {
            Some(rate) => match self.enqueue(now, pkt.len(), rate) {
                Some(d) => d,
                None => return self.queue_drop(pkt),
            },
            None => now,
        };
        let Some(slot) = self.store(pkt) else {
            return self.queue_drop(pkt);
        };
        let mut verdict = Verdict::Passed {
            held: false,
            duplicated: false,
        };
        let mut due = depart + self.spec.delay;
        if !self.spec.jitter.is_zero() {
            let j = self.spec.jitter.as_secs_f64() * (2.0 * self.rng.unit() - 1.0);
            due = if j >= 0.0 {
                due + Duration::from_secs_f64(j)
            } else {
                due.checked_sub(Duration::from_secs_f64(-j))
                    .unwrap_or(depart)
                    .max(depart)
            };
        }
        if let Some(last) = self.last_due {
            due = due.max(last);
        }
        self.last_due = Some(due);
        self.counts.passed += 1;

        if let Some(h) = self.held.take() {
            // The held packet leaves right after this one: it has been overtaken.
            self.schedule(due, slot, now);
            self.schedule(due, h.slot, h.arrival);
            self.counts.reordered += 1;
        } else if self.rng.chance(self.spec.reorder) {
            verdict = Verdict::Passed {
                held: true,
                duplicated: false,
            };
            self.held = Some(Held {
                slot,
                arrival: now,
                release: due + REORDER_WAIT,
            });
        } else {
            self.schedule(due, slot, now);
        }
        if self.rng.chance(self.spec.dup) {
            if let Some(copy) = self.store(pkt) {
                self.counts.duplicated += 1;
                self.push(due, copy);
                if let Verdict::Passed { duplicated, .. } = &mut verdict {
                    *duplicated = true;
                }
            }
        }
        verdict
    }

    fn queue_drop(&mut self, pkt: &[u8]) -> Verdict {
        self.counts.dropped_queue += 1;
        self.count_tcp_data(pkt);
        Verdict::QueueFull
    }

    fn count_tcp_data(&mut self, pkt: &[u8]) {
        if super::packet::is_tcp_data(pkt) {
            self.counts.dropped_tcp_data += 1;
        }
    }

    /// When the next packet is due (`None`: nothing held).
    pub fn next_due(&self) -> Option<Instant> {
        let top = self.heap.peek().map(|Reverse(s)| s.due);
        match (top, self.held.map(|h| h.release)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Hand every packet due at or before `now` to `out`, in order.
    pub fn deliver_due(&mut self, now: Instant, mut out: impl FnMut(&[u8])) {
        if let Some(h) = self.held {
            if h.release <= now {
                self.held = None;
                self.schedule(h.release, h.slot, h.arrival);
            }
        }
        while let Some(Reverse(top)) = self.heap.peek().copied() {
            if top.due > now {
                break;
            }
            self.heap.pop();
            out(&self.slots[top.slot]);
            self.free.push(top.slot);
        }
    }

    fn lost(&mut self) -> bool {
        match self.ge {
            Some((to_bad, to_good)) => {
                let flip = if self.bad { to_good } else { to_bad };
                if self.rng.chance(flip) {
                    self.bad = !self.bad;
                }
                self.bad
            }
            None => self.rng.chance(self.spec.loss),
        }
    }

    /// The rate limiter: when the packet will have left, or `None` if the queue is full.
    fn enqueue(&mut self, now: Instant, len: usize, rate: u64) -> Option<Instant> {
        while let Some(&(start, n)) = self.waiting.front() {
            if start > now {
                break;
            }
            self.waiting.pop_front();
            self.waiting_bytes -= n;
        }
        let start = self.link_free.map_or(now, |f| f.max(now));
        if start > now {
            let full = match self.spec.queue {
                Queue::Packets(limit) => self.waiting.len() >= limit,
                Queue::Bytes(limit) => self.waiting_bytes + len > limit,
            };
            if full {
                return None;
            }
            self.waiting.push_back((start, len));
            self.waiting_bytes += len;
        }
        let nanos = (len as u128 * 8 * 1_000_000_000) / u128::from(rate.max(1));
        let depart = start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        self.link_free = Some(depart);
        Some(depart)
    }

    fn store(&mut self, pkt: &[u8]) -> Option<usize> {
        let slot = match self.free.pop() {
            Some(s) => s,
            None if self.slots.len() < MAX_PACKETS => {
                self.slots.push(Vec::with_capacity(pkt.len().max(2048)));
                self.slots.len() - 1
            }
            None => return None,
        };
        let buf = &mut self.slots[slot];
        buf.clear();
        buf.extend_from_slice(pkt);
        Some(slot)
    }

    fn schedule(&mut self, due: Instant, slot: usize, arrival: Instant) {
        let added = due.saturating_duration_since(arrival);
        self.counts.delay_sum_ns += u64::try_from(added.as_nanos()).unwrap_or(u64::MAX);
        self.push(due, slot);
    }

    fn push(&mut self, due: Instant, slot: usize) {
        self.seq += 1;
        self.heap.push(Reverse(Scheduled {
            due,
            seq: self.seq,
            slot,
        }));
    }
}

#[cfg(test)]
#[path = "impair_tests.rs"]
mod tests;
