//! The writer half of a TCP peer: a queue bounded in messages and bytes (the room's
//! [`PeerSink`]) drained by a task that sends whatever is queued in one write: when the
//! room is busy, everything it queued for the peer in one batch of events leaves in one
//! system call; when it is idle, the one message leaves at once, since the writer is
//! woken as soon as it is queued. The messages are copied into one buffer rather than
//! handed to `writev` as they are: for chat-sized messages the kernel's walk over many
//! small iovecs cost more than the copy (measured: 0.34 against 0.21 µs of server CPU
//! per delivery at 50 × 260 msg/s). The buffer is allocated on first use, so an idle
//! member holds none.
//!
//! Under load, batching by the room alone is not enough: a server that keeps up sees few
//! events per batch, so every line costs every member a write, and on loopback each
//! write also pays for the receiver's stack and wake-up. The writer therefore paces
//! itself with a *coalescing window* (`window`, [`DEFAULT_COALESCE`]): a write that would
//! follow the previous one within the window waits for the rest of it, and whatever is
//! queued meanwhile leaves in the same write (as the NATS server's writer waits briefly
//! while more flushes are pending). A member not written to for a window is written to
//! at once, so at light load a line is not delayed at all. A window also ends as soon as
//! [`FULL_BATCH`] bytes (4 KiB, some 40 chat lines) are queued: by then the write's fixed
//! cost is spread thin, and a member receiving many lines a second is not held back for
//! the whole window. Measured, pinned, text members against the lesson's Node.js server
//! (docs/SCALE_NOTES.md §7, §11, §12): at 50 members × 260 lines/s, server CPU per
//! delivery 1.28–1.37 µs with no window, 0.52–0.56 with a 5 ms window alone and
//! 0.54–0.60 with the 4 KiB end as well, 5 or 10 ms (Node 1.34–1.54); p99 10.7–18.0 ms
//! with the window alone and 7–12 with the end as well (Node 20–38). At 200 × 16, where
//! the room's own batches are ~2 ms apart, 1.43–1.54 µs with no window, 0.74–0.95 with
//! 5 ms and 0.58–0.66 with 10 ms (Node 1.5), p99 11–18 ms (Node 270–400). At 5 × 10
//! lines/s nothing changes. tokio's timers tick in milliseconds, so a window below 1 ms
//! behaves as 1 ms; zero turns pacing off (and the 4 KiB end with it).
//!
//! What happens when the queue is full is the [`SlowPolicy`]: refuse the message (the
//! room then drops the peer as too slow), or discard the oldest queued message and count
//! it; the peer is told the count ([`ServerMsg::Dropped`]: `37 messages dropped: …`)
//! ahead of the next batch it is sent. tokio's mpsc cannot give up its oldest item, so
//! the queue is a `VecDeque` behind a short-held std mutex, with a [`Notify`] to wake
//! the single writer.

use crate::transport::{Close, PeerSink, SendError};
use crate::wire::outgoing::Form;
use crate::wire::{Outgoing, ServerMsg};
use bytes::BytesMut;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::tracker::ConnStats;

/// Stop batching once this many bytes are gathered.
const BATCH_BYTES: usize = 64 * 1024;
/// What an idle text connection closed to make room at the cap is told.
pub const EVICTED: &str = "* disconnected: server full, and this connection was idle\n";

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

/// Default coalescing window (`TcpConfig::coalesce`); see the module's docs. 10 ms rather
/// than 5: with the [`FULL_BATCH`] end, a member receiving many lines a second is written
/// to every ~3 ms whatever the window, so the longer window costs it little, while at
/// 200 members × 16 lines/s (~1.6 KB per 5 ms) it halves the writes again: server CPU per
/// delivery 0.64 µs against 0.89 (5 runs each, 2026-12-02 04:03 UTC, Node 1.53).
pub const DEFAULT_COALESCE: Duration = Duration::from_millis(10);

