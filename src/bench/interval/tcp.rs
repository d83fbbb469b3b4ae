//! A reliable stream's side of the intervals. Over a blocking socket (TCP, TLS) a
//! [`Ticker`] thread reads the connection's figures at each tick from a clone of the
//! socket, so the sending loop is the same syscall for syscall with intervals as without
//! (a write timeout to get back to the clock cost the loopback stream about 4 % of its
//! goodput: docs/link-lab.md). QUIC's loop is async and ticks between chunks ([`tick`]).

use super::{CcSample, Cum, Recorder};
use crate::transport::stats::CcStats;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

/// A reliable stream's cumulative figures: the bytes the peer acknowledged where the
/// transport counts them (TCP), else `written` (the bytes handed to it), and the rest of
/// its view.
pub fn cum(cc: Option<CcSample>, written: u64) -> Cum {
    Cum {
        bytes: cc.and_then(|c| c.acked_bytes).unwrap_or(written),
        cc,
        ..Cum::default()
    }
}

/// Record a tick if one is due (one snapshot). `written`: the bytes handed to the
/// connection so far.
pub fn tick(rec: &mut Recorder, s: &impl CcStats, written: u64) {
    if let Some(tick) = rec.due(Instant::now()) {
        if let Some(c) = s.cc_snapshot() {
            rec.record(tick, cum(Some(c), written));
        }
    }
}

/// Takes a [`Recorder`]'s ticks on a thread of its own: sleeps until the next one is due,
/// takes one snapshot of the connection (over TCP one `getsockopt(TCP_INFO)`, valid on
/// any descriptor of the socket), records it. It goes on while the sender drains and
/// waits for the sink's report, and stops at [`Ticker::finish`] (or when dropped).
pub struct Ticker {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<Recorder>>,
}

impl Ticker {
    /// Start ticking `rec` on `conn` (a clone of the socket the sender writes to).
    pub fn start<C: CcStats + Send + 'static>(mut rec: Recorder, conn: C) -> Ticker {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (lock, cv) = &*flag;
            let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                let wait = rec.next_due().saturating_duration_since(Instant::now());
                stopped = cv
                    .wait_timeout_while(stopped, wait, |s| !*s)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                if *stopped {
                    return rec;
                }
                tick(&mut rec, &conn, 0);
            }
        });
        Ticker {
            stop,
            thread: Some(thread),
        }
    }

    fn signal(&self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_one();
    }

    /// Stop ticking: the recorder, to finish with the final figures.
    pub fn finish(mut self) -> Option<Recorder> {
        self.signal();
        self.thread.take()?.join().ok()
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.signal();
    }
}
