//! A member's receiving side: counts every load line per sender (count, first sequence
//! number, gaps, reordering, duplicates) and its latency (send time to receive time,
//! same clock), for lines sent inside the load's window; passes notable messages on as
//! events; ends on a goodbye, on the stream's end, or once told to stop and quiet.

use super::member::{parse_text_line, sender_index, Got, Rx};
use super::Shared;
use crate::measure::seq::SeqTracker;
use crate::wire::{now_us, LeaveReason, Proto, ServerMsg};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// One sender as one receiver saw it.
#[derive(Debug, Default, Clone)]
pub struct FromSender {
    /// Lines counted from this sender (sent inside the window).
    pub count: u64,
    /// The first sequence number counted from it.
    pub first: Option<u64>,
    /// Its sequence numbers: gaps, reordering, duplicates.
    pub tracker: SeqTracker,
}

/// Everything one member received.
#[derive(Debug)]
pub struct Tally {
    /// The receiving member's index in the load.
    pub idx: usize,
    /// The protocol it is connected over.
    pub proto: Proto,
    /// Load lines sent inside the window, indexed by sender.
    pub from: Vec<FromSender>,
    /// Chat messages of any kind, from anyone, at any time.
    pub chats: u64,
    /// Delivery latency of the lines in `from`, in nanoseconds.
    pub latency: Histogram<u64>,
    /// The reason the server gave if it said `Bye`.
    pub bye: Option<LeaveReason>,
    /// The read error that ended it, if one did.
    pub error: Option<String>,
    /// Whether its connection closed before the end.
    pub closed: bool,
}

impl Tally {
    /// Lines counted in `from`, all senders together.
    pub fn delivered(&self) -> u64 {
        self.from.iter().map(|s| s.count).sum()
    }
}

/// One member's receiving side.
pub(super) struct Receiver {
    pub(super) idx: usize,
    pub(super) proto: Proto,
    /// Members in the load.
    pub(super) n: usize,
    /// The text of load lines: any other chat line is an event.
    pub(super) text: Arc<str>,
    pub(super) quiet: Duration,
}

impl Receiver {
    pub(super) async fn run(self, mut rx: Rx, shared: Arc<Shared>) -> Tally {
        let mut t = Tally {
            idx: self.idx,
            proto: self.proto,
            from: vec![FromSender::default(); self.n],
            chats: 0,
            latency: crate::measure::latency::histogram(),
            bye: None,
            error: None,
            closed: false,
        };
        let mut probed = false;
        let mut last_chat = Instant::now();
        let mut drain_end: Option<Instant> = None;
        // Registered once, not once per message.
        let stop = shared.stop_recv.cancelled();
        tokio::pin!(stop);
        loop {
            let next = if let Some(end) = drain_end {
                let until = (last_chat + self.quiet).min(end);
                match tokio::time::timeout_at(until, rx.next()).await {
                    Ok(x) => x,
                    Err(_) => break,
                }
            } else {
                tokio::select! {
                    x = rx.next() => x,
                    _ = &mut stop => {
                        last_chat = Instant::now();
                        drain_end = Some(Instant::now() + super::DRAIN_MAX);
                        continue;
                    }
                }
            };
            let msg = match next {
                Some(Ok(Got::Msg(m))) => m,
                Some(Ok(Got::Lines { chunk, at_us })) => {
                    let chats = t.chats;
                    for line in chunk.split(|b| *b == b'\n') {
                        let line = line.strip_suffix(b"\r").unwrap_or(line);
                        if let Some((j, seq, sent_us)) = parse_text_line(line) {
                            t.chats += 1;
                            self.count(&mut t, j, seq, sent_us, at_us, &shared);
                        } else if !probed && line.ends_with(b"probe") {
                            probed = true;
                            shared.heard_probe.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    if t.chats > chats {
                        last_chat = Instant::now();
                    }
                    continue;
                }
                Some(Err(e)) => {
                    t.error = Some(e.to_string());
                    break;
                }
                None => {
                    t.closed = true;
                    break;
                }
            };
            match &msg {
                ServerMsg::Chat {
                    from,
                    seq,
                    sent_us,
                    text,
                } => {
                    last_chat = Instant::now();
                    t.chats += 1;
                    if let Some(j) = sender_index(from) {
                        self.count(&mut t, j, *seq, *sent_us, now_us(), &shared);
                    }
                    if **text != *self.text {
                        let _ = shared.events.send((self.idx, msg));
                    }
                }
                ServerMsg::Bye { reason } => {
                    t.bye = Some(reason.clone());
                    let _ = shared.events.send((self.idx, msg));
                    break;
                }
                ServerMsg::Left { .. } | ServerMsg::Members(_) | ServerMsg::Error(_) => {
                    let _ = shared.events.send((self.idx, msg));
                }
                _ => {}
            }
        }
        t
    }

    /// Line `seq` of sender `j`, sent at `sent_us`, arrived at `at_us`.
    fn count(&self, t: &mut Tally, j: usize, seq: u64, sent_us: u64, at_us: u64, shared: &Shared) {
        if j >= self.n {
            return;
        }
        if (j + 1) % self.n == self.idx {
            shared.seen[j].fetch_max(seq, Ordering::Relaxed);
        }
        if !shared.window.contains(sent_us) {
            return;
        }
        let s = &mut t.from[j];
        s.count += 1;
        s.first.get_or_insert(seq);
        s.tracker.observe(seq);
        let ns = at_us.saturating_sub(sent_us).max(1) * 1000;
        t.latency.saturating_record(ns);
    }
}