struct State {
    q: VecDeque<(Arc<Outgoing>, usize)>,
    bytes: usize,
    /// Messages discarded since the peer was last told.
    dropped: u64,
    /// The sink was dropped: deliver what is queued, then close.
    sink_gone: bool,
    /// The writer is gone: further sends fail.
    writer_gone: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Notify,
    /// Ends the coalescing window early: the queue reached `hurry_at`.
    hurry: Notify,
    /// (messages, bytes) queued that end a window early: half the limits, and at most
    /// [`FULL_BATCH`] bytes.
    hurry_at: (usize, usize),
    /// Set with the abort token: the writer checks it without the token's lock.
    aborted: AtomicBool,
    limits: QueueLimits,
    form: Form,
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
        // Only a queue that was empty needs the writer woken: otherwise it was woken by
        // the first message and takes this one with it (one wake-up per batch, not per
        // message). A writer waiting out its coalescing window is woken again when the
        // queue reaches half its limits, so the window never makes a reader too slow.
        // (With a queue of one or two messages, the first one is already half.) A batch
        // of FULL_BATCH bytes ends the window too: the write's fixed cost is spread thin
        // by then, and waiting longer would only add latency.
        let was_empty = st.q.is_empty();
        let soon = self.shared.hurry_at;
        let before = st.q.len() < soon.0 && st.bytes < soon.1;
        st.q.push_back((msg.clone(), len));
        st.bytes += len;
        let now = st.q.len() >= soon.0 || st.bytes >= soon.1;
        drop(st);
        if was_empty {
            self.shared.wake.notify_one();
        }
        if before && now {
            self.shared.hurry.notify_one();
        }
        Ok(())
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
    shared: Arc<Shared>,
    flush: CancellationToken,
    abort: CancellationToken,
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
    fn take(&self, buf: &mut BytesMut) -> bool {
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

/// Write queued messages, at most once per `window` while they keep coming, until the
/// sink is closed or dropped (then flush and shut down the write side) or aborted (then
/// stop at once).
pub async fn run<W: AsyncWrite + Unpin>(
    mut out: W,
    q: Queue,
    stats: Arc<ConnStats>,
    window: Duration,
) -> std::io::Result<()> {
    // Allocated on the first message, not up front: an idle member costs no buffer.
    let mut buf = BytesMut::new();
    // Made once: each stays registered with its token, rather than registering and
    // unregistering on every wake-up and every write. Each poll of one takes its
    // token's lock, so the common case polls none: the write comes first (a write that
    // completes at once returns before the tokens are looked at) and so does the
    // wake-up; an abort is then seen at the top of the loop, from a flag.
    let abort = q.abort.cancelled();
    let evict = stats.evict.cancelled();
    let flush = q.flush.cancelled();
    // One timer, reset for each wait, rather than one made per wait.
    let pause = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(abort, evict, flush, pause);
    let mut last_write: Option<Instant> = None;
    loop {
        if q.shared.aborted.load(Ordering::Acquire) {
            return Ok(());
        }
        let gone = q.take(&mut buf);
        if !buf.is_empty() {
            tokio::select! {
                biased;
                r = write(&mut out, &mut buf, &stats) => r?,
                _ = &mut abort => return Ok(()),
            }
            if !window.is_zero() {
                last_write = Some(Instant::now());
            }
            continue;
        }
        if gone {
            break;
        }
        // `notify_one` keeps a permit when nobody waits, so a push between `take` and
        // here still wakes us.
        tokio::select! {
            biased;
            _ = q.shared.wake.notified() => {}
            _ = &mut abort => return Ok(()),
            _ = &mut evict => {
                if q.shared.form == Form::Line {
                    out.write_all(EVICTED.as_bytes()).await?;
                }
                return Ok(());
            }
            _ = &mut flush => break,
        }
        // Something is queued. Written to a moment ago: let more join the next write.
        if let Some(until) = last_write.map(|at| at + window) {
            if until > Instant::now() {
                pause.as_mut().reset(until);
                tokio::select! {
                    biased;
                    _ = &mut pause => {}
                    _ = q.shared.hurry.notified() => {} // half full: write now
                    _ = &mut abort => return Ok(()),
                }
            }
        }
    }
    // Closed with a flush, or dropped: deliver what is still queued, then close.
    tokio::select! {
        biased;
        _ = &mut abort => Ok(()),
        r = async {
            loop {
                q.take(&mut buf);
                if buf.is_empty() {
                    break;
                }
                write(&mut out, &mut buf, &stats).await?;
            }
            out.shutdown().await
        } => r,
    }
}

async fn write<W: AsyncWrite + Unpin>(
    out: &mut W,
    buf: &mut BytesMut,
    stats: &ConnStats,
) -> std::io::Result<()> {
    out.write_all(buf).await?;
    stats
        .bytes_out
        .fetch_add(buf.len() as u64, Ordering::Relaxed);
    buf.clear();
    Ok(())
}

fn push(buf: &mut BytesMut, msg: &Outgoing, form: Form) {
    if let Some(bytes) = msg.bytes(form) {
        buf.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod batch_tests;

#[cfg(test)]
mod tests {
    use super::*;

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
