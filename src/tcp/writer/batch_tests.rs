//! The writer's batching: what the room queued before the writer ran leaves in one
//! write; a message queued to an idle writer leaves at once, alone; a short write
//! resumes where it stopped. No timing is asserted: the writes are counted.

use super::*;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

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
    run(out.clone(), q, Arc::new(ConnStats::default()))
        .await
        .expect("write");
    let expected: String = (0..10).map(|i| format!("! m{i}\n")).collect();
    assert_eq!(out.calls(), [expected]);
}

#[tokio::test]
async fn a_message_to_an_idle_writer_leaves_at_once_alone() {
    let (sink, q) = queue(limits(), Form::Line);
    let out = Recorder::new(usize::MAX);
    let writer = tokio::spawn(run(out.clone(), q, Arc::new(ConnStats::default())));
    let wait = Duration::from_secs(10);
    for (i, text) in ["first", "second"].into_iter().enumerate() {
        let wrote = out.wrote.notified();
        assert_eq!(sink.send(&line(text)), Ok(()));
        // The sink stays open: nothing but the message itself makes the writer write.
        tokio::time::timeout(wait, wrote).await.expect("written");
        assert_eq!(out.calls().len(), i + 1);
    }
    assert_eq!(out.calls(), ["! first\n", "! second\n"]);
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
    run(out.clone(), q, stats.clone()).await.expect("write");
    let calls = out.calls();
    assert!(calls.iter().all(|c| c.len() <= 4), "{calls:?}");
    assert_eq!(calls.concat(), "! alpha\n! beta\n! gamma\n");
    assert_eq!(stats.bytes_out.load(Ordering::Relaxed), 23);
}
