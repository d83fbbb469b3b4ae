//! The writer's batching: what the room queued in one round leaves in one write, at the
//! round's flush and not before; a flushed message to an idle writer leaves at once,
//! alone, with no timer; a short write resumes where it stopped; within the (optional)
//! coalescing window, what is queued waits for the window's end and leaves in one write,
//! unless the queue reaches half its limit; after a quiet window a message leaves at
//! once. No wall-clock timing is asserted: the writes are counted, and waits are checked
//! on tokio's paused clock.

use super::*;
use crate::transport::{Close, PeerSink};
use crate::wire::{Outgoing, ServerMsg};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Notify;

/// Records each write call (what it wrote); takes at most `max` bytes per call.
#[derive(Clone)]
struct Recorder {
    calls: Arc<Mutex<Vec<Vec<u8>>>>,
    wrote: Arc<Notify>,
    max: usize,
}

impl Recorder {
    fn new(max: usize) -> Self {
        Recorder {
            calls: Arc::default(),
            wrote: Arc::new(Notify::new()),
            max,
        }
    }

    fn calls(&self) -> Vec<String> {
        let calls = self.calls.lock().expect("calls");
        calls
            .iter()
            .map(|c| String::from_utf8(c.clone()).expect("text"))
            .collect()
    }

    fn record(&self, bufs: &[IoSlice<'_>]) -> usize {
        let mut call = Vec::new();
        for b in bufs {
            let room = self.max - call.len();
            call.extend_from_slice(&b[..b.len().min(room)]);
        }
        let n = call.len();
        self.calls.lock().expect("calls").push(call);
        self.wrote.notify_one();
        n
    }
}

impl AsyncWrite for Recorder {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.record(&[IoSlice::new(buf)])))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.record(bufs)))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn line(text: &str) -> Arc<Outgoing> {
    Arc::new(Outgoing::new(ServerMsg::Error(text.into())))
}

fn limits() -> QueueLimits {
    QueueLimits {
        messages: 1024,
        bytes: 1 << 20,
        policy: SlowPolicy::Disconnect,
    }
}

#[tokio::test]
async fn what_a_batch_queued_leaves_in_one_write() {
    let (sink, q) = queue(limits(), Form::Line);
    for i in 0..10 {
        assert_eq!(sink.send(&line(&format!("m{i}"))), Ok(()));
    }
    drop(sink);
    let out = Recorder::new(usize::MAX);
    run(
        out.clone(),
        q,
        Arc::new(ConnStats::default()),
        Duration::ZERO,
    )
    .await
    .expect("write");
    let expected: String = (0..10).map(|i| format!("! m{i}\n")).collect();
    assert_eq!(out.calls(), [expected]);
}

#[tokio::test(start_paused = true)]
async fn a_round_leaves_in_one_write_at_its_flush_and_not_before() {
    let (sink, q) = queue(limits(), Form::Line);
    let out = Recorder::new(usize::MAX);
    let writer = tokio::spawn(run(
        out.clone(),
        q,
        Arc::new(ConnStats::default()),
        Duration::ZERO,
    ));
    tokio::task::yield_now().await; // the writer is now waiting for work
    let start = Instant::now();
    for (i, texts) in [&["a", "b", "c"][..], &["d"][..]].into_iter().enumerate() {
        for text in texts {
            assert_eq!(sink.send(&line(text)), Ok(()));
            // The writer may run here, as it would between two of the room's batches:
            // without the round's flush it writes nothing.
            tokio::task::yield_now().await;
            assert_eq!(out.calls().len(), i, "written before the round's flush");
        }
        let wrote = out.wrote.notified();
        sink.flush();
        wrote.await;
        assert_eq!(out.calls().len(), i + 1);
    }
    assert_eq!(out.calls(), ["! a\n! b\n! c\n", "! d\n"]);
    assert_eq!(
        Instant::now(),
        start,
        "the clock moved: a timer was waited for"
    );
    drop(sink);
    writer.await.expect("writer task").expect("write");
}

#[tokio::test]
async fn a_short_write_resumes_where_it_stopped() {
    let (sink, q) = queue(limits(), Form::Line);
    for text in ["alpha", "beta", "gamma"] {
        assert_eq!(sink.send(&line(text)), Ok(()));
    }
    drop(sink);
    let out = Recorder::new(4);
    let stats = Arc::new(ConnStats::default());
    run(out.clone(), q, stats.clone(), Duration::ZERO)
        .await
        .expect("write");
    let calls = out.calls();
    assert!(calls.iter().all(|c| c.len() <= 4), "{calls:?}");
    assert_eq!(calls.concat(), "! alpha\n! beta\n! gamma\n");
    assert_eq!(stats.bytes_out.load(Ordering::Relaxed), 23);
}

const WINDOW: Duration = Duration::from_millis(5);

type Writer = tokio::task::JoinHandle<io::Result<()>>;

