//! A TCP peer's outbound queue: the room's [`PeerSink`] on one side, the writer task
//! ([`super::run`]) on the other. Bounded in messages and bytes; what happens when it is
//! full is the [`SlowPolicy`]: refuse the message (the room then drops the peer as too
//! slow), or discard the oldest queued message and count it; the peer is told the count
//! ([`ServerMsg::Dropped`]: `37 messages dropped: …`) ahead of the next batch it is sent.
//! tokio's mpsc cannot give up its oldest item, so the queue is a `VecDeque` behind a
//! short-held std mutex, with a [`Notify`] to wake the single writer.
//!
//! The room queues with `send` during a round and calls `flush` once at its end: only
//! the flush wakes the writer, so everything the round queued leaves in one write. A
//! queue that reaches half its limits, or [`FULL_BATCH`] bytes, wakes the writer at once
//! (and ends a coalescing window early): a long round never makes a reader too slow.

use crate::transport::{Close, PeerSink, SendError};
use crate::wire::outgoing::Form;
use crate::wire::{Outgoing, ServerMsg};
use bytes::BytesMut;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Stop batching once this many bytes are gathered.
const BATCH_BYTES: usize = 64 * 1024;

/// What to do with a peer whose queue is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SlowPolicy {
    /// Refuse the message: the room drops the peer as too slow.
    #[default]
    Disconnect,
    /// Discard the oldest queued message, count it, and tell the peer how many it missed.
    DropOldest,
}

impl std::fmt::Display for SlowPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SlowPolicy::Disconnect => "disconnect",
            SlowPolicy::DropOldest => "drop-oldest",
        })
    }
}

/// How deep a peer's queue may grow.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Messages at most.
    pub messages: usize,
    /// Encoded bytes at most (one message is always let in, however large).
    pub bytes: usize,
    /// What happens when either limit is reached.
    pub policy: SlowPolicy,
}

/// Queued bytes that end a coalescing window early: some 40 chat lines, enough that one
/// write's fixed cost is spread thin. 1 448 (a full Ethernet segment) cost 200 × 16's
/// CPU 10–15 % for 50 × 260's p99; 4 KiB buys most of that p99 for about half the CPU.
pub const FULL_BATCH: usize = 4096;

pub(super) struct State {
    q: VecDeque<(Arc<Outgoing>, usize)>,
    bytes: usize,
    /// Messages discarded since the peer was last told.
    dropped: u64,
    /// The sink was dropped: deliver what is queued, then close.
    sink_gone: bool,
    /// The writer is gone: further sends fail.
    writer_gone: bool,
}

pub(super) struct Shared {
    state: Mutex<State>,
    pub(super) wake: Notify,
    /// Ends the coalescing window early: the queue reached `hurry_at`.
    pub(super) hurry: Notify,
    /// (messages, bytes) queued that end a window early: half the limits, and at most
    /// [`FULL_BATCH`] bytes.
    hurry_at: (usize, usize),
    /// Set with the abort token: the writer checks it without the token's lock.
    pub(super) aborted: AtomicBool,
    limits: QueueLimits,
    pub(super) form: Form,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No code path panics while holding this lock; if one did, the queue is still valid.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The room's handle: `send` is a non-blocking push onto the bounded queue.
pub struct TcpSink {
    shared: Arc<Shared>,
    flush: CancellationToken,
    abort: CancellationToken,
}

impl PeerSink for TcpSink {
    fn send(&self, msg: &Arc<Outgoing>) -> Result<(), SendError> {
        let len = msg.bytes(self.shared.form).map_or(0, |b| b.len());
        let limits = self.shared.limits;
        let mut st = self.shared.lock();
        if st.writer_gone {
            return Err(SendError::Closed);
        }
        while !st.q.is_empty() && (st.q.len() >= limits.messages || st.bytes + len > limits.bytes) {
            match limits.policy {
                SlowPolicy::Disconnect => return Err(SendError::Full),
                SlowPolicy::DropOldest => {
                    if let Some((_, n)) = st.q.pop_front() {
                        st.bytes -= n;
                        st.dropped += 1;
                    }
                }
            }
        }
        // The writer is woken by the round's flush, not here: whatever else the round
        // queues for this peer goes in the same write. A queue reaching half its limits
        // (with a queue of one or two messages, the first one is already half) or
        // FULL_BATCH bytes does not wait for the round's end, nor for a coalescing window:
        // the write's fixed cost is spread thin by then, and waiting longer would only add
        // latency, or make a reader too slow.
        let soon = self.shared.hurry_at;
        let before = st.q.len() < soon.0 && st.bytes < soon.1;
        st.q.push_back((msg.clone(), len));
        st.bytes += len;
        let now = st.q.len() >= soon.0 || st.bytes >= soon.1;
        drop(st);
        if before && now {
            self.shared.wake.notify_one();
            self.shared.hurry.notify_one();
        }
        Ok(())
    }

    fn flush(&self) {
        // `notify_one` keeps a permit when the writer is busy, so it looks again after
        // its write; an empty queue needs no wake-up.
        if !self.shared.lock().q.is_empty() {
            self.shared.wake.notify_one();
        }
    }

    fn close(&self, how: Close) {
        match how {
            Close::Flush => self.flush.cancel(),
            Close::Abort => {
                self.shared.aborted.store(true, Ordering::Release);
                self.abort.cancel();
            }
        }
    }
}

impl Drop for TcpSink {
    fn drop(&mut self) {
        self.shared.lock().sink_gone = true;
        self.shared.wake.notify_one();
    }
}

/// The queue's receiving end, for [`run`].
pub struct Queue {
    pub(super) shared: Arc<Shared>,
    pub(super) flush: CancellationToken,
    pub(super) abort: CancellationToken,
}

impl Drop for Queue {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.writer_gone = true;
        st.q.clear();
        st.bytes = 0;
    }
}

