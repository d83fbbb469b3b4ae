//! The writer half of a TCP peer: a bounded queue (the room's [`PeerSink`]) drained by a
//! task that batches whatever is queued into one write.

use crate::transport::{Close, PeerSink, SendError};
use crate::wire::outgoing::Form;
use crate::wire::Outgoing;
use bytes::BytesMut;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::tracker::ConnStats;

/// Stop batching once this many bytes are gathered.
const BATCH_BYTES: usize = 64 * 1024;

/// The room's handle: `send` is a non-blocking push onto the bounded queue.
pub struct TcpSink {
    tx: mpsc::Sender<Arc<Outgoing>>,
    flush: CancellationToken,
    abort: CancellationToken,
}

impl PeerSink for TcpSink {
    fn send(&self, msg: &Arc<Outgoing>) -> Result<(), SendError> {
        self.tx.try_send(msg.clone()).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SendError::Full,
            mpsc::error::TrySendError::Closed(_) => SendError::Closed,
        })
    }

    fn close(&self, how: Close) {
        match how {
            Close::Flush => self.flush.cancel(),
            Close::Abort => self.abort.cancel(),
        }
    }
}

/// The queue's receiving end, for [`run`].
pub struct Queue {
    rx: mpsc::Receiver<Arc<Outgoing>>,
    flush: CancellationToken,
    abort: CancellationToken,
}

/// A sink and its queue, `depth` messages deep.
pub fn queue(depth: usize) -> (TcpSink, Queue) {
    let (tx, rx) = mpsc::channel(depth.max(1));
    let flush = CancellationToken::new();
    let abort = CancellationToken::new();
    (
        TcpSink {
            tx,
            flush: flush.clone(),
            abort: abort.clone(),
        },
        Queue { rx, flush, abort },
    )
}

/// Write queued messages in `form` until the sink is closed or dropped (then flush and
/// shut down the write side) or aborted (then stop at once).
pub async fn run<W: AsyncWrite + Unpin>(
    mut out: W,
    mut q: Queue,
    form: Form,
    stats: Arc<ConnStats>,
) -> std::io::Result<()> {
    let mut buf = BytesMut::with_capacity(BATCH_BYTES);
    loop {
        let first = tokio::select! {
            biased;
            _ = q.abort.cancelled() => return Ok(()),
            m = q.rx.recv() => m,
            _ = q.flush.cancelled() => None,
        };
        let Some(first) = first else { break };
        push(&mut buf, &first, form);
        while buf.len() < BATCH_BYTES {
            match q.rx.try_recv() {
                Ok(m) => push(&mut buf, &m, form),
                Err(_) => break,
            }
        }
        tokio::select! {
            biased;
            _ = q.abort.cancelled() => return Ok(()),
            r = out.write_all(&buf) => r?,
        }
        stats
            .bytes_out
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        buf.clear();
    }
    // Closed with a flush, or dropped: deliver what is still queued, then close.
    while let Ok(m) = q.rx.try_recv() {
        push(&mut buf, &m, form);
    }
    tokio::select! {
        biased;
        _ = q.abort.cancelled() => return Ok(()),
        r = async {
            out.write_all(&buf).await?;
            out.shutdown().await
        } => r?,
    }
    stats
        .bytes_out
        .fetch_add(buf.len() as u64, Ordering::Relaxed);
    Ok(())
}

fn push(buf: &mut BytesMut, msg: &Outgoing, form: Form) {
    if let Some(bytes) = msg.bytes(form) {
        buf.extend_from_slice(bytes);
    }
}
