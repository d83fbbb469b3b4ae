//! A UDP stream's intervals come from the receiver: at each tick the sender asks the
//! sink for its counters with a tokened report request (the tick number is the token,
//! see `echo::sink`) and goes on sending; the answer is picked up without blocking on a
//! later pass and recorded as of its tick. An answer the link loses leaves its tick out
//! (the interval runs on to the next one's end); a late or duplicated one is matched by
//! its token or ignored. The sink's state is read one one-way delay after the tick.

use super::{Cum, DgramCum, Recorder};
use crate::echo::sink::{self, UdpReport};
use nix::sys::socket::MsgFlags;
use std::collections::VecDeque;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::Instant;

/// Requests awaiting an answer at most (older ones are given up).
const OUTSTANDING: usize = 16;

/// The receiver's cumulative counts in a sink report.
pub fn cum(r: &UdpReport) -> Cum {
    Cum {
        bytes: r.bytes,
        dgram: Some(DgramCum {
            received: r.received,
            highest: r.highest_seq,
            reordered: r.reordered,
            jitter_ns: r.jitter_ns,
        }),
        ..Cum::default()
    }
}

/// Asks the sink at each tick and records its answers.
#[derive(Debug)]
pub struct SinkPoller {
    session: u32,
    asked: VecDeque<u64>,
    buf: Vec<u8>,
}

impl SinkPoller {
    /// A poller for the stream `session`.
    pub fn new(session: u32) -> SinkPoller {
        SinkPoller {
            session,
            asked: VecDeque::new(),
            buf: vec![0; 2048],
        }
    }

    /// Ask if a tick is due; take any answers that have come. Never blocks; a failed
    /// request is a lost tick (the stream's own sends report real errors).
    pub fn poll(&mut self, sock: &UdpSocket, rec: &mut Recorder, now: Instant) {
        if let Some(tick) = rec.due(now) {
            if sock
                .send(&sink::tokened_request(self.session, tick))
                .is_ok()
            {
                self.asked.push_back(tick);
                if self.asked.len() > OUTSTANDING {
                    self.asked.pop_front();
                }
            }
        }
        while !self.asked.is_empty() {
            match nix::sys::socket::recv(sock.as_raw_fd(), &mut self.buf, MsgFlags::MSG_DONTWAIT) {
                Ok(n) => self.answer(n, rec),
                Err(_) => break, // nothing yet (or an ICMP error the stream will meet)
            }
        }
    }

    fn answer(&mut self, n: usize, rec: &mut Recorder) {
        let a = &self.buf[..n];
        let Some(r) = UdpReport::decode(a) else {
            return;
        };
        if r.session != self.session {
            return;
        }
        // A sink without tokens answers in order: take it as the latest question's.
        let tick = match sink::answer_token(a) {
            Some(t) => t,
            None => match self.asked.back() {
                Some(&t) => t,
                None => return,
            },
        };
        if !self.asked.contains(&tick) {
            return;
        }
        self.asked.retain(|&t| t > tick);
        rec.record(tick, cum(&r));
    }

    /// Whether any request is still unanswered.
    pub fn waiting(&self) -> bool {
        !self.asked.is_empty()
    }
}