impl Queue {
    /// Move queued messages (up to a batch) into `buf`, preceded by a notice if messages
    /// were dropped since the last batch. Returns whether the sink is gone.
    pub(super) fn take(&self, buf: &mut BytesMut) -> bool {
        let mut st = self.shared.lock();
        if st.dropped > 0 {
            let notice = Outgoing::new(ServerMsg::Dropped { count: st.dropped });
            st.dropped = 0;
            push(buf, &notice, self.shared.form);
        }
        while buf.len() < BATCH_BYTES {
            let Some((m, n)) = st.q.pop_front() else {
                break;
            };
            st.bytes -= n;
            push(buf, &m, self.shared.form);
        }
        st.sink_gone
    }
}

/// A sink and its queue, for a peer spoken to in `form`.
pub fn queue(limits: QueueLimits, form: Form) -> (TcpSink, Queue) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            q: VecDeque::new(),
            bytes: 0,
            dropped: 0,
            sink_gone: false,
            writer_gone: false,
        }),
        wake: Notify::new(),
        hurry: Notify::new(),
        hurry_at: (
            (limits.messages / 2).max(1),
            (limits.bytes / 2).clamp(1, FULL_BATCH),
        ),
        aborted: AtomicBool::new(false),
        limits: QueueLimits {
            messages: limits.messages.max(1),
            ..limits
        },
        form,
    });
    let flush = CancellationToken::new();
    let abort = CancellationToken::new();
    (
        TcpSink {
            shared: shared.clone(),
            flush: flush.clone(),
            abort: abort.clone(),
        },
        Queue {
            shared,
            flush,
            abort,
        },
    )
}

fn push(buf: &mut BytesMut, msg: &Outgoing, form: Form) {
    if let Some(bytes) = msg.bytes(form) {
        buf.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{run, DEFAULT_COALESCE};
    use super::*;
    use crate::tcp::tracker::ConnStats;

    fn msg(text: &str) -> Arc<Outgoing> {
        Arc::new(Outgoing::new(ServerMsg::Error(text.into())))
    }

    /// What a text peer reads for `msgs`, in order.
    fn lines(msgs: &[Arc<Outgoing>]) -> String {
        let line = |m: &Arc<Outgoing>| m.bytes(Form::Line).cloned().unwrap_or_default();
        msgs.iter()
            .map(|m| String::from_utf8_lossy(&line(m)).into_owned())
            .collect()
    }

    fn limits(messages: usize, bytes: usize, policy: SlowPolicy) -> QueueLimits {
        QueueLimits {
            messages,
            bytes,
            policy,
        }
    }

    /// Drop the sink and run the writer to the end; what it wrote.
    async fn drain(sink: TcpSink, q: Queue) -> String {
        drop(sink);
        let mut out = Vec::new();
        run(
            &mut out,
            q,
            Arc::new(ConnStats::default()),
            DEFAULT_COALESCE,
        )
        .await
        .expect("write to a Vec");
        String::from_utf8(out).expect("text")
    }

    #[tokio::test]
    async fn disconnect_refuses_once_full_by_count() {
        let (sink, q) = queue(limits(2, 1 << 20, SlowPolicy::Disconnect), Form::Line);
        assert_eq!(sink.send(&msg("a")), Ok(()));
        assert_eq!(sink.send(&msg("b")), Ok(()));
        assert_eq!(sink.send(&msg("c")), Err(SendError::Full));
        assert_eq!(drain(sink, q).await, lines(&[msg("a"), msg("b")]));
    }

    #[tokio::test]
    async fn the_byte_bound_counts_encoded_bytes_and_lets_one_big_message_in() {
        // Each line is 7 bytes: two fit in 14, a third does not.
        assert_eq!(lines(&[msg("aaaa")]).len(), 7);
        let (sink, q) = queue(limits(100, 14, SlowPolicy::Disconnect), Form::Line);
        assert_eq!(sink.send(&msg("aaaa")), Ok(()));
        assert_eq!(sink.send(&msg("bbbb")), Ok(()));
        assert_eq!(sink.send(&msg("c")), Err(SendError::Full));
        drop(drain(sink, q).await);
        let (sink, q) = queue(limits(100, 4, SlowPolicy::Disconnect), Form::Line);
        assert_eq!(sink.send(&msg("larger than the bound")), Ok(()));
        assert_eq!(sink.send(&msg("x")), Err(SendError::Full));
        assert_eq!(drain(sink, q).await, lines(&[msg("larger than the bound")]));
    }

    #[tokio::test]
    async fn drop_oldest_keeps_the_newest_and_counts_the_rest() {
        let (sink, q) = queue(limits(2, 1 << 20, SlowPolicy::DropOldest), Form::Line);
        for i in 1..=5 {
            assert_eq!(sink.send(&msg(&format!("m{i}"))), Ok(()));
        }
        let dropped = Arc::new(Outgoing::new(ServerMsg::Dropped { count: 3 }));
        assert_eq!(
            drain(sink, q).await,
            lines(&[dropped, msg("m4"), msg("m5")])
        );
    }

    #[tokio::test]
    async fn a_gone_writer_makes_sends_fail_as_closed() {
        let (sink, q) = queue(limits(2, 1 << 20, SlowPolicy::Disconnect), Form::Line);
        drop(q);
        assert_eq!(sink.send(&msg("a")), Err(SendError::Closed));
    }
}
