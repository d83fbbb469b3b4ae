//! The slowloris guard: a framed reader that gives up on a peer holding an incomplete
//! line or frame for too long.
//!
//! A timer starts when bytes arrive that do not complete an item, and stops when an item
//! completes with nothing left over; bytes trickling in do not restart it. So a peer that
//! only listens (nothing buffered) is never timed out, while one that sends `GET / HTTP`
//! and then a byte a minute is. The first item, once begun, gets the (shorter) handshake
//! time instead; a peer that listened for an hour before typing is not penalised.
//! Arrival is read from the connection's byte counter, not from the read buffer,
//! because codecs consume partial input (a frame header, an over-long line being
//! discarded) before the item is complete.

use super::tracker::ConnStats;
use futures_util::StreamExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::AsyncRead;
use tokio::time::{sleep_until, Instant, Sleep};
use tokio_util::codec::{Decoder, FramedRead};

/// What [`Guarded::next`] yields: a decoded item (or the codec's error), or a time-out.
pub(super) type Guard<D> = Result<Result<<D as Decoder>::Item, <D as Decoder>::Error>, TimedOut>;

/// The peer held an incomplete item past its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TimedOut;

/// `frames`, with a deadline on incomplete input.
pub(super) struct Guarded<R, D> {
    frames: FramedRead<R, D>,
    stats: Arc<ConnStats>,
    limit: Duration,
    /// Until the first item: how long it may take once begun.
    handshake: Option<Duration>,
    timer: Option<Pin<Box<Sleep>>>,
    /// `bytes_in` when last looked at.
    seen: u64,
}

impl<R: AsyncRead + Unpin, D: Decoder> Guarded<R, D> {
    /// Guard `frames` (whose read buffer may already hold bytes), counting arrivals in
    /// `stats`; an incomplete item may wait `limit`, the first one at most `handshake`.
    pub(super) fn new(
        frames: FramedRead<R, D>,
        stats: Arc<ConnStats>,
        limit: Duration,
        handshake: Duration,
    ) -> Self {
        let seen = stats.bytes_in.load(Ordering::Relaxed);
        let mut g = Guarded {
            frames,
            stats,
            limit,
            handshake: Some(handshake),
            timer: None,
            seen,
        };
        if !g.frames.read_buffer().is_empty() {
            g.arm();
        }
        g
    }

    /// The reader underneath.
    pub(super) fn get_ref(&self) -> &R {
        self.frames.get_ref()
    }

    /// The read buffer underneath (to size it).
    pub(super) fn read_buffer_mut(&mut self) -> &mut bytes::BytesMut {
        self.frames.read_buffer_mut()
    }

    /// Whether an incomplete item is being waited for.
    pub(super) fn holding_partial(&self) -> bool {
        self.timer.is_some()
    }

    /// The next item; `Some(Err(TimedOut))` once an incomplete one has waited too long.
    pub(super) async fn next(&mut self) -> Option<Guard<D>> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    fn arm(&mut self) {
        let limit = self.handshake.map_or(self.limit, |h| h.min(self.limit));
        self.timer = Some(Box::pin(sleep_until(Instant::now() + limit)));
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Guard<D>>> {
        match self.frames.poll_next_unpin(cx) {
            Poll::Ready(item) => {
                self.handshake = None;
                self.seen = self.stats.bytes_in.load(Ordering::Relaxed);
                if self.frames.read_buffer().is_empty() {
                    self.timer = None;
                } else {
                    self.arm();
                }
                Poll::Ready(item.map(Ok))
            }
            Poll::Pending => {
                let now_in = self.stats.bytes_in.load(Ordering::Relaxed);
                if now_in != self.seen {
                    self.seen = now_in;
                    if self.timer.is_none() {
                        self.arm();
                    }
                }
                if let Some(t) = &mut self.timer {
                    if t.as_mut().poll(cx).is_ready() {
                        self.timer = None;
                        return Poll::Ready(Some(Err(TimedOut)));
                    }
                }
                Poll::Pending
            }
        }
    }
}