/// A writer with the [`WINDOW`], its queue bounded by `limits`.
fn windowed(limits: QueueLimits) -> (TcpSink, Recorder, Writer) {
    let (sink, q) = queue(limits, Form::Line);
    let out = Recorder::new(usize::MAX);
    let writer = tokio::spawn(run(out.clone(), q, Arc::new(ConnStats::default()), WINDOW));
    (sink, out, writer)
}

/// A writer with the [`WINDOW`] on a paused clock that has written "first".
async fn after_one_write(limits: QueueLimits) -> (TcpSink, Recorder, Writer) {
    let (sink, out, writer) = windowed(limits);
    let wrote = out.wrote.notified();
    assert_eq!(sink.send(&line("first")), Ok(()));
    sink.flush();
    wrote.await;
    (sink, out, writer)
}

#[tokio::test(start_paused = true)]
async fn within_the_window_what_is_queued_waits_for_its_end_and_leaves_in_one_write() {
    let (sink, out, writer) = after_one_write(limits()).await;
    let first = Instant::now();
    let wrote = out.wrote.notified();
    for text in ["second", "third"] {
        assert_eq!(sink.send(&line(text)), Ok(()));
        sink.flush(); // a round each
        tokio::task::yield_now().await; // the writer runs between the two
    }
    wrote.await;
    assert!(
        Instant::now() >= first + WINDOW,
        "written before the window ended"
    );
    assert_eq!(out.calls(), ["! first\n", "! second\n! third\n"]);
    drop(sink);
    writer.await.expect("writer task").expect("write");
}

#[tokio::test(start_paused = true)]
async fn after_a_quiet_window_a_message_leaves_at_once() {
    let (sink, out, writer) = after_one_write(limits()).await;
    tokio::time::advance(WINDOW).await;
    let sent = Instant::now();
    let wrote = out.wrote.notified();
    assert_eq!(sink.send(&line("later")), Ok(()));
    sink.flush();
    wrote.await;
    assert_eq!(Instant::now(), sent, "the clock moved: it waited");
    assert_eq!(out.calls(), ["! first\n", "! later\n"]);
    drop(sink);
    writer.await.expect("writer task").expect("write");
}

#[tokio::test(start_paused = true)]
async fn an_abort_inside_the_window_stops_the_writer_without_writing() {
    let (sink, out, writer) = after_one_write(limits()).await;
    assert_eq!(sink.send(&line("never")), Ok(()));
    sink.flush();
    tokio::task::yield_now().await; // the writer is now inside its window
    sink.close(Close::Abort);
    writer.await.expect("writer task").expect("aborted quietly");
    assert_eq!(out.calls(), ["! first\n"]);
}

#[tokio::test(start_paused = true)]
async fn a_queue_half_full_ends_the_window_early() {
    let (sink, out, writer) = after_one_write(QueueLimits {
        messages: 4,
        ..limits()
    })
    .await;
    let sent = Instant::now();
    let wrote = out.wrote.notified();
    assert_eq!(sink.send(&line("a")), Ok(()));
    sink.flush();
    tokio::task::yield_now().await; // the writer is now inside its window
    assert_eq!(sink.send(&line("b")), Ok(())); // 2 of 4: half full, before any flush
    wrote.await;
    assert_eq!(Instant::now(), sent, "waited for the window");
    assert_eq!(out.calls(), ["! first\n", "! a\n! b\n"]);
    drop(sink);
    writer.await.expect("writer task").expect("write");
}

#[tokio::test(start_paused = true)]
async fn a_full_batch_of_bytes_ends_the_window_early() {
    let (sink, out, writer) = after_one_write(limits()).await;
    let sent = Instant::now();
    let wrote = out.wrote.notified();
    let long = "x".repeat(100);
    let mut queued = 0;
    while queued < super::FULL_BATCH {
        tokio::task::yield_now().await; // the writer is inside its window
        assert_eq!(
            out.calls().len(),
            1,
            "wrote at {queued} bytes, before a full batch"
        );
        assert_eq!(sink.send(&line(&long)), Ok(()));
        sink.flush();
        queued += format!("! {long}\n").len();
    }
    wrote.await;
    assert_eq!(Instant::now(), sent, "waited for the window");
    let calls = out.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].len(), queued, "the whole batch in one write");
    drop(sink);
    writer.await.expect("writer task").expect("write");
}

#[tokio::test(start_paused = true)]
async fn a_queue_of_two_is_never_held_back_so_a_reader_is_never_too_slow_for_it() {
    let (sink, out, writer) = windowed(QueueLimits {
        messages: 2,
        ..limits()
    });
    let start = Instant::now();
    for text in ["a", "b", "c", "d"] {
        let wrote = out.wrote.notified();
        assert_eq!(sink.send(&line(text)), Ok(()), "{text} refused");
        wrote.await;
    }
    assert_eq!(Instant::now(), start, "waited for a window");
    assert_eq!(out.calls(), ["! a\n", "! b\n", "! c\n", "! d\n"]);
    drop(sink);
    writer.await.expect("writer task").expect("write");
}
