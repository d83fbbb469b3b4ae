//! The writer half of a TCP peer: a task that drains the peer's [`queue`] and sends
//! whatever is queued in one write. The room wakes it once per round of work (see
//! [`crate::chat::room::round`]): when the room is busy, everything it queued for the
//! peer in one round leaves in one system call; when it is idle, a round is one event and
//! its message leaves at once. The messages are copied into one buffer rather than
//! handed to `writev` as they are: for chat-sized messages the kernel's walk over many
//! small iovecs cost more than the copy (measured: 0.34 against 0.21 µs of server CPU
//! per delivery at 50 × 260 msg/s). The buffer is allocated on first use, so an idle
//! member holds none.
//!
//! An option, off by default: a *coalescing window* (`window`, `--coalesce`). A write that
//! would follow the previous one within the window waits for the rest of it, and whatever
//! is queued meanwhile leaves in the same write; a member not written to for a window is
//! written to at once. A window trades latency for fewer writes where rounds alone stay
//! small (many members, each line its own round); docs/fanout.md has the curve. A window
//! also ends as soon as [`FULL_BATCH`] bytes (4 KiB, some 40 chat lines) or half the
//! queue's limits are queued. tokio's timers tick in milliseconds, so a window below 1 ms
//! behaves as 1 ms.

mod queue;

pub use queue::{queue, Queue, QueueLimits, SlowPolicy, TcpSink, FULL_BATCH};

use crate::wire::outgoing::Form;
use crate::wire::text::EVICTED;
use bytes::BytesMut;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::tracker::ConnStats;

/// Default coalescing window (`TcpConfig::coalesce`): none. The room's rounds batch by
/// themselves (see the module's docs).
pub const DEFAULT_COALESCE: Duration = Duration::ZERO;

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
    out.flush().await?; // TLS holds records back until flushed; plain TCP: a no-op
    stats
        .bytes_out
        .fetch_add(buf.len() as u64, Ordering::Relaxed);
    buf.clear();
    Ok(())
}

#[cfg(test)]
mod batch_tests;
